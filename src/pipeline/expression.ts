// The `rules:if` language: a lexer and a precedence-climbing parser producing a small AST.
// Precedence, loosest first: `||`, `&&`, then the comparisons `==` `!=` `=~` `!~`, as GitLab.

export type Expr =
  | { kind: 'var'; name: string; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'null'; at: number }
  | { kind: 'regex'; source: string; flags: string; at: number }
  | { kind: 'compare'; op: '==' | '!=' | '=~' | '!~'; left: Expr; right: Expr; at: number }
  | { kind: 'and' | 'or'; left: Expr; right: Expr; at: number };

export class ExpressionError extends Error {
  /** `offset` is the 0-based position in the expression text. */
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

type Token =
  | { t: 'var'; name: string; at: number }
  | { t: 'string'; value: string; at: number }
  | { t: 'null'; at: number }
  | { t: 'regex'; source: string; flags: string; at: number }
  | { t: 'op'; op: '==' | '!=' | '=~' | '!~' | '&&' | '||'; at: number }
  | { t: '(' | ')'; at: number }
  | { t: 'end'; at: number };

const NAME = /[A-Za-z0-9_]/;

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const at = i;
    if (c === '$') {
      if (src[i + 1] === '{') {
        // GitLab's lexer (lib/gitlab/ci/pipeline/expression/lexeme/variable.rb) knows `$NAME` only.
        throw new ExpressionError('`${...}` is not allowed in an expression: write the variable as `$NAME`', at);
      }
      let j = i + 1;
      while (j < src.length && NAME.test(src[j]!)) j++;
      if (j === i + 1) throw new ExpressionError('expected a variable name after `$`', at);
      out.push({ t: 'var', name: src.slice(i + 1, j), at });
      i = j;
      continue;
    }
    if (c === '"' || c === "'") {
      // GitLab's string literals have no escapes: the first matching quote ends them.
      const close = src.indexOf(c, i + 1);
      if (close < 0) throw new ExpressionError(`unterminated string: missing closing ${c}`, at);
      out.push({ t: 'string', value: src.slice(i + 1, close), at });
      i = close + 1;
      continue;
    }
    if (c === '/') {
      let j = i + 1;
      while (j < src.length && src[j] !== '/') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new ExpressionError('unterminated regular expression: missing closing /', at);
      let k = j + 1;
      while (k < src.length && /[a-z]/i.test(src[k]!)) k++;
      out.push({ t: 'regex', source: src.slice(i + 1, j), flags: src.slice(j + 1, k), at });
      i = k;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '=~' || two === '!~' || two === '&&' || two === '||') {
      out.push({ t: 'op', op: two, at });
      i += 2;
      continue;
    }
    if (c === '(' || c === ')') {
      out.push({ t: c, at });
      i++;
      continue;
    }
    if (src.startsWith('null', i) && !NAME.test(src[i + 4] ?? '')) {
      out.push({ t: 'null', at });
      i += 4;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < src.length && NAME.test(src[j]!)) j++;
      const word = src.slice(i, j);
      throw new ExpressionError(`unexpected \`${word}\`: variables start with $ (\`$${word}\`) and strings are quoted`, at);
    }
    if (c === '=' || c === '!' || c === '&' || c === '|') {
      throw new ExpressionError(`unexpected \`${c}\`: operators are ==, !=, =~, !~, && and ||`, at);
    }
    throw new ExpressionError(`unexpected character \`${c}\``, at);
  }
  out.push({ t: 'end', at: src.length });
  return out;
}

const cache = new Map<string, Expr | ExpressionError>();

/** Parses (and caches) an expression; throws ExpressionError. */
export function parseExpression(src: string): Expr {
  let r = cache.get(src);
  if (!r) {
    try {
      r = new Parser(tokenize(src)).parseAll();
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      r = e;
    }
    cache.set(src, r);
  }
  if (r instanceof ExpressionError) throw r;
  return r;
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  parseAll(): Expr {
    if (this.peek().t === 'end') throw new ExpressionError('the expression is empty', 0);
    const e = this.parseOr();
    const t = this.peek();
    if (t.t !== 'end') throw new ExpressionError(`unexpected ${show(t)}: expected an operator or the end`, t.at);
    return e;
  }

  private parseOr(): Expr {
    let left = this.parseAnd();
    for (;;) {
      const t = this.peek();
      if (t.t !== 'op' || t.op !== '||') return left;
      this.i++;
      left = { kind: 'or', left, right: this.parseAnd(), at: t.at };
    }
  }

  private parseAnd(): Expr {
    let left = this.parseCompare();
    for (;;) {
      const t = this.peek();
      if (t.t !== 'op' || t.op !== '&&') return left;
      this.i++;
      left = { kind: 'and', left, right: this.parseCompare(), at: t.at };
    }
  }

  private parseCompare(): Expr {
    const left = this.parsePrimary();
    const t = this.peek();
    if (t.t === 'op' && (t.op === '==' || t.op === '!=' || t.op === '=~' || t.op === '!~')) {
      this.i++;
      let right = this.parsePrimary();
      if (t.op === '=~' || t.op === '!~') {
        // GitLab makes a string that holds `/pattern/flags` the regex, as for a variable.
        const quoted = right.kind === 'string' ? /^\/(.+)\/([a-z]*)$/s.exec(right.value) : null;
        if (quoted) right = { kind: 'regex', source: quoted[1]!, flags: quoted[2]!, at: right.at };
        if (right.kind !== 'regex' && right.kind !== 'var') {
          throw new ExpressionError(`the right side of ${t.op} must be a /regex/, a "/regex/" string or a variable holding one`, right.at);
        }
      }
      const next = this.peek();
      if (next.t === 'op' && (next.op === '==' || next.op === '!=' || next.op === '=~' || next.op === '!~')) {
        throw new ExpressionError(`comparisons cannot be chained: use && or parentheses`, next.at);
      }
      return { kind: 'compare', op: t.op, left, right, at: t.at };
    }
    return left;
  }

  private parsePrimary(): Expr {
    const t = this.peek();
    this.i++;
    switch (t.t) {
      case 'var':
        return { kind: 'var', name: t.name, at: t.at };
      case 'string':
        return { kind: 'string', value: t.value, at: t.at };
      case 'null':
        return { kind: 'null', at: t.at };
      case 'regex':
        return { kind: 'regex', source: t.source, flags: t.flags, at: t.at };
      case '(': {
        const e = this.parseOr();
        const close = this.peek();
        if (close.t !== ')') throw new ExpressionError(`expected \`)\` to close the \`(\` at column ${t.at + 1}, found ${show(close)}`, close.at);
        this.i++;
        return e;
      }
      default:
        throw new ExpressionError(`unexpected ${show(t)}: expected a $VARIABLE, a 'string', null, a /regex/ or (`, t.at);
    }
  }
}

function show(t: Token): string {
  switch (t.t) {
    case 'end':
      return 'end of expression';
    case 'op':
      return `\`${t.op}\``;
    case 'var':
      return `variable $${t.name}`;
    case 'string':
      return `string "${t.value}"`;
    case 'regex':
      return `/${t.source}/`;
    case 'null':
      return '`null`';
    default:
      return `\`${t.t}\``;
  }
}
