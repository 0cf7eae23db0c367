// Reading `needs:` entries. Resolution against the expanded job list happens in dag.ts.

import type { SourceLocation } from '../domain/errors.js';
import { describe, entry, type PNode } from './node.js';
import type { Reader } from './values.js';

export interface NeedDef {
  job: string;
  artifacts: boolean;
  optional: boolean;
  loc: SourceLocation;
  /** `needs:parallel:matrix`: only the instances with these matrix values; null = all instances. */
  matrix: Record<string, string>[] | null;
}

export function readNeeds(r: Reader, node: PNode, what: string): NeedDef[] | undefined {
  if (node.kind !== 'seq') return r.invalid(node, `${what} expects a list of job names (or \`[]\`), not ${describe(node)}`);
  const out: NeedDef[] = [];
  for (const item of node.items.flatMap((i) => (i.kind === 'seq' ? i.items : [i]))) {
    if (item.kind === 'scalar' && typeof item.value === 'string') {
      out.push({ job: item.value, artifacts: true, optional: false, loc: item.loc, matrix: null });
      continue;
    }
    if (item.kind !== 'map') {
      r.invalid(item, `${what} expects job names or \`{job: name, artifacts: bool, optional: bool}\`, not ${describe(item)}`);
      continue;
    }
    if (entry(item, 'pipeline') || entry(item, 'project')) {
      r.invalid(item, `${what}: needs on other pipelines or projects is not supported; name a job of this pipeline`);
      continue;
    }
    r.keys(item, what, ['job', 'artifacts', 'optional', 'parallel']);
    const job = entry(item, 'job');
    if (!job) {
      r.invalid(item, `${what}: each entry needs \`job: name\``);
      continue;
    }
    const name = r.str(job.value, `${what}:job`);
    if (name === undefined) continue;
    const art = entry(item, 'artifacts');
    const opt = entry(item, 'optional');
    const need: NeedDef = {
      job: name,
      artifacts: art ? (r.bool(art.value, `${what}:artifacts`) ?? true) : true,
      optional: opt ? (r.bool(opt.value, `${what}:optional`) ?? false) : false,
      loc: job.value.loc,
      matrix: null,
    };
    const par = entry(item, 'parallel');
    if (par) need.matrix = readNeedsMatrix(r, par.value, `${what}:parallel`) ?? null;
    out.push(need);
  }
  return out;
}

function readNeedsMatrix(r: Reader, node: PNode, what: string): Record<string, string>[] | undefined {
  const map = r.map(node, what);
  if (!map) return undefined;
  r.keys(map, what, ['matrix']);
  const m = entry(map, 'matrix');
  if (!m) return r.invalid(map, `${what} expects \`matrix: [...]\``);
  if (m.value.kind !== 'seq') return r.invalid(m.value, `${what}:matrix expects a list of variable mappings`);
  const out: Record<string, string>[] = [];
  for (const item of m.value.items) {
    const im = r.map(item, `${what}:matrix`);
    if (!im) continue;
    // As in parallel:matrix, a list of values means one instance per value.
    const partial = r.matrixCombos(im, `${what}:matrix`);
    if (!partial) continue;
    out.push(...partial);
  }
  return out;
}
