// The job graph: `needs` resolved against the jobs that made it into this pipeline, implicit
// stage ordering for jobs without `needs`, artifact sources, and cycle detection.

import type { SourceLocation } from '../domain/errors.js';
import { didYouMean, type Diagnostics } from './diagnostics.js';
import type { NeedDef } from './needs.js';
import { matrixName } from './parallel.js';
import type { NeedEdge } from './types.js';

export interface DagJob {
  name: string;
  baseName: string;
  stageIndex: number;
  stage: string;
  loc: SourceLocation;
  needs: NeedDef[] | null;
  dependencies: { job: string; loc: SourceLocation }[] | null;
}

export interface DagResult {
  needs: NeedEdge[];
  needsMode: 'stage' | 'dag';
  artifactSources: string[];
}

/**
 * `defined` is every visible job name written in the file (for "unknown" versus "excluded by
 * rules"); `jobs` are the expanded jobs that are in this pipeline, in file order.
 */
export function buildDag(jobs: DagJob[], defined: Set<string>, diags: Diagnostics): DagResult[] {
  const byBase = new Map<string, DagJob[]>();
  const byName = new Map<string, DagJob>();
  for (const j of jobs) {
    byName.set(j.name, j);
    const list = byBase.get(j.baseName);
    if (list) list.push(j);
    else byBase.set(j.baseName, [j]);
  }
  // Sorted by stage once, so "all jobs of earlier stages" is a prefix.
  const byStage = jobs.filter((j) => !Number.isNaN(j.stageIndex)).sort((a, b) => a.stageIndex - b.stageIndex);

  const resolveName = (name: string): DagJob[] | null => byBase.get(name) ?? (byName.has(name) ? [byName.get(name)!] : null);

  // Where each edge was written, for pointing a cycle error at a `needs:` entry.
  const edgeLocs: Map<string, SourceLocation>[] = [];
  const results: DagResult[] = jobs.map((job) => {
    const needs: NeedEdge[] = [];
    const needLocs = new Map<string, SourceLocation>();
    edgeLocs.push(needLocs);
    if (job.needs !== null) {
      for (const n of job.needs) {
        let targets = resolveName(n.job);
        if (targets && n.matrix) {
          const wanted = new Set(n.matrix.map((c) => matrixName(n.job, c)));
          targets = targets.filter((t) => wanted.has(t.name));
          if (targets.length === 0 && !n.optional) {
            diags.error('GANTRY_E_NEEDS_UNKNOWN', `${job.name} needs ${[...wanted].join(', ')}, which is not a job of this pipeline`, n.loc);
            continue;
          }
        }
        if (!targets) {
          if (n.optional) continue;
          if (defined.has(n.job)) {
            diags.error(
              'GANTRY_E_NEEDS_UNKNOWN',
              `${job.name} needs ${n.job}, which is not in this pipeline (its rules or only/except exclude it); add \`optional: true\` to the need if that is expected`,
              n.loc,
            );
          } else {
            diags.error('GANTRY_E_NEEDS_UNKNOWN', `${job.name} needs ${n.job}, which is not defined${didYouMean(n.job, defined)}`, n.loc);
          }
          continue;
        }
        for (const t of targets) {
          if (t.stageIndex > job.stageIndex) {
            diags.error(
              'GANTRY_E_NEEDS_LATER_STAGE',
              `${job.name} (stage ${job.stage}) needs ${t.name}, which is in the later stage ${t.stage}: needs may only name jobs of the same or earlier stages`,
              n.loc,
            );
            continue;
          }
          if (needLocs.has(t.name)) continue;
          needLocs.set(t.name, n.loc);
          needs.push({ job: t.name, artifacts: n.artifacts, optional: n.optional });
        }
      }
    } else {
      for (const t of byStage) {
        if (t.stageIndex >= job.stageIndex) break;
        needs.push({ job: t.name, artifacts: true, optional: false });
      }
    }

    let deps: Set<string> | null = null;
    if (job.dependencies !== null) {
      deps = new Set();
      for (const d of job.dependencies) {
        const targets = resolveName(d.job);
        if (!targets) {
          // A dependency excluded by rules simply brings no artifacts.
          if (!defined.has(d.job)) diags.error('GANTRY_E_NEEDS_UNKNOWN', `${job.name} has dependency ${d.job}, which is not defined${didYouMean(d.job, defined)}`, d.loc);
          continue;
        }
        for (const t of targets) {
          // GitLab checks dependencies against needs only when needs lists something: beside
          // `needs: []` they are checked by stage order, as without needs (yaml_processor.rb).
          if (job.needs !== null && job.needs.length > 0) {
            if (!needLocs.has(t.name)) diags.error('GANTRY_E_INVALID_VALUE', `${job.name} has dependency ${t.name}, which must also be listed in its needs`, d.loc);
          } else if (t.stageIndex >= job.stageIndex) {
            diags.error('GANTRY_E_NEEDS_LATER_STAGE', `${job.name} has dependency ${t.name}, which is not in an earlier stage: dependencies may only name jobs of earlier stages`, d.loc);
          }
          deps.add(t.name);
        }
      }
    }
    const candidates = needs.filter((e) => e.artifacts).map((e) => e.job);
    const artifactSources = deps ? candidates.filter((n) => deps!.has(n)) : candidates;
    return { needs, needsMode: job.needs === null ? 'stage' : 'dag', artifactSources };
  });

  findCycles(jobs, results, edgeLocs, diags);
  return results;
}

function findCycles(jobs: DagJob[], results: DagResult[], edgeLocs: Map<string, SourceLocation>[], diags: Diagnostics): void {
  const index = new Map<string, number>();
  jobs.forEach((j, i) => index.set(j.name, i));
  const state = new Uint8Array(jobs.length); // 0 new, 1 on the stack, 2 done
  const stack: number[] = [];
  // Iterative DFS: a pipeline of hundreds of jobs must not hit the call-stack limit.
  for (let start = 0; start < jobs.length; start++) {
    if (state[start] !== 0) continue;
    const iters: number[] = [];
    stack.push(start);
    iters.push(0);
    state[start] = 1;
    while (stack.length > 0) {
      const u = stack[stack.length - 1]!;
      const edges = results[u]!.needs;
      const k = iters[iters.length - 1]!;
      if (k >= edges.length) {
        state[u] = 2;
        stack.pop();
        iters.pop();
        continue;
      }
      iters[iters.length - 1] = k + 1;
      const v = index.get(edges[k]!.job);
      if (v === undefined) continue;
      if (state[v] === 1) {
        const from = stack.indexOf(v);
        const path = [...stack.slice(from), v].map((i) => jobs[i]!.name);
        const loc = edgeLocs[u]!.get(jobs[v]!.name) ?? jobs[u]!.loc;
        diags.error('GANTRY_E_PIPELINE_CYCLE', `needs form a cycle: ${path.join(' -> ')}`, loc);
      } else if (state[v] === 0) {
        state[v] = 1;
        stack.push(v);
        iters.push(0);
      }
    }
  }
}
