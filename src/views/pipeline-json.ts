// The public shape of a pipeline: what `gantry run --json` prints and the HTTP API returns.

import type { Job, Pipeline, PipelineWithJobs } from '../store/store.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface PipelineJson {
  id: number;
  projectId: number;
  status: string;
  ref: string;
  sha: string;
  source: string;
  /** False for a pull request from a fork: no secrets, caches of its own. */
  trusted: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The variables given with the trigger (not the pipeline file's). */
  variables: Record<string, string>;
  jobs: JobJson[];
}

export interface JobJson {
  id: number;
  name: string;
  stage: string;
  status: string;
  allowFailure: boolean | { exitCodes: number[] };
  when: string;
  /** The names of the jobs this one waits for by `needs:` (the DAG's edges); null without `needs:` (stage order). */
  needs: string[] | null;
  attempts: number;
  exitCode: number | null;
  failureReason: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export function pipelineJson(p: PipelineWithJobs): PipelineJson {
  return {
    id: p.pipeline.id,
    projectId: p.pipeline.projectId,
    status: p.pipeline.status,
    ref: p.pipeline.ref,
    sha: p.pipeline.sha,
    source: p.pipeline.source,
    trusted: p.pipeline.trusted,
    createdAt: new Date(p.pipeline.createdAt).toISOString(),
    startedAt: iso(p.pipeline.startedAt),
    finishedAt: iso(p.pipeline.finishedAt),
    variables: p.pipeline.variables,
    jobs: p.jobs.map(jobJson),
  };
}

export function jobJson(j: Job): JobJson {
  return {
    id: j.id,
    name: j.name,
    stage: j.stage,
    status: j.status,
    allowFailure: j.spec.allowFailure,
    when: j.spec.when,
    needs: j.spec.needsMode === 'dag' ? j.spec.needs.map((n) => n.job) : null,
    attempts: j.attemptCount,
    exitCode: j.exitCode,
    failureReason: j.failureReason,
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
  };
}

/** A pipeline without its jobs: an item of a pipeline list (CLI `pipelines --json`, API lists). */
export function pipelineSummaryJson(p: Pipeline) {
  return {
    id: p.id,
    projectId: p.projectId,
    status: p.status,
    ref: p.ref,
    sha: p.sha,
    source: p.source,
    trusted: p.trusted,
    createdAt: new Date(p.createdAt).toISOString(),
    startedAt: iso(p.startedAt),
    finishedAt: iso(p.finishedAt),
  };
}
