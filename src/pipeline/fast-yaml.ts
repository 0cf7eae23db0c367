// A fast path for the YAML that pipelines are usually written in: block mappings and sequences,
// single-line plain or quoted scalars, single-line flow lists and maps of scalars, comments.
// The `yaml` library needs tens of milliseconds for a few hundred jobs in a cold process, and
// `gantry run` compiles in a cold process. Anything outside this subset (anchors, tags, block
// scalars, multi-line scalars, errors, duplicate keys...) returns null and the caller falls
// back to the full parser, so the subset only has to be right, not complete. A differential
// test checks that both parsers build the same tree for every fixture.

import type { SourceLocation } from '../domain/errors.js';
import type { PEntry, PMap, PNode, PScalar, PSeq, ScalarValue } from './node.js';

class Unsupported extends Error {}

interface Line {
  no: number; // 1-based
  indent: number; // 0-based column of the first content character
  text: string; // the line from `indent` on
}

const fail = (): never => {
  throw new Unsupported();
};

export function fastParseYaml(file: string, source: string): PNode | null {
  if (source.includes('\t') || source.includes('\r') || source.charCodeAt(0) === 0xfeff) return null;
  const lines: Line[] = [];
  const raw = source.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const l = raw[i]!;
    let indent = 0;
    while (indent < l.length && l.charCodeAt(indent) === 32) indent++;
    if (indent === l.length || l[indent] === '#') continue;
    const text = l.slice(indent);
    if (indent === 0 && (text.startsWith('---') || text.startsWith('...') || text[0] === '%')) return null;
    lines.push({ no: i + 1, indent, text });
  }
  if (lines.length === 0) return null;
  try {
    const p = new FastParser(file, lines);
    const root = p.block(lines[0]!.indent);
    if (p.pos !== lines.length) return null;
    return root;
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
}

const INT = /^[-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const NULLS = new Set(['~', 'null', 'Null', 'NULL']);
const TRUES = new Set(['true', 'True', 'TRUE']);
const FALSES = new Set(['false', 'False', 'FALSE']);

/** YAML 1.2 core schema, as the `yaml` library resolves plain scalars. */
function plainValue(s: string): ScalarValue {
  if (s === '' || NULLS.has(s)) return null;
  if (TRUES.has(s)) return true;
  if (FALSES.has(s)) return false;
  if (INT.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : fail();
  }
  if (FLOAT.test(s)) return Number(s);
  if (/^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$/.test(s) || /^0[ox]/.test(s)) fail();
  return s;
}

const PLAIN_START_BAD = new Set(['[', ']', '{', '}', ',', '#', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`']);

class FastParser {
  pos = 0;
  constructor(
    private readonly file: string,
    private readonly lines: Line[],
  ) {}

  private loc(line: number, col0: number): SourceLocation {
    return { file: this.file, line, column: col0 + 1 };
  }

  block(indent: number): PNode {
    const l = this.lines[this.pos]!;
    if (l.indent !== indent) fail();
    return isSeqItem(l.text) ? this.seq(indent) : this.map(indent);
  }

  private seq(indent: number): PSeq {
    const first = this.lines[this.pos]!;
    const node: PSeq = { kind: 'seq', items: [], loc: this.loc(first.no, first.indent) };
    while (this.pos < this.lines.length) {
      const l = this.lines[this.pos]!;
      if (l.indent < indent) break;
      if (l.indent > indent || !isSeqItem(l.text)) fail();
      let off = 1;
      while (off < l.text.length && l.text[off] === ' ') off++;
      if (off === l.text.length) {
        // `-` alone: the item is the following, more indented block (or null).
        this.pos++;
        const next = this.lines[this.pos];
        if (next && next.indent > indent) node.items.push(this.block(next.indent));
        else node.items.push({ kind: 'scalar', value: null, loc: this.loc(l.no, l.indent + 1), textOffset: 0 });
        continue;
      }
      const rest = l.text.slice(off);
      if (isSeqItem(rest)) fail();
      if (findMapColon(rest) >= 0) {
        // A compact mapping (`- key: value`): its entries are indented at the first key.
        this.lines[this.pos] = { no: l.no, indent: l.indent + off, text: rest };
        node.items.push(this.map(l.indent + off));
        continue;
      }
      node.items.push(this.inlineValue(rest, l.no, l.indent + off));
      this.pos++;
      this.expectNotDeeper(indent);
    }
    return node;
  }

  private map(indent: number): PMap {
    const first = this.lines[this.pos]!;
    const node: PMap = { kind: 'map', entries: [], loc: this.loc(first.no, first.indent) };
    const seen = new Set<string>();
    while (this.pos < this.lines.length) {
      const l = this.lines[this.pos]!;
      if (l.indent < indent) break;
      if (l.indent > indent || isSeqItem(l.text)) fail();
      const colon = findMapColon(l.text);
      if (colon < 0) fail();
      const key = keyText(l.text.slice(0, colon));
      if (key === '<<' || seen.has(key)) fail(); // merge keys and duplicate-key errors: full parser
      seen.add(key);
      const keyLoc = this.loc(l.no, l.indent);
      let vstart = colon + 1;
      while (vstart < l.text.length && l.text[vstart] === ' ') vstart++;
      const rest = l.text.slice(vstart);
      let value: PNode;
      if (rest === '' || rest[0] === '#') {
        if (rest[0] === '#' && l.text[vstart - 1] !== ' ') fail();
        this.pos++;
        const next = this.lines[this.pos];
        if (next && next.indent > indent) value = this.block(next.indent);
        else if (next && next.indent === indent && isSeqItem(next.text)) value = this.seq(indent);
        else value = { kind: 'scalar', value: null, loc: this.loc(l.no, l.indent + colon + 1), textOffset: 0 };
      } else {
        value = this.inlineValue(rest, l.no, l.indent + vstart);
        this.pos++;
        this.expectNotDeeper(indent);
      }
      node.entries.push({ key, keyLoc, value });
    }
    return node;
  }

  /** After an inline value, a deeper line would be a multi-line scalar: not in the subset. */
  private expectNotDeeper(indent: number): void {
    const next = this.lines[this.pos];
    if (next && next.indent > indent) fail();
  }

  private inlineValue(text: string, line: number, col0: number): PNode {
    const c = text[0]!;
    if (c === '[' || c === '{') return this.flow(text, line, col0);
    if (c === '"' || c === "'") {
      const { value, end } = quoted(text, 0);
      if (!onlyComment(text.slice(end))) fail();
      return { kind: 'scalar', value, loc: this.loc(line, col0), textOffset: 1 };
    }
    const s = plainText(text);
    return { kind: 'scalar', value: plainValue(s), loc: this.loc(line, col0), textOffset: 0 };
  }

  /** A single-line flow list or map of scalars. */
  private flow(text: string, line: number, col0: number): PNode {
    const isSeq = text[0] === '[';
    const close = isSeq ? ']' : '}';
    const items: PNode[] = [];
    const entries: PEntry[] = [];
    let i = 1;
    const skip = () => {
      while (text[i] === ' ') i++;
    };
    const scalar = (stopAtColon: boolean): PScalar => {
      skip();
      const at = i;
      const c = text[i];
      if (c === undefined) fail();
      if (c === '"' || c === "'") {
        const q = quoted(text, i);
        i = q.end;
        return { kind: 'scalar', value: q.value, loc: this.loc(line, col0 + at), textOffset: 1 };
      }
      if (c === '[' || c === '{' || PLAIN_START_BAD.has(c!) || ((c === '-' || c === '?' || c === ':') && (text[i + 1] === ' ' || text[i + 1] === undefined))) fail();
      let j = i;
      while (j < text.length) {
        const ch = text[j]!;
        if (ch === ',' || ch === ']' || ch === '}' || ch === '[' || ch === '{') break;
        if (ch === ':' && (text[j + 1] === ' ' || text[j + 1] === ',' || text[j + 1] === close)) {
          if (!stopAtColon) fail();
          break;
        }
        if (ch === '#' && text[j - 1] === ' ') fail();
        j++;
      }
      const s = text.slice(i, j).trimEnd();
      i = j;
      return { kind: 'scalar', value: plainValue(s), loc: this.loc(line, col0 + at), textOffset: 0 };
    };
    skip();
    if (text[i] === close) i++;
    else {
      for (;;) {
        if (isSeq) items.push(scalar(false));
        else {
          const k = scalar(true);
          if (typeof k.value !== 'string' && k.value !== null && typeof k.value !== 'number') fail();
          skip();
          if (text[i] !== ':') fail();
          i++;
          const v = scalar(false);
          const key = String(k.value);
          if (entries.some((e) => e.key === key) || key === '<<') fail();
          entries.push({ key, keyLoc: k.loc, value: v });
        }
        skip();
        if (text[i] === ',') {
          i++;
          skip();
          if (text[i] === close) fail(); // trailing comma: let the full parser decide
          continue;
        }
        if (text[i] === close) {
          i++;
          break;
        }
        fail();
      }
    }
    if (!onlyComment(text.slice(i))) fail();
    const loc = this.loc(line, col0);
    return isSeq ? { kind: 'seq', items, loc } : { kind: 'map', entries, loc };
  }
}

function isSeqItem(text: string): boolean {
  return text[0] === '-' && (text.length === 1 || text[1] === ' ');
}

function onlyComment(rest: string): boolean {
  const t = rest.trimStart();
  return t === '' || (t[0] === '#' && rest.length > t.length);
}

/** Index of the `:` that ends a block mapping key on this line, or -1. */
function findMapColon(text: string): number {
  const c = text[0]!;
  if (c === '"' || c === "'") {
    const { end } = quoted(text, 0);
    return text[end] === ':' && (end + 1 === text.length || text[end + 1] === ' ') ? end : -1;
  }
  // Flow collections, `?` complex keys and other indicators never start a simple key.
  if (PLAIN_START_BAD.has(c) || c === '?') return -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ':' && (i + 1 === text.length || text[i + 1] === ' ')) return i;
    if (text[i] === '#' && i > 0 && text[i - 1] === ' ') return -1;
  }
  return -1;
}

function keyText(raw: string): string {
  const c = raw[0]!;
  if (c === '"' || c === "'") return String(quoted(raw, 0).value);
  const v = plainValue(raw.trimEnd());
  if (v === null || typeof v === 'boolean') fail(); // unusual keys: full parser
  // Numeric keys keep their source text in the full parser's String(value) only for simple forms.
  if (typeof v === 'number' && String(v) !== raw.trimEnd()) fail();
  return String(v);
}

function plainText(text: string): string {
  const c = text[0]!;
  if (PLAIN_START_BAD.has(c) || ((c === '-' || c === '?' || c === ':') && (text[1] === ' ' || text[1] === undefined))) fail();
  let end = text.length;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '#' && text[i - 1] === ' ') {
      end = i;
      break;
    }
    if (ch === ':' && (i + 1 === text.length || text[i + 1] === ' ')) fail(); // `a: b: c` is an error
  }
  return text.slice(0, end).trimEnd();
}

const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', '/': '/', n: '\n', t: '\t', r: '\r', '0': '\0', ' ': ' ' };

function quoted(text: string, start: number): { value: string; end: number } {
  const q = text[start];
  let out = '';
  let i = start + 1;
  for (;;) {
    if (i >= text.length) fail(); // continues on the next line
    const ch = text[i]!;
    if (q === "'" && ch === "'") {
      if (text[i + 1] === "'") {
        out += "'";
        i += 2;
        continue;
      }
      return { value: out, end: i + 1 };
    }
    if (q === '"' && ch === '"') return { value: out, end: i + 1 };
    if (q === '"' && ch === '\\') {
      const e = ESCAPES[text[i + 1] ?? ''];
      if (e === undefined) fail();
      out += e;
      i += 2;
      continue;
    }
    out += ch;
    i++;
  }
}
