// A job's log as lines, grown chunk by chunk as bytes arrive. Bytes are decoded as UTF-8 in
// stream mode (a character split across two chunks decodes whole); lines are kept as strings
// (a million lines is tens of MB, and only the visible ones are ever rendered); per line the
// arrival time of its first byte (the timestamps column) and, when it starts coloured, the ANSI
// state carried over from the line before; and the log's sections (log-sections.ts), read from
// each line once it is complete.

import { endState, plainText, type Sgr } from './ansi.js';
import { LogSections, withoutMarkers, withoutPartialMarker } from './log-sections.js';

export class LogBuffer {
  /** Every line; the last one is still open (bytes after the last newline). */
  private readonly lines: string[] = [''];
  private readonly arrivedAt: number[] = [];
  /** Line index -> the SGR state it starts in; absent: plain. */
  private readonly startStates = new Map<number, Sgr>();
  private readonly decoder = new TextDecoder('utf-8');
  private lastStart: Sgr | null = null;
  readonly sections = new LogSections();
  /** The log has ended: its last line, even without a newline, is complete. */
  private ended = false;
  /** Bytes taken in so far: the offset to resume from. */
  bytes = 0;
  /** Bumped on every change, so views know to redraw. */
  version = 0;

  append(chunk: Uint8Array, at: number): void {
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    this.version++;
    const text = this.decoder.decode(chunk, { stream: true });
    const parts = text.split('\n');
    const lastIndex = this.lines.length - 1;
    this.lines[lastIndex] += parts[0]!;
    // A line's time is when its first byte came (or its newline, for an empty line). Lines get
    // their times in order, so the array stays dense.
    if (parts[0] !== '' || parts.length > 1) this.stamp(lastIndex, at);
    for (let i = 1; i < parts.length; i++) {
      // The open line is complete: its end state is the next line's start state.
      const closed = this.lines.length - 1;
      const line = this.lines[closed]!;
      if (line.indexOf('\x1b') >= 0) {
        this.lastStart = endState(withoutMarkers(line), this.lastStart);
        this.sections.scan(closed, line);
      }
      this.lines.push(parts[i]!);
      if (parts[i] !== '' || i < parts.length - 1) this.stamp(this.lines.length - 1, at);
      if (this.lastStart) this.startStates.set(this.lines.length - 1, this.lastStart);
    }
  }

  /** No more bytes will come. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.version++;
    const last = this.lines.length - 1;
    if (this.lines[last] !== '') this.sections.scan(last, this.lines[last]!);
  }

  private stamp(i: number, at: number): void {
    if (this.arrivedAt.length === i) this.arrivedAt.push(at);
  }

  /** Lines to show: a final empty open line (the log ended with a newline) is not one. */
  get lineCount(): number {
    const n = this.lines.length;
    return this.lines[n - 1] === '' ? n - 1 : n;
  }

  line(i: number): string {
    return this.lines[i] ?? '';
  }

  /** Line `i` as it is drawn: without section markers (nor the start of one still arriving). */
  shown(i: number): string {
    const line = withoutMarkers(this.lines[i] ?? '');
    return !this.ended && i === this.lines.length - 1 ? withoutPartialMarker(line) : line;
  }

  startState(i: number): Sgr | null {
    return this.startStates.get(i) ?? null;
  }

  arrival(i: number): number | null {
    return this.arrivedAt[i] ?? null;
  }

  /** Indexes of the lines whose visible text contains `query` (case-insensitive). */
  search(query: string): number[] {
    const q = query.toLowerCase();
    const hits: number[] = [];
    if (!q) return hits;
    const n = this.lineCount;
    for (let i = 0; i < n; i++) if (plainText(withoutMarkers(this.lines[i]!)).toLowerCase().includes(q)) hits.push(i);
    return hits;
  }
}
