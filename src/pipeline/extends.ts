// `extends`: a job is the deep merge of its templates (in order, later wins) and then itself.
// Templates are resolved first, so inheritance is multi-level.

import type { SourceLocation } from '../domain/errors.js';
import { didYouMean, type Diagnostics } from './diagnostics.js';
import { mergeMaps, withoutKeys } from './merge.js';
import { describe, entry, type PMap } from './node.js';

const MAX_DEPTH = 11; // GitLab's limit on levels of inheritance
const EXTENDS = new Set(['extends']);

/** Resolves `extends` for every definition; returns name -> merged mapping without `extends`. */
export function resolveExtends(defs: Map<string, PMap>, diags: Diagnostics): Map<string, PMap> {
  const done = new Map<string, PMap>();
  // Levels of inheritance below each resolved definition (0 = extends nothing).
  const depth = new Map<string, number>();
  const visiting: string[] = [];

  function resolve(name: string, def: PMap): PMap {
    const cached = done.get(name);
    if (cached) return cached;
    const ext = entry(def, 'extends');
    if (!ext) {
      done.set(name, def);
      depth.set(name, 0);
      return def;
    }
    visiting.push(name);
    let merged: PMap | null = null;
    const parents: { name: string; loc: SourceLocation }[] = [];
    if (ext.value.kind === 'scalar' && typeof ext.value.value === 'string') parents.push({ name: ext.value.value, loc: ext.value.loc });
    else if (ext.value.kind === 'seq') {
      for (const item of ext.value.items) {
        if (item.kind === 'scalar' && typeof item.value === 'string') parents.push({ name: item.value, loc: item.loc });
        else diags.error('GANTRY_E_INVALID_VALUE', `extends expects job or template names, not ${describe(item)}`, item.loc);
      }
    } else diags.error('GANTRY_E_INVALID_VALUE', `extends expects a job or template name or a list of them, not ${describe(ext.value)}`, ext.value.loc);

    for (const p of parents) {
      const parent = defs.get(p.name);
      if (!parent) {
        diags.error('GANTRY_E_EXTENDS_MISSING', `\`${name}\` extends \`${p.name}\`, which is not defined${didYouMean(p.name, defs.keys())}`, p.loc);
        continue;
      }
      const at = visiting.indexOf(p.name);
      if (at >= 0) {
        diags.error('GANTRY_E_EXTENDS_CYCLE', `extends form a cycle: ${[...visiting.slice(at), p.name].join(' -> ')}`, p.loc);
        continue;
      }
      const resolved = resolve(p.name, parent);
      const levels = (depth.get(p.name) ?? 0) + 1;
      if (levels > MAX_DEPTH) {
        diags.error('GANTRY_E_EXTENDS_CYCLE', `\`${name}\` extends more than ${MAX_DEPTH} levels deep (through ${p.name})`, p.loc);
        continue;
      }
      depth.set(name, Math.max(depth.get(name) ?? 0, levels));
      merged = merged ? mergeMaps(merged, resolved) : resolved;
    }
    visiting.pop();
    if (!depth.has(name)) depth.set(name, 0);
    const own = withoutKeys(def, EXTENDS);
    const out = merged ? { ...mergeMaps(merged, own), loc: def.loc } : own;
    done.set(name, out);
    return out;
  }

  for (const [name, def] of defs) resolve(name, def);
  return done;
}
