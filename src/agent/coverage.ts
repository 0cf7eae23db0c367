// `coverage: '/regex/'` (docs/PIPELINE.md, "Coverage"): the percentage a job's log reports, read
// as the log streams out of the agent, the way GitLab reads it from the finished trace
// (gitlabhq lib/gitlab/ci/trace/stream.rb, `extract_coverage`): per line, the last line whose
// match holds a number wins; of that line's matches the last, of its groups the last; the first
// number in that text is the coverage. GitLab walks the trace backwards and stops at the first
// such line; walking forwards and keeping the latest gives the same answer without keeping the log.

import { compileRegex } from '../pipeline/expression-eval.js';
import type { CoverageRegex } from '../pipeline/types.js';

/**
 * Only the first 4 KiB of a line is matched: a job that prints a megabyte without a newline costs
 * the agent 4 KiB of memory and one bounded match, not a quadratic scan. A coverage summary line
 * is a few dozen bytes.
 */
export const COVERAGE_LINE_BYTES = 4096;

const NUMBER = /\d+(\.\d+)?/;

/** The coverage one line gives, or null when it does not match or its match holds no number in 0..100. */
export function coverageOfLine(re: RegExp, line: string): number | null {
  let last: RegExpMatchArray | undefined;
  for (const m of line.matchAll(re)) {
    last = m;
    if (m[0] === '') break; // an empty match would repeat forever at the same place once lastIndex stops
  }
  if (!last) return null;
  // Ruby's String#scan gives the groups when the regex has some, else the whole match; GitLab
  // takes `flatten.last` of them.
  const text = last.length > 1 ? (last[last.length - 1] ?? '') : last[0];
  const n = NUMBER.exec(text);
  if (!n) return null;
  const value = Number(n[0]);
  // A percentage: GitLab would store 250 as is; the server refuses it, so it is not one.
  return Number.isFinite(value) && value >= 0 && value <= 100 ? value : null;
}

/** Fed the log's bytes in order (after masking); `value` is the job's coverage so far. */
export class CoverageScanner {
  private readonly re: RegExp;
  private readonly line = Buffer.alloc(COVERAGE_LINE_BYTES);
  private length = 0;
  private latest: number | null = null;

  constructor(regex: CoverageRegex) {
    // The compiler checked that it compiles (the same translation of RE2 as for `rules:if`); a
    // spec that somehow does not matches nothing. Global, to walk a line's matches.
    const base = compileRegex(regex.source, regex.flags);
    this.re = base ? new RegExp(base.source, `${base.flags}g`) : /(?!)/g;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      const room = COVERAGE_LINE_BYTES - this.length;
      if (room > 0 && end > start) {
        const n = Math.min(room, end - start);
        chunk.copy(this.line, this.length, start, start + n);
        this.length += n;
      }
      if (nl === -1) return;
      this.endLine();
      start = nl + 1;
    }
  }

  /** The job's coverage, once its log is complete: the last line counts even without a newline. */
  value(): number | null {
    if (this.length > 0) this.endLine();
    return this.latest;
  }

  private endLine(): void {
    let text = this.line.toString('utf8', 0, this.length);
    this.length = 0;
    if (text.endsWith('\r')) text = text.slice(0, -1); // Ruby's chomp
    const v = coverageOfLine(this.re, text);
    if (v !== null) this.latest = v;
  }
}
