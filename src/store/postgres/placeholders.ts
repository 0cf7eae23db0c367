// The store writes portable SQL with `?` placeholders; PostgreSQL wants `$1..$n`. The rewrite
// skips string literals, quoted identifiers and comments, so a `?` inside them is left alone.

import pg from 'pg';
import type { SqlValue } from '../sql/dialect.js';

/** Rewrites the `?` placeholders of `sql` to `$1..$n` (outside literals, identifiers, comments). */
export function toNumberedPlaceholders(sql: string): string {
  return rewritePlaceholders(sql, (n) => `$${n}`);
}

/**
 * `sql` with its parameters written in as literals, for the simple protocol (which sends several
 * statements in one round trip but takes no parameters); null when one cannot be (a Buffer, a
 * number with no literal). Negative numbers are parenthesized: `a -?` must not become a comment.
 */
export function withInlineParams(sql: string, params: readonly SqlValue[]): string | null {
  const literals: string[] = [];
  for (const v of params) {
    if (v === null) literals.push('NULL');
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return null;
      literals.push(v < 0 || Object.is(v, -0) ? `(${v})` : String(v));
    } else if (typeof v === 'string') literals.push(pg.escapeLiteral(v));
    else return null;
  }
  let used = 0;
  const out = rewritePlaceholders(sql, (n) => {
    used = n;
    return literals[n - 1] ?? 'NULL';
  });
  return used === params.length ? out : null;
}

function rewritePlaceholders(sql: string, placeholder: (n: number) => string): string {
  let out = '';
  let n = 0;
  let last = 0;
  const len = sql.length;
  let i = 0;
  while (i < len) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      // '' (or "") inside a literal is an escaped quote: the scan leaves and re-enters it.
      const end = sql.indexOf(c, i + 1);
      i = end === -1 ? len : end + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i + 2);
      i = end === -1 ? len : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? len : end + 2;
    } else if (c === '$' && /[A-Za-z_$]/.test(sql[i + 1] ?? '')) {
      // A dollar-quoted string ($$...$$ or $tag$...$tag$); a `$` inside an identifier is not one.
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i));
      const prev = i > 0 ? sql[i - 1]! : ' ';
      if (tag && !/[A-Za-z_0-9]/.test(prev)) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? len : end + tag[0].length;
      } else {
        i++;
      }
    } else if (c === '?') {
      out += `${sql.slice(last, i)}${placeholder(++n)}`;
      last = ++i;
    } else {
      i++;
    }
  }
  return n === 0 ? sql : out + sql.slice(last);
}
