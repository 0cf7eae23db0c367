// The compiler's own YAML tree: every node carries the file, line and column it was written at,
// so that positions survive includes, !reference, extends and default merging unchanged.

import { createRequire } from 'node:module';
import type { Document, Node, Scalar } from 'yaml';
import type { SourceLocation } from '../domain/errors.js';
import type { Diagnostics } from './diagnostics.js';

export type ScalarValue = string | number | boolean | null;

export interface PMap {
  kind: 'map';
  entries: PEntry[];
  loc: SourceLocation;
}
export interface PEntry {
  key: string;
  keyLoc: SourceLocation;
  value: PNode;
}
export interface PSeq {
  kind: 'seq';
  items: PNode[];
  loc: SourceLocation;
}
export interface PScalar {
  kind: 'scalar';
  value: ScalarValue;
  loc: SourceLocation;
  /** Columns between the node start and the first character of the value (1 for quotes), or null when
   * the text is not a single line in the file (block scalars), so offsets inside cannot be mapped. */
  textOffset: number | null;
}
/** An unresolved `!reference [job, key, ...]`. */
export interface PRef {
  kind: 'ref';
  path: PNode[];
  loc: SourceLocation;
}
export type PNode = PMap | PSeq | PScalar | PRef;

export function entry(map: PMap, key: string): PEntry | undefined {
  for (const e of map.entries) if (e.key === key) return e;
  return undefined;
}

export function describe(node: PNode): string {
  switch (node.kind) {
    case 'map':
      return 'a mapping';
    case 'seq':
      return 'a list';
    case 'ref':
      return 'a !reference';
    case 'scalar':
      if (node.value === null) return 'nothing (null)';
      if (typeof node.value === 'string') return `the string ${JSON.stringify(node.value)}`;
      return `the ${typeof node.value} ${String(node.value)}`;
  }
}

// Loaded on first use, so commands that never read a pipeline file do not pay for it.
type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | null = null;
function yaml(): YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return yamlModule;
}

const REFERENCE_TAG = {
  tag: '!reference',
  collection: 'seq' as const,
  // Kept as the YAML sequence: it is turned into a PRef below and resolved after includes.
  resolve: (seq: unknown) => seq,
};

/** Parses one file; YAML errors become diagnostics and the result is null. */
export function parseYaml(file: string, text: string, diags: Diagnostics): PNode | null {
  const parsed = parseYamlWithHeader(file, text, diags);
  if (parsed.header) diags.error('GANTRY_E_INVALID_VALUE', 'a `spec:` header is only read in a pipeline file or a file it includes', parsed.header.loc);
  return parsed.body;
}

/**
 * A file that may start with a header document (`spec:` and nothing else, then `---`), as GitLab
 * reads pipeline files that declare inputs (lib/gitlab/config/loader/multi_doc_yaml.rb): the
 * header, if any, and the body. YAML errors become diagnostics and the body is null.
 */
export function parseYamlWithHeader(file: string, text: string, diags: Diagnostics): { header: PMap | null; body: PNode | null } {
  const { LineCounter, parseAllDocuments } = yaml();
  const lc = new LineCounter();
  const parsed = parseAllDocuments(text, {
    lineCounter: lc,
    customTags: [REFERENCE_TAG],
    // GitLab loads YAML with Psych, where a repeated key replaces the earlier value: not an error.
    uniqueKeys: false,
    prettyErrors: false,
    strict: false,
  });
  const at = (offset: number): SourceLocation => {
    const p = lc.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  const docs = Array.isArray(parsed) ? parsed : [];
  let failed = false;
  for (const doc of docs) {
    for (const e of doc.errors) diags.error('GANTRY_E_YAML_SYNTAX', `invalid YAML: ${firstLine(e.message)}`, at(e.pos[0]));
    // Unknown tags other than !reference: GitLab rejects them, so do we.
    for (const w of doc.warnings) diags.error('GANTRY_E_YAML_SYNTAX', `invalid YAML: ${firstLine(w.message)}`, at(w.pos[0]));
    failed ||= doc.errors.length > 0;
  }
  if (failed) return { header: null, body: null };
  const convert = (doc: Document) => (doc.contents === null ? null : new Converter(doc, at, diags).convert(doc.contents as Node));
  const first = docs[0] ? convert(docs[0]) : null;
  if (docs.length <= 1) return { header: null, body: first };
  const isHeader = first !== null && first.kind === 'map' && first.entries.length > 0 && first.entries.every((e) => e.key === 'spec');
  if (!isHeader || docs.length > 2) {
    diags.error('GANTRY_E_YAML_SYNTAX', 'a pipeline file is one YAML document, or a `spec:` header, `---`, and one document', at(docs[isHeader ? 2 : 1]!.range[0]));
    return { header: null, body: null };
  }
  return { header: first, body: convert(docs[1]!) };
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

class Converter {
  // Aliases share the converted node: PNodes are never mutated, and sharing keeps an alias bomb small.
  private readonly memo = new Map<Node, PNode>();
  constructor(
    private readonly doc: Document,
    private readonly at: (offset: number) => SourceLocation,
    private readonly diags: Diagnostics,
  ) {}

  /** Nodes being converted: an alias to one of them is a cycle (`&a` holding `*a`, directly or not). */
  private readonly open = new Set<Node>();

  convert(node: Node): PNode {
    if (yaml().isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) return { kind: 'scalar', value: null, loc: this.loc(node), textOffset: null };
      if (this.open.has(target)) {
        // Psych (GitLab's YAML loader) refuses a recursive alias too; followed, it never ends.
        this.diags.error('GANTRY_E_YAML_SYNTAX', `invalid YAML: the alias *${node.source} refers to a node that contains it (anchors cannot be recursive)`, this.loc(node));
        return { kind: 'scalar', value: null, loc: this.loc(node), textOffset: null };
      }
      return this.convert(target);
    }
    const cached = this.memo.get(node);
    if (cached) return cached;
    this.open.add(node);
    const out = this.convertFresh(node);
    this.open.delete(node);
    this.memo.set(node, out);
    return out;
  }

  private loc(node: Node): SourceLocation {
    return this.at(node.range?.[0] ?? 0);
  }

  private convertFresh(node: Node): PNode {
    const { isMap, isScalar, isSeq } = yaml();
    const loc = this.loc(node);
    if (isSeq(node)) {
      const items = node.items.map((i) => this.convert(i as Node));
      if (node.tag === '!reference') return { kind: 'ref', path: items, loc };
      return { kind: 'seq', items, loc };
    }
    if (isMap(node)) {
      // Entries in document order, each later key replacing an earlier one at the earlier's place,
      // merge keys included: GitLab's YAML loader (Psych, ToRuby#revive_hash) applies `<<: *x` as
      // Hash#merge! where it stands, so a merge written after a key replaces that key, and of two
      // `<<` the later wins; within one `<<: [*a, *b]` the earlier source wins.
      const entries: PEntry[] = [];
      const put = (e: PEntry): void => {
        const earlier = entries.findIndex((x) => x.key === e.key);
        if (earlier >= 0) entries[earlier] = e;
        else entries.push(e);
      };
      for (const pair of node.items) {
        const k = pair.key as Node | null;
        const keyLoc = k ? this.loc(k) : loc;
        const keyValue = k && isScalar(k) ? k.value : null;
        if (keyValue === null || keyValue === undefined || (k && !isScalar(k))) {
          this.diags.error('GANTRY_E_INVALID_VALUE', 'a mapping key must be a plain string', keyLoc);
          continue;
        }
        const value: PNode = pair.value
          ? this.convert(pair.value as Node)
          : { kind: 'scalar', value: null, loc: keyLoc, textOffset: null };
        const key = String(keyValue);
        if (key === '<<' && (k as Scalar).type === 'PLAIN') {
          const merged: PEntry[] = [];
          this.mergeKey(value, merged, keyLoc);
          for (const m of merged) put(m);
          continue;
        }
        // A repeated key: the last value wins, at the place of the first (a Ruby Hash keeps
        // the first insertion's order).
        put({ key, keyLoc, value });
      }
      return { kind: 'map', entries, loc };
    }
    if (isScalar(node)) {
      const v = node.value;
      const value: ScalarValue =
        v === null || v === undefined
          ? null
          : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
            ? v
            : String(v);
      let textOffset: number | null = null;
      if (node.type === 'PLAIN') textOffset = 0;
      else if (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') textOffset = 1;
      return { kind: 'scalar', value, loc, textOffset };
    }
    return { kind: 'scalar', value: null, loc, textOffset: null };
  }

  private mergeKey(value: PNode, into: PEntry[], keyLoc: SourceLocation): void {
    const sources = value.kind === 'seq' ? value.items : [value];
    for (const s of sources) {
      if (s.kind !== 'map') {
        this.diags.error('GANTRY_E_INVALID_VALUE', 'a merge key `<<` expects an alias to a mapping (or a list of them)', keyLoc);
        continue;
      }
      for (const e of s.entries) if (!into.some((x) => x.key === e.key)) into.push(e);
    }
  }
}
