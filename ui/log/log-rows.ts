// Rows are the lines drawn: the log's lines minus those folded away (and the blank lines that
// hold only a section's end marker). The view scrolls in rows and labels them with line numbers,
// so a fold changes what is drawn, never a line's number. Hidden lines are kept as a few sorted
// ranges, so mapping a row to its line is a binary search whatever the log's size: a million
// lines with nothing folded cost nothing, and folding a million-line section costs one range.

import { lastLineOf, type LogSection } from './log-sections.js';

export class RowMap {
  /** Hidden ranges [from, to) of lines, sorted, disjoint, not touching. */
  private readonly from: number[] = [];
  private readonly to: number[] = [];
  /** Lines hidden before range k (k = 0..ranges). */
  private readonly hiddenBefore: number[] = [0];
  readonly rowCount: number;

  constructor(
    readonly lineCount: number,
    hidden: [number, number][],
  ) {
    hidden.sort((a, b) => a[0] - b[0]);
    for (const [a, b0] of hidden) {
      const b = Math.min(b0, lineCount);
      if (b <= a) continue;
      const k = this.from.length - 1;
      if (k >= 0 && a <= this.to[k]!) {
        if (b > this.to[k]!) this.to[k] = b;
      } else {
        this.from.push(a);
        this.to.push(b);
      }
    }
    for (let k = 0; k < this.from.length; k++) this.hiddenBefore.push(this.hiddenBefore[k]! + this.to[k]! - this.from[k]!);
    this.rowCount = lineCount - this.hiddenBefore[this.from.length]!;
  }

  /** Ranges whose first line is at or before `line`. */
  private rangesFrom(line: number): number {
    let lo = 0;
    let hi = this.from.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.from[mid]! <= line) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The line drawn in `row`. */
  lineOf(row: number): number {
    // Range k sits at row from[k] - hiddenBefore[k]; those at or before `row` push it down.
    let lo = 0;
    let hi = this.from.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.from[mid]! - this.hiddenBefore[mid]! <= row) lo = mid + 1;
      else hi = mid;
    }
    return row + this.hiddenBefore[lo]!;
  }

  isHidden(line: number): boolean {
    const k = this.rangesFrom(line) - 1;
    return k >= 0 && line < this.to[k]!;
  }

  /** The row of `line`; a hidden line gives the row of the last drawn line before it. */
  rowOf(line: number): number {
    const k = this.rangesFrom(line);
    if (k > 0 && line < this.to[k - 1]!) return Math.max(0, this.from[k - 1]! - this.hiddenBefore[k - 1]! - 1);
    return line - this.hiddenBefore[k]!;
  }

  /** The next drawn line after `line` (lineCount when none). */
  nextShown(line: number): number {
    const next = line + 1;
    const k = this.rangesFrom(next) - 1;
    return k >= 0 && next < this.to[k]! ? this.to[k]! : next;
  }
}

/** What is hidden: the bodies of folded sections, and end-marker-only lines. */
export function rowsOf(sections: readonly LogSection[], lineCount: number, isFolded: (s: LogSection) => boolean): RowMap {
  const hidden: [number, number][] = [];
  for (const s of sections) {
    const last = lastLineOf(s, lineCount);
    if (isFolded(s)) hidden.push([s.startLine + 1, last + 1]);
    else if (s.endLineBlank) hidden.push([last, last + 1]);
  }
  return new RowMap(lineCount, hidden);
}
