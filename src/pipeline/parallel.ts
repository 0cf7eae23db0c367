// `parallel`: one definition becomes several jobs, named as GitLab names them so that `needs`
// and scripts written for GitLab keep working.

import type { ParallelDef } from './job.js';

export interface Instance {
  name: string;
  matrix: Record<string, string> | null;
  parallel: { index: number; total: number } | null;
}

export function matrixName(base: string, combo: Record<string, string>): string {
  return `${base}: [${Object.values(combo).join(', ')}]`;
}

export function expandParallel(base: string, def: ParallelDef | null): Instance[] {
  if (def === null) return [{ name: base, matrix: null, parallel: null }];
  if (def.kind === 'count') {
    return Array.from({ length: def.total }, (_, i) => ({
      name: `${base} ${i + 1}/${def.total}`,
      matrix: null,
      parallel: { index: i + 1, total: def.total },
    }));
  }
  // Matrix jobs get CI_NODE_INDEX/CI_NODE_TOTAL too, in GitLab as here.
  return def.combos.map((combo, i) => ({
    name: matrixName(base, combo),
    matrix: combo,
    parallel: { index: i + 1, total: def.combos.length },
  }));
}
