// CI/CD inputs (GitLab's `spec:inputs`): a file declares the inputs it takes in a header before
// `---`; an include gives their values (`include: - local: x.yml\n  inputs: {name: value}`); the
// body reads them as `$[[ inputs.name ]]`, interpolated before anything else reads the file, so a
// value may be a whole job, a list or a key. The rules are GitLab's (doc/ci/inputs/_index.md;
// lib/gitlab/ci/config/interpolation/ and lib/gitlab/ci/input/): types string (the default),
// number, boolean and array; `default` (an input without one is required); `options`; `regex`
// (strings only); every input given must be declared; every `$[[ ]]` must name a declared input.

import type { SourceLocation } from '../domain/errors.js';
import type { Diagnostics } from './diagnostics.js';
import { describe, entry, type PEntry, type PMap, type PNode, type PScalar } from './node.js';

type InputType = 'string' | 'number' | 'boolean' | 'array';
type InputValue = string | number | boolean | unknown[];

interface InputSpec {
  name: string;
  type: InputType;
  default?: PNode;
  options?: PNode[];
  regex?: RegExp;
  loc: SourceLocation;
}

const SPEC_KEYS = new Set(['inputs', 'include', 'component']);
const INPUT_KEYS = new Set(['default', 'type', 'options', 'regex', 'description', 'rules']);
const TYPES: readonly InputType[] = ['string', 'number', 'boolean', 'array'];
const BLOCK = /\$\[\[\s*(.*?)\s*\]\]/g;

/** The declared inputs of a header (`spec: {inputs: {...}}`), or null when it is not usable. */
function readSpec(header: PMap, diags: Diagnostics): InputSpec[] | null {
  const spec = entry(header, 'spec')!;
  if (spec.value.kind !== 'map') {
    diags.error('GANTRY_E_INVALID_VALUE', `spec expects a mapping (inputs:), not ${describe(spec.value)}`, spec.value.loc);
    return null;
  }
  for (const e of spec.value.entries) if (!SPEC_KEYS.has(e.key)) diags.error('GANTRY_E_UNKNOWN_KEYWORD', `spec:${e.key} is not a spec keyword (inputs)`, e.keyLoc);
  const inputs = entry(spec.value, 'inputs');
  if (!inputs) return [];
  if (inputs.value.kind !== 'map') {
    diags.error('GANTRY_E_INVALID_VALUE', `spec:inputs expects a mapping of input names, not ${describe(inputs.value)}`, inputs.value.loc);
    return null;
  }
  const out: InputSpec[] = [];
  for (const e of inputs.value.entries) {
    const def: InputSpec = { name: e.key, type: 'string', loc: e.keyLoc };
    // `name:` alone (null) is a required string input.
    if (e.value.kind === 'map') {
      for (const k of e.value.entries) {
        if (!INPUT_KEYS.has(k.key)) diags.error('GANTRY_E_UNKNOWN_KEYWORD', `spec:inputs:${e.key}:${k.key} is not an input keyword (default, type, options, regex, description)`, k.keyLoc);
      }
      const type = entry(e.value, 'type')?.value;
      if (type) {
        if (type.kind === 'scalar' && TYPES.includes(type.value as InputType)) def.type = type.value as InputType;
        else diags.error('GANTRY_E_INVALID_VALUE', `spec:inputs:${e.key}:type must be one of ${TYPES.join(', ')}, not ${describe(type)}`, type.loc);
      }
      const d = entry(e.value, 'default')?.value;
      if (d) def.default = d;
      const options = entry(e.value, 'options')?.value;
      if (options) {
        if (options.kind === 'seq') def.options = options.items;
        else diags.error('GANTRY_E_INVALID_VALUE', `spec:inputs:${e.key}:options expects a list, not ${describe(options)}`, options.loc);
      }
      const regex = entry(e.value, 'regex')?.value;
      if (regex) {
        const source = regex.kind === 'scalar' && typeof regex.value === 'string' ? regex.value.replace(/^\/(.*)\/$/s, '$1') : null;
        try {
          if (source === null) throw new Error(`a regex is a string, not ${describe(regex)}`);
          if (def.type !== 'string') throw new Error('only a string input can have a regex');
          def.regex = new RegExp(source, 'u');
        } catch (err) {
          diags.error('GANTRY_E_INVALID_VALUE', `spec:inputs:${e.key}:regex: ${(err as Error).message}`, regex.loc);
        }
      }
    } else if (!(e.value.kind === 'scalar' && e.value.value === null)) {
      diags.error('GANTRY_E_INVALID_VALUE', `spec:inputs:${e.key} expects a mapping (default, type, options, regex), not ${describe(e.value)}`, e.value.loc);
    }
    out.push(def);
  }
  return out;
}

/** A YAML node as a plain value: what an input holds, and what tells two includes' inputs apart. */
export function plain(node: PNode): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(plain);
    case 'map':
      return Object.fromEntries(node.entries.map((e) => [e.key, plain(e.value)]));
    case 'ref':
      return null;
  }
}

/** Checks a value against its input's type, options and regex; the message of what is wrong, or null. */
function wrongValue(spec: InputSpec, value: unknown): string | null {
  const ok =
    spec.type === 'string' ? typeof value === 'string' : spec.type === 'number' ? typeof value === 'number' : spec.type === 'boolean' ? typeof value === 'boolean' : Array.isArray(value);
  if (!ok) return `\`${spec.name}\` input: provided value is not a ${spec.type}`;
  if (spec.options && !spec.options.some((o) => JSON.stringify(plain(o)) === JSON.stringify(value))) {
    return `\`${spec.name}\` input: \`${String(value)}\` cannot be used because it is not in the list of allowed options`;
  }
  if (spec.regex && typeof value === 'string' && !spec.regex.test(value)) return `\`${spec.name}\` input: provided value does not match required RegEx pattern`;
  return null;
}

/**
 * The inputs' values for one read of a file: those `given` (an include's `inputs:`), else each
 * one's default. Errors (an unknown input, a required one missing, a wrong value) are reported at
 * the include (`at`); the result is null when any was.
 */
export function inputValues(header: PMap | null, given: PEntry | undefined, at: SourceLocation, diags: Diagnostics): Map<string, InputValue> | null {
  const specs = header ? readSpec(header, diags) : [];
  if (specs === null) return null;
  const values = new Map<string, InputValue>();
  let ok = true;
  const fail = (message: string, loc: SourceLocation) => {
    diags.error('GANTRY_E_INCLUDE', message, loc);
    ok = false;
  };
  const givenMap = given?.value.kind === 'map' ? given.value : null;
  if (given && !givenMap) fail(`include:inputs expects a mapping of input names, not ${describe(given.value)}`, given.value.loc);
  if (givenMap && header === null) fail('the included file takes no inputs: it has no `spec:inputs` header', given!.keyLoc);
  else if (givenMap) {
    const unknown = givenMap.entries.filter((e) => !specs.some((s) => s.name === e.key));
    if (unknown.length > 0) fail(`unknown input arguments: ${unknown.map((e) => e.key).join(', ')}`, unknown[0]!.keyLoc);
  }
  for (const spec of specs) {
    const g = givenMap ? entry(givenMap, spec.name) : undefined;
    const source = g?.value ?? spec.default;
    if (!source) {
      fail(`\`${spec.name}\` input: required value has not been provided`, at);
      continue;
    }
    const value = plain(source) as InputValue;
    const wrong = wrongValue(spec, value);
    if (wrong) fail(g ? wrong : `${wrong} (its default)`, source.loc);
    else values.set(spec.name, value);
  }
  return ok ? values : null;
}

/** A value as the text it becomes inside a longer string. */
const asText = (v: InputValue) => (typeof v === 'string' ? v : JSON.stringify(v));

/** A node standing for a value that replaced a whole scalar: typed, at the scalar's place. */
function valueNode(v: unknown, loc: SourceLocation): PNode {
  if (Array.isArray(v)) return { kind: 'seq', items: v.map((x) => valueNode(x, loc)), loc };
  if (v !== null && typeof v === 'object') return { kind: 'map', entries: Object.entries(v).map(([key, value]) => ({ key, keyLoc: loc, value: valueNode(value, loc) })), loc };
  return { kind: 'scalar', value: v as PScalar['value'], loc, textOffset: null };
}

/**
 * Replaces every `$[[ inputs.name ]]` in the body's strings (keys included). A scalar that is one
 * block and nothing else takes the input's typed value (a number, a boolean, a list); inside a
 * longer string the value is its text. GitLab's functions after `|`: expand_vars is left to the
 * runner (it stays as written), truncate(offset, length) and posix_escape apply here.
 */
export function interpolate(node: PNode, values: ReadonlyMap<string, InputValue>, diags: Diagnostics): PNode {
  const text = (s: string, loc: SourceLocation): { whole: InputValue | null; text: string } | null => {
    let whole: InputValue | null = null;
    let bad = false;
    const out = s.replace(BLOCK, (all, inner: string, offset: number) => {
      const [head, ...fns] = inner.split('|').map((x) => x.trim());
      const m = /^inputs\.([A-Za-z0-9_-]+)$/.exec(head ?? '');
      if (!m) {
        diags.error('GANTRY_E_INVALID_VALUE', `unknown interpolation key: \`${head}\` (inputs.NAME)`, loc);
        bad = true;
        return all;
      }
      if (!values.has(m[1]!)) {
        diags.error('GANTRY_E_INVALID_VALUE', `unknown interpolation key: \`${m[1]}\`: the file declares no such input`, loc);
        bad = true;
        return all;
      }
      let v: InputValue = values.get(m[1]!)!;
      for (const fn of fns) {
        const t = /^truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(fn);
        if (t) v = asText(v).slice(Number(t[1]), Number(t[1]) + Number(t[2]));
        else if (fn === 'posix_escape') v = asText(v).replace(/([^A-Za-z0-9_\-.,:/@\n])/g, '\\$1');
        else if (fn !== 'expand_vars') {
          diags.error('GANTRY_E_INVALID_VALUE', `unknown interpolation function: \`${fn}\` (expand_vars, truncate, posix_escape)`, loc);
          bad = true;
        }
      }
      if (offset === 0 && all.length === s.length) whole = v;
      return asText(v);
    });
    if (bad) return null;
    return { whole, text: out };
  };
  const walk = (n: PNode): PNode => {
    switch (n.kind) {
      case 'scalar': {
        if (typeof n.value !== 'string' || !n.value.includes('$[[')) return n;
        const r = text(n.value, n.loc);
        if (r === null) return n;
        return r.whole !== null ? valueNode(r.whole, n.loc) : { ...n, value: r.text, textOffset: null };
      }
      case 'seq':
        return { ...n, items: n.items.map(walk) };
      case 'map':
        return {
          ...n,
          entries: n.entries.map((e) => {
            const key = e.key.includes('$[[') ? (text(e.key, e.keyLoc)?.text ?? e.key) : e.key;
            return { key, keyLoc: e.keyLoc, value: walk(e.value) };
          }),
        };
      case 'ref':
        return { ...n, path: n.path.map(walk) };
    }
  };
  return walk(node);
}
