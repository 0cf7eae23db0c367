// Typed readers for keyword values: each returns the value or undefined after reporting what was
// expected, so one bad value never hides the next one.

import type { SourceLocation } from '../domain/errors.js';
import { didYouMean, type Diagnostics } from './diagnostics.js';
import { describe, type PMap, type PNode } from './node.js';

export class Reader {
  constructor(readonly diags: Diagnostics) {}

  invalid(node: PNode | SourceLocation, message: string): undefined {
    this.diags.error('GANTRY_E_INVALID_VALUE', message, 'kind' in node ? node.loc : node);
    return undefined;
  }

  str(node: PNode, what: string): string | undefined {
    if (node.kind === 'scalar' && typeof node.value === 'string') return node.value;
    return this.invalid(node, `${what} expects a string, not ${describe(node)}`);
  }

  /** Strings and numbers both read as strings (YAML makes `1.0` a number; GitLab keeps its text). */
  text(node: PNode, what: string): string | undefined {
    if (node.kind === 'scalar' && (typeof node.value === 'string' || typeof node.value === 'number')) return String(node.value);
    return this.invalid(node, `${what} expects a string, not ${describe(node)}`);
  }

  bool(node: PNode, what: string): boolean | undefined {
    if (node.kind === 'scalar' && typeof node.value === 'boolean') return node.value;
    return this.invalid(node, `${what} expects true or false, not ${describe(node)}`);
  }

  int(node: PNode, what: string, min: number, max: number): number | undefined {
    if (node.kind === 'scalar' && typeof node.value === 'number' && Number.isInteger(node.value) && node.value >= min && node.value <= max) {
      return node.value;
    }
    return this.invalid(node, `${what} expects a whole number from ${min} to ${max}, not ${describe(node)}`);
  }

  oneOf<T extends string>(node: PNode, what: string, allowed: readonly T[]): T | undefined {
    if (node.kind === 'scalar' && typeof node.value === 'string' && (allowed as readonly string[]).includes(node.value)) return node.value as T;
    const hint = node.kind === 'scalar' && typeof node.value === 'string' ? didYouMean(node.value, allowed) : '';
    return this.invalid(node, `${what} expects one of ${allowed.join(', ')}, not ${describe(node)}${hint}`);
  }

  /**
   * A string or a list of strings; nested lists (from !reference) are flattened. `expected` names
   * what the list holds in messages, `itemError` words the message about a wrong item.
   */
  strList(
    node: PNode,
    what: string,
    opts: { allowNumbers?: boolean; expected?: string; itemError?: (item: PNode) => string } = {},
  ): string[] | undefined {
    if (node.kind === 'scalar' && typeof node.value === 'string') return [node.value];
    if (node.kind !== 'seq') return this.invalid(node, `${what} expects ${opts.expected ?? 'a string or a list of strings'}, not ${describe(node)}`);
    const out: string[] = [];
    let ok = true;
    const visit = (items: PNode[], depth: number): void => {
      for (const item of items) {
        if (item.kind === 'seq' && depth < 10) visit(item.items, depth + 1);
        else if (item.kind === 'scalar' && typeof item.value === 'string') out.push(item.value);
        else if (opts.allowNumbers && item.kind === 'scalar' && typeof item.value === 'number') out.push(String(item.value));
        else {
          ok = false;
          this.invalid(item, opts.itemError?.(item) ?? `${what} expects strings, not ${describe(item)}`);
        }
      }
    };
    visit(node.items, 1);
    return ok ? out : undefined;
  }

  /**
   * One `matrix` entry (`{VAR: value or [values], ...}`) as its combinations, in GitLab's order:
   * the first variable varies slowest. Undefined (reported) if a value is not text.
   */
  matrixCombos(entryMap: PMap, what: string): Record<string, string>[] | undefined {
    let partial: Record<string, string>[] = [{}];
    for (const e of entryMap.entries) {
      const values = e.value.kind === 'seq' ? e.value.items : [e.value];
      const strs: string[] = [];
      for (const v of values) {
        const s = this.text(v, `${what}:${e.key}`);
        if (s === undefined) return undefined;
        strs.push(s);
      }
      partial = partial.flatMap((p) => strs.map((s) => ({ ...p, [e.key]: s })));
    }
    return partial;
  }

  /** A list of strings only, as GitLab's `array_of_strings` validator wants: a lone string is refused. */
  strArray(node: PNode, what: string): string[] | undefined {
    if (node.kind !== 'seq') return this.invalid(node, `${what} expects a list of strings, not ${describe(node)}${node.kind === 'scalar' && typeof node.value === 'string' ? ` (write [${JSON.stringify(node.value)}])` : ''}`);
    return this.strList(node, what);
  }

  map(node: PNode, what: string): PMap | undefined {
    if (node.kind === 'map') return node;
    return this.invalid(node, `${what} expects a mapping, not ${describe(node)}`);
  }

  /** Reports keys outside `allowed` as unknown keywords, suggesting the nearest one. */
  keys(map: PMap, what: string, allowed: readonly string[]): void {
    for (const e of map.entries) {
      if (allowed.includes(e.key)) continue;
      this.diags.error(
        'GANTRY_E_UNKNOWN_KEYWORD',
        `unknown key \`${e.key}\` in ${what}${didYouMean(e.key, allowed)}; allowed: ${allowed.join(', ')}`,
        e.keyLoc,
      );
    }
  }
}

/** Script lines: a string or a list of strings, nested lists flattened. Non-strings get a quoting hint. */
export function readScript(r: Reader, node: PNode, what: string): string[] | undefined {
  return r.strList(node, what, {
    expected: 'a string or a list of strings (shell commands)',
    itemError: (item) => {
      const hint =
        item.kind === 'map'
          ? ': a `key: value` inside a command makes YAML read a mapping; quote the whole line, e.g. - "echo key: value"'
          : item.kind === 'scalar' && item.value !== null
            ? `: quote it, e.g. - "${String(item.value)}"`
            : '';
      return `${what} expects each line to be a string, not ${describe(item)}${hint}`;
    },
  });
}

/**
 * `variables:` of the pipeline, a job or a rule. Values are kept unexpanded; `expand: false`
 * is expressed by escaping `$` as `$$`, which the runner's expansion turns back into `$`.
 */
export function readVariables(r: Reader, node: PNode, what: string, allowDetails: boolean): Record<string, string> | undefined {
  const map = r.map(node, what);
  if (!map) return undefined;
  const out: Record<string, string> = {};
  for (const e of map.entries) {
    if (!/^[A-Za-z0-9_]+$/.test(e.key)) {
      r.invalid(e.keyLoc, `variable name \`${e.key}\` may contain only letters, digits and _`);
      continue;
    }
    const v = e.value;
    if (v.kind === 'scalar' && (typeof v.value === 'string' || typeof v.value === 'number')) {
      out[e.key] = String(v.value);
    } else if (v.kind === 'scalar' && v.value === null) {
      // `NAME:` with no value: GitLab accepts it and the job gets an empty variable.
      out[e.key] = '';
    } else if (v.kind === 'map') {
      r.keys(v, `variable ${e.key}`, allowDetails ? ['value', 'description', 'options', 'expand'] : ['value', 'expand', 'description']);
      let value = '';
      let expand = true;
      for (const f of v.entries) {
        if (f.key === 'value') value = r.text(f.value, `variables:${e.key}:value`) ?? '';
        else if (f.key === 'expand') expand = r.bool(f.value, `variables:${e.key}:expand`) ?? true;
        else if (f.key === 'description') r.str(f.value, `variables:${e.key}:description`);
      }
      const options = v.entries.find((f) => f.key === 'options');
      if (options) {
        const list = r.strList(options.value, `variables:${e.key}:options`, { allowNumbers: true });
        if (list && !list.includes(value)) r.invalid(options.value, `variables:${e.key}: value ${JSON.stringify(value)} must be one of its options`);
      }
      out[e.key] = expand ? value : value.replace(/\$/g, '$$$$');
    } else {
      const hint = v.kind === 'scalar' && typeof v.value === 'boolean' ? `: quote it ("${String(v.value)}")` : '';
      r.invalid(v, `variable ${e.key} expects a string or number value, not ${describe(v)}${hint}`);
    }
  }
  return out;
}
