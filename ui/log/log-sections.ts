// GitLab's collapsible sections, read from the log's own lines as they arrive:
//
//   \e[0Ksection_start:<unix s>:<name>[collapsed=true]\r\e[0K<title>
//   \e[0Ksection_end:<unix s>:<name>\r\e[0K
//
// The agent prints them around its steps (get_sources, prepare_script, step_script, ...) and a
// script may print its own, nested. Read here rather than from GET /jobs/:id/log/sections: the
// viewer already holds every byte, a live log needs no second request kept up to date, and a
// section is wanted in lines (what folds), which only the viewer's own line split gives.
//
// Lines are the log's `\n` lines, the same ones line numbers and #L links count, so folding never
// renumbers anything. A section runs from the line holding its start marker (its header) to the
// line holding its end marker; when something visible follows the end marker on that line (the
// agent prints its next line right after an end), that line belongs to what follows instead. A
// line holding only an end marker is the section's last line and is never drawn (GitLab does not
// show it either): it would be an empty line at the end of every section a script prints.

/** Same as the server's scanner (src/server/logs/sections.ts). */
const MARKER = /\x1b\[0Ksection_(start|end):(\d{1,12}):([A-Za-z0-9_.-]{1,200})(\[[^\]\r\n]{0,200}\])?\r\x1b\[0K/g;
const ESCAPE = /\x1b\[[0-9;:?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
/** A marker cut off at the end of a line still arriving. */
const PARTIAL_MARKER = /\x1b(?:\[(?:0(?:K(?:s(?:e(?:c(?:t(?:i(?:o(?:n(?:_[^\r\n]*)?)?)?)?)?)?)?)?)?)?)?$/;

export interface LogSection {
  name: string;
  /** The bracketed options after the name (`collapsed=true`), or null. */
  options: string | null;
  /** Folded until someone opens it (`collapsed=true`). */
  collapsedByDefault: boolean;
  /** Sections around this one. */
  depth: number;
  parent: LogSection | null;
  startLine: number;
  /** The last line inside it; null while it is open. */
  endLine: number | null;
  /** endLine holds nothing but the end marker (and is not drawn). */
  endLineBlank: boolean;
  /** The markers' own times (whole seconds, as ms): GitLab's figures. */
  startedAt: number;
  finishedAt: number | null;
}

/** The line as it is drawn: markers out (escapes and all), so that their `\r` is no carriage return. */
export function withoutMarkers(line: string): string {
  return line.indexOf('section_') < 0 ? line : line.replace(MARKER, '');
}

/** The same for the log's last line while more may come: a marker cut off at its end is left out. */
export function withoutPartialMarker(line: string): string {
  const i = line.lastIndexOf('\x1b');
  return i < 0 || line.length - i > 450 ? line : line.slice(0, i) + line.slice(i).replace(PARTIAL_MARKER, '');
}

function hasVisibleText(text: string): boolean {
  return /\S/.test(withoutMarkers(text).replace(ESCAPE, '').replace(/\r/g, ''));
}

export class LogSections {
  /** In start order. */
  readonly all: LogSection[] = [];
  /** Line -> the outermost section whose header it is. */
  private readonly headers = new Map<number, LogSection>();
  private readonly open: LogSection[] = [];

  /** Reads line `i`, once it is complete (or is the last line of a finished log). */
  scan(i: number, line: string): void {
    if (line.indexOf('section_') < 0) return;
    MARKER.lastIndex = 0;
    for (let m = MARKER.exec(line); m; m = MARKER.exec(line)) {
      const at = Number(m[2]) * 1000;
      const name = m[3]!;
      if (m[1] === 'start') this.start(i, name, m[4] ? m[4].slice(1, -1) : null, at);
      else this.end(i, name, at, line.slice(0, m.index), line.slice(MARKER.lastIndex));
    }
  }

  private start(line: number, name: string, options: string | null, at: number): void {
    const s: LogSection = {
      name,
      options,
      collapsedByDefault: options !== null && /(^|,)\s*collapsed\s*=\s*true\s*(,|$)/.test(options),
      depth: this.open.length,
      parent: this.open[this.open.length - 1] ?? null,
      startLine: line,
      endLine: null,
      endLineBlank: false,
      startedAt: at,
      finishedAt: null,
    };
    this.all.push(s);
    this.open.push(s);
    if (!this.headers.has(line)) this.headers.set(line, s);
  }

  private end(line: number, name: string, at: number, before: string, after: string): void {
    // As GitLab: the innermost open section of that name ends, with whatever opened inside it;
    // an end without a start is ignored.
    let k = this.open.length - 1;
    while (k >= 0 && this.open[k]!.name !== name) k--;
    if (k < 0) return;
    const next = /section_start:/.test(after) || hasVisibleText(after);
    const blank = !next && !hasVisibleText(before);
    for (const s of this.open.splice(k)) {
      s.endLine = Math.max(s.startLine, next ? line - 1 : line);
      s.endLineBlank = blank && s.endLine === line && s.endLine > s.startLine;
      s.finishedAt = at;
    }
  }

  /** The outermost section whose header is line `i`. */
  headerAt(i: number): LogSection | undefined {
    return this.headers.get(i);
  }

  get openCount(): number {
    return this.open.length;
  }

  /** The sections around line `i`, outermost first (the ones to unfold to show it). */
  around(i: number): LogSection[] {
    const out: LogSection[] = [];
    for (const s of this.all) {
      if (s.startLine >= i) break;
      if (s.endLine === null || s.endLine >= i) out.push(s);
    }
    return out;
  }
}

/** The last line inside `s`, an open one running to the end of the log so far. */
export function lastLineOf(s: LogSection, lineCount: number): number {
  return s.endLine ?? Math.max(s.startLine, lineCount - 1);
}

/** Lines inside `s` below its header that are drawn when it is open. */
export function bodyLines(s: LogSection, lineCount: number): number {
  return lastLineOf(s, lineCount) - s.startLine - (s.endLineBlank ? 1 : 0);
}
