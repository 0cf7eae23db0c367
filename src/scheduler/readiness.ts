// Decides, from the states of a pipeline's jobs alone, which waiting jobs move next and whether the
// pipeline is over. Pure functions: the local runner and the server apply the decisions to the store.
//
// GitLab's rules, which these reproduce:
// - a job waits until every job it depends on (its `needs`, or all jobs of earlier stages) is done;
// - an allowed failure counts as a success for the jobs after it;
// - `on_success` runs only if nothing it depends on failed, `on_failure` only if something did,
//   `always` regardless; `manual` becomes playable when it would have run;
// - in stage mode a non-blocking manual job (allow_failure: true) does not hold later stages back,
//   but a job that `needs` a manual job waits for it to be played;
// - a skipped job does not fail later stages, but a job that `needs` a skipped job is skipped too;
// - `delayed` becomes `scheduled` when it would have run, and pending at its time (the caller's
//   clock: the store or `gantry run`); what depends on it waits for it as for any running job.

import type { JobStatus, PipelineStatus } from '../domain/status.js';
import type { AllowFailure, CompiledJob } from '../pipeline/types.js';

export interface JobView {
  name: string;
  status: JobStatus;
  exitCode: number | null;
  spec: Pick<CompiledJob, 'needs' | 'needsMode' | 'when' | 'allowFailure'>;
}

export type JobDecision = { name: string; to: 'pending' | 'manual' | 'scheduled' | 'skipped' };

export function isFailureAllowed(allow: AllowFailure, exitCode: number | null): boolean {
  if (typeof allow === 'boolean') return allow;
  return exitCode !== null && allow.exitCodes.includes(exitCode);
}

type Outcome = 'waiting' | 'ok' | 'failed' | 'skipped';

function outcomeOf(dep: JobView, dependentMode: 'stage' | 'dag'): Outcome {
  switch (dep.status) {
    case 'created':
    case 'pending':
    case 'running':
    case 'waiting_for_approval':
    case 'scheduled':
      return 'waiting';
    case 'manual':
      return dependentMode === 'stage' && dep.spec.allowFailure === true ? 'ok' : 'waiting';
    case 'success':
      return 'ok';
    case 'failed':
    case 'timed_out':
      return isFailureAllowed(dep.spec.allowFailure, dep.exitCode) ? 'ok' : 'failed';
    case 'canceled':
      return 'failed';
    case 'skipped':
      return dependentMode === 'stage' ? 'ok' : 'skipped';
  }
}

/** The decision for one `created` job, or null while what it depends on is not done. */
export function decide(job: JobView, byName: ReadonlyMap<string, JobView>): JobDecision | null {
  let failed = false;
  let skipped = false;
  for (const edge of job.spec.needs) {
    const dep = byName.get(edge.job);
    if (!dep) continue; // the compiler dropped it (optional need of an excluded job)
    const o = outcomeOf(dep, job.spec.needsMode);
    if (o === 'waiting') return null;
    if (o === 'failed') failed = true;
    if (o === 'skipped') skipped = true;
  }
  const name = job.name;
  switch (job.spec.when) {
    case 'on_success':
      return { name, to: failed || skipped ? 'skipped' : 'pending' };
    case 'manual':
      return { name, to: failed || skipped ? 'skipped' : 'manual' };
    case 'delayed':
      return { name, to: failed || skipped ? 'skipped' : 'scheduled' };
    case 'on_failure':
      return { name, to: failed ? 'pending' : 'skipped' };
    case 'always':
      return { name, to: 'pending' };
  }
}

/**
 * Every decision that can be taken now, applied to a working copy until nothing changes (a
 * skip can make further skips decidable at once), in pipeline order.
 */
export function decideAll(jobs: readonly JobView[]): JobDecision[] {
  const byName = new Map(jobs.map((j) => [j.name, { ...j }]));
  const decisions: JobDecision[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const job of byName.values()) {
      if (job.status !== 'created') continue;
      const d = decide(job, byName);
      if (!d) continue;
      decisions.push(d);
      job.status = d.to;
      changed = true;
    }
  }
  return decisions;
}

// A job waiting for its deployment's approvals keeps the pipeline running: someone will decide.
const ACTIVE: ReadonlySet<JobStatus> = new Set(['pending', 'running', 'waiting_for_approval']);

/**
 * While a delayed job waits for its time and nothing runs or is queued: `scheduled`, or `manual`
 * when a blocking manual job waits too (GitLab's composite status, lib/gitlab/ci/status/composite.rb:
 * `elsif any_of?(:manual) 'manual' elsif any_of?(:scheduled) 'scheduled'`); else null.
 * Call after applying decideAll's decisions.
 */
export function waitingStatus(jobs: readonly JobView[]): 'manual' | 'scheduled' | null {
  if (jobs.some((j) => ACTIVE.has(j.status)) || !jobs.some((j) => j.status === 'scheduled')) return null;
  return jobs.some((j) => j.status === 'manual' && j.spec.allowFailure !== true) ? 'manual' : 'scheduled';
}

/**
 * The pipeline's final status, or null while it can still make progress on its own.
 * Call after applying decideAll's decisions. `canceled` is decided by the caller, not here.
 */
export function finalStatus(jobs: readonly JobView[]): PipelineStatus | null {
  // A scheduled job will be queued at its time: the pipeline is not over.
  if (jobs.some((j) => ACTIVE.has(j.status) || j.status === 'scheduled')) return null;
  if (decideAll(jobs).length > 0) return null;
  let failed = false;
  let blocked = false;
  let allSkipped = jobs.length > 0;
  for (const j of jobs) {
    if (j.status !== 'skipped') allSkipped = false;
    if ((j.status === 'failed' || j.status === 'timed_out') && !isFailureAllowed(j.spec.allowFailure, j.exitCode)) failed = true;
    if (j.status === 'canceled') failed = true;
    if (j.status === 'manual' && j.spec.allowFailure !== true) blocked = true;
  }
  if (failed) return 'failed';
  if (blocked) return 'manual';
  if (allSkipped) return 'skipped';
  return 'success';
}
