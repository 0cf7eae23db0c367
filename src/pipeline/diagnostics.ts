// Diagnostics are collected, never thrown: the compiler reports every problem it can find in one pass.

import pc from 'picocolors';
import type { ErrorCode, SourceLocation } from '../domain/errors.js';
import type { Diagnostic } from './types.js';

export type WarningCode = 'GANTRY_W_IGNORED_KEYWORD' | 'GANTRY_W_DEPRECATED';

export class Diagnostics {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  // One diagnostic per position: a template inherited by many jobs is reported once, and a
  // failed !reference does not cascade into "empty script" at the same place.
  private readonly seen = new Set<string>();

  error(code: ErrorCode, message: string, location: SourceLocation): void {
    this.push(this.errors, { severity: 'error', code, message, location });
  }

  warn(code: WarningCode, message: string, location: SourceLocation): void {
    this.push(this.warnings, { severity: 'warning', code, message, location });
  }

  get hasErrors(): boolean {
    return this.errors.length > 0;
  }

  private push(list: Diagnostic[], d: Diagnostic): void {
    const key = `${d.severity}\0${d.location.file}\0${d.location.line}\0${d.location.column}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    list.push(d);
  }
}

export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      a.location.file.localeCompare(b.location.file) ||
      a.location.line - b.location.line ||
      a.location.column - b.location.column,
  );
}

export function formatDiagnostic(d: Diagnostic, opts: { color: boolean }): string {
  const where = `${d.location.file}:${d.location.line}:${d.location.column}`;
  const c = pc.createColors(opts.color);
  const label = d.severity === 'error' ? c.red(c.bold('error')) : c.yellow(c.bold('warning'));
  return `${c.bold(where)}: ${label}: ${d.message} ${c.dim(`[${d.code}]`)}`;
}

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The candidate closest to `name`, if it is close enough to be a plausible typo. */
export function nearest(name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const d = distance(lower, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === null) return null;
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

export function didYouMean(name: string, candidates: Iterable<string>): string {
  const n = nearest(name, candidates);
  return n === null ? '' : ` (did you mean \`${n}\`?)`;
}
