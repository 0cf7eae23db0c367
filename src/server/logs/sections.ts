// GitLab's collapsible sections in a log stream (docs/API.md, "Sections"):
//
//   \e[0Ksection_start:<unix seconds>:<name>[<options>]\r\e[0K<title>
//   \e[0Ksection_end:<unix seconds>:<name>\r\e[0K
//
// The agent writes them around its own steps (prepare_script, step_script, after_script, caches,
// artifacts); a job's script may print its own, nested. The scanner runs over the stream piece by
// piece and keeps a short carry, so a marker cut between two uploads is still found once.

import type { LogPiece } from '../../logstore/log-object.js';
import { pieceBytes } from './attempt-logs.js';

export interface LogSection {
  name: string;
  /** The options in brackets after the name (e.g. `collapsed=true`), or null. */
  options: string | null;
  /** How many sections enclose this one. */
  depth: number;
  /** Offset of the start marker's first byte; of the first byte after the end marker (null while open). */
  startOffset: number;
  endOffset: number | null;
  /** The markers' own times (whole seconds, as ms since epoch). */
  startedAt: number;
  finishedAt: number | null;
  /** When the pieces holding the markers reached the server (ms): finer than the markers' seconds. */
  startArrivedAt: number;
  endArrivedAt: number | null;
  /** finishedAt − startedAt from the markers (GitLab's figure), null while open. */
  durationMs: number | null;
}

// latin1 maps each byte to one char, so string indexes are byte offsets.
const MARKER = /\x1b\[0Ksection_(start|end):(\d{1,12}):([A-Za-z0-9_.-]{1,200})(\[[^\]\r\n]{0,200}\])?\r\x1b\[0K/g;
/** Longer than any marker, so a marker cut between pieces is whole in carry + next piece. */
const CARRY = 512;

export class SectionScanner {
  readonly sections: LogSection[] = [];
  private readonly open: LogSection[] = [];
  private carry = '';
  private carryOffset = 0;
  /** Matches ending at or before this offset were taken already. */
  private doneUntil = 0;
  /** Where the pieces that overlap the carry begin, and when they arrived. */
  private arrivals: { offset: number; at: number }[] = [];

  push(p: LogPiece): void {
    const bytes = pieceBytes(p, p.offset);
    if (p.data === null) {
      // A hole: markers inside it are gone; start afresh after it.
      this.carry = '';
      this.carryOffset = p.end;
      return;
    }
    const text = this.carry + bytes.toString('latin1');
    const base = this.carryOffset;
    this.arrivals.push({ offset: p.offset, at: p.at });
    MARKER.lastIndex = 0;
    for (let m = MARKER.exec(text); m; m = MARKER.exec(text)) {
      const start = base + m.index;
      const end = start + m[0].length;
      if (start < this.doneUntil) continue;
      this.doneUntil = end;
      this.marker(m[1] as 'start' | 'end', Number(m[2]) * 1000, m[3]!, m[4] ? m[4].slice(1, -1) : null, start, end, this.arrivalOf(start));
    }
    const keep = Math.min(CARRY, text.length);
    this.carry = text.slice(text.length - keep);
    this.carryOffset = base + text.length - keep;
    // Keep the arrival of the piece holding the carry's first byte, and later ones.
    while (this.arrivals.length > 1 && this.arrivals[1]!.offset <= this.carryOffset) this.arrivals.shift();
  }

  /** When the byte at `offset` arrived: the time of the piece it is in. */
  private arrivalOf(offset: number): number {
    let at = this.arrivals[0]?.at ?? 0;
    for (const a of this.arrivals) {
      if (a.offset > offset) break;
      at = a.at;
    }
    return at;
  }

  private marker(kind: 'start' | 'end', time: number, name: string, options: string | null, start: number, end: number, at: number): void {
    if (kind === 'start') {
      const s: LogSection = {
        name,
        options,
        depth: this.open.length,
        startOffset: start,
        endOffset: null,
        startedAt: time,
        finishedAt: null,
        startArrivedAt: at,
        endArrivedAt: null,
        durationMs: null,
      };
      this.sections.push(s);
      this.open.push(s);
      return;
    }
    // GitLab closes the innermost open section of that name; an end with no start is ignored.
    const i = this.open.map((s) => s.name).lastIndexOf(name);
    if (i < 0) return;
    // Sections opened inside it and never closed end with it.
    for (const s of this.open.splice(i)) {
      s.endOffset = end;
      s.finishedAt = time;
      s.endArrivedAt = at;
      s.durationMs = Math.max(0, time - s.startedAt);
    }
  }
}
