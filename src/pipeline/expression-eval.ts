// Evaluates `rules:if` ASTs. Values are strings, null (unset variable or `null`) or regexes;
// GitLab's regexes are RE2, which JavaScript's RegExp covers apart from a few spellings.

import { ExpressionError, parseExpression, type Expr } from './expression.js';

type Value = string | null | RegExp | boolean;

const regexCache = new Map<string, RegExp | null>();

/** RE2 `/source/flags` as a JS RegExp; null if it cannot be compiled. */
export function compileRegex(source: string, flags: string): RegExp | null {
  const key = `${flags}/${source}`;
  if (regexCache.has(key)) return regexCache.get(key)!;
  let src = source;
  let f = flags;
  // RE2 writes flags inline at the start (`(?i)abc`); JS takes them as RegExp flags.
  const inline = /^\(\?([ims]+)\)/.exec(src);
  if (inline) {
    src = src.slice(inline[0].length);
    f += inline[1];
  }
  src = src.replace(/\\A/g, '^').replace(/\\z/g, '$');
  let re: RegExp | null = null;
  if (/^[ims]*$/.test(f)) {
    try {
      re = new RegExp(src, [...new Set(f)].join(''));
    } catch {
      re = null;
    }
  }
  regexCache.set(key, re);
  return re;
}

/** Throws ExpressionError for a regex literal that cannot be compiled. */
export function checkExpression(expr: Expr): void {
  switch (expr.kind) {
    case 'regex':
      if (!/^[ims]*$/.test(expr.flags)) throw new ExpressionError(`unsupported regex flag in /${expr.source}/${expr.flags}: use i, m or s`, expr.at);
      if (compileRegex(expr.source, expr.flags) === null) throw new ExpressionError(`invalid regular expression /${expr.source}/`, expr.at);
      return;
    case 'compare':
    case 'and':
    case 'or':
      checkExpression(expr.left);
      checkExpression(expr.right);
      return;
    default:
      return;
  }
}

export type Lookup = (name: string) => string | null;

function value(expr: Expr, lookup: Lookup): Value {
  switch (expr.kind) {
    case 'var':
      return lookup(expr.name);
    case 'string':
      return expr.value;
    case 'null':
      return null;
    case 'regex':
      return compileRegex(expr.source, expr.flags);
    case 'and':
      return truthy(value(expr.left, lookup)) && truthy(value(expr.right, lookup));
    case 'or':
      return truthy(value(expr.left, lookup)) || truthy(value(expr.right, lookup));
    case 'compare': {
      const l = value(expr.left, lookup);
      const r = value(expr.right, lookup);
      if (expr.op === '==') return same(l, r);
      if (expr.op === '!=') return !same(l, r);
      const re = asRegex(r);
      // An unset left side matches as the empty string, as in GitLab.
      const text = typeof l === 'string' ? l : l === null ? '' : String(l);
      if (re === null) return expr.op === '!~';
      re.lastIndex = 0;
      const m = re.test(text);
      return expr.op === '=~' ? m : !m;
    }
  }
}

function same(a: Value, b: Value): boolean {
  if (a instanceof RegExp || b instanceof RegExp) return a instanceof RegExp && b instanceof RegExp && a.source === b.source && a.flags === b.flags;
  return a === b;
}

function asRegex(v: Value): RegExp | null {
  if (v instanceof RegExp) return v;
  if (typeof v !== 'string') return null;
  // A variable on the right of =~ holds a regex, written `/source/flags` or as a bare source.
  const m = /^\/(.*)\/([a-z]*)$/s.exec(v);
  return m ? compileRegex(m[1]!, m[2]!) : compileRegex(v, '');
}

function truthy(v: Value): boolean {
  if (v === null || v === false) return false;
  if (typeof v === 'string') return v !== '';
  return true;
}

export function evaluate(expr: Expr, lookup: Lookup): boolean {
  return truthy(value(expr, lookup));
}

/** Parse and evaluate in one step (throws ExpressionError on bad syntax). */
export function evaluateExpression(src: string, vars: Record<string, string>): boolean {
  const expr = parseExpression(src);
  checkExpression(expr);
  return evaluate(expr, (n) => (Object.prototype.hasOwnProperty.call(vars, n) ? vars[n]! : null));
}
