// `!reference [job, key, ...]`: replaced by the node it names in the merged configuration
// (after includes and extends, as GitLab does). References inside the target are resolved
// too, up to GitLab's nesting limit.

import type { Diagnostics } from './diagnostics.js';
import { describe, entry, type PEntry, type PMap, type PNode, type PRef } from './node.js';

const MAX_NESTING = 10;

export function resolveReferences(root: PMap, diags: Diagnostics): PMap {
  const memo = new Map<PNode, PNode>();

  function lookup(ref: PRef, depth: number): PNode | null {
    if (depth > MAX_NESTING) {
      diags.error('GANTRY_E_REFERENCE_MISSING', `!reference is nested more than ${MAX_NESTING} levels deep`, ref.loc);
      return null;
    }
    const keys: string[] = [];
    for (const p of ref.path) {
      if (p.kind !== 'scalar' || p.value === null || typeof p.value === 'boolean') {
        diags.error('GANTRY_E_INVALID_VALUE', `!reference expects a list of keys, like !reference [.setup, script], not ${describe(p)}`, ref.loc);
        return null;
      }
      keys.push(String(p.value));
    }
    if (keys.length === 0) {
      diags.error('GANTRY_E_INVALID_VALUE', '!reference expects at least a job name, like !reference [.setup, script]', ref.loc);
      return null;
    }
    let node: PNode = root;
    for (let i = 0; i < keys.length; i++) {
      if (node.kind === 'ref') {
        const r = lookup(node, depth + 1);
        if (r === null) return null;
        node = r;
      }
      const e: PEntry | undefined = node.kind === 'map' ? entry(node, keys[i]!) : undefined;
      if (!e) {
        diags.error(
          'GANTRY_E_REFERENCE_MISSING',
          `!reference [${keys.join(', ')}]: ${i === 0 ? `there is no job or key \`${keys[0]}\`` : `\`${keys.slice(0, i).join('.')}\` has no key \`${keys[i]}\``}`,
          ref.loc,
        );
        return null;
      }
      node = e.value;
    }
    return walk(node, depth + 1);
  }

  function walk(node: PNode, depth: number): PNode {
    const cached = memo.get(node);
    if (cached) return cached;
    let out: PNode = node;
    if (node.kind === 'ref') {
      out = lookup(node, depth) ?? { kind: 'seq', items: [], loc: node.loc };
    } else if (node.kind === 'seq') {
      let changed = false;
      const items = node.items.map((i) => {
        const r = walk(i, depth);
        if (r !== i) changed = true;
        return r;
      });
      if (changed) out = { ...node, items };
    } else if (node.kind === 'map') {
      let changed = false;
      const entries = node.entries.map((e) => {
        const v = walk(e.value, depth);
        if (v === e.value) return e;
        changed = true;
        return { ...e, value: v };
      });
      if (changed) out = { ...node, entries };
    }
    if (depth === 0) memo.set(node, out);
    return out;
  }

  return walk(root, 0) as PMap;
}
