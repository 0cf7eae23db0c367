// GitLab's deep merge, used by include and extends: mappings merge key by key, anything else
// (lists included) is replaced by the overriding side. Nodes keep their own locations.

import type { PEntry, PMap, PNode } from './node.js';

export function deepMerge(base: PNode, over: PNode): PNode {
  if (base.kind !== 'map' || over.kind !== 'map') return over;
  return mergeMaps(base, over);
}

export function mergeMaps(base: PMap, over: PMap): PMap {
  const entries: PEntry[] = base.entries.slice();
  const index = new Map<string, number>();
  entries.forEach((e, i) => index.set(e.key, i));
  for (const e of over.entries) {
    const i = index.get(e.key);
    if (i === undefined) {
      index.set(e.key, entries.length);
      entries.push(e);
    } else {
      const old = entries[i]!;
      entries[i] = { key: e.key, keyLoc: e.keyLoc, value: deepMerge(old.value, e.value) };
    }
  }
  return { kind: 'map', entries, loc: over.loc };
}

export function withoutKeys(map: PMap, keys: ReadonlySet<string>): PMap {
  return { kind: 'map', entries: map.entries.filter((e) => !keys.has(e.key)), loc: map.loc };
}
