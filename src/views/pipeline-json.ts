// The public shape of a pipeline: what `gantry run --json` prints and the HTTP API returns. The
// shapes themselves are in pipeline-json-types.ts, which the web UI shares.

import { averageCoverage } from '../domain/coverage.js';
import { isFailureAllowed } from '../scheduler/readiness.js';
import type { Attempt, ChildPipeline, Job, Pipeline, PipelineWithJobs } from '../store/store.js';
import type { JobJson, PipelineJson, PipelineSummaryJson } from './pipeline-json-types.js';

export type { JobJson, PipelineJson, PipelineSummaryJson } from './pipeline-json-types.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A job's latest attempt among a pipeline's, or null before its first. */
export function latestAttempt(attempts: readonly Attempt[], jobId: number): Attempt | null {
  let latest: Attempt | null = null;
  for (const a of attempts) if (a.jobId === jobId && (latest === null || a.number > latest.number)) latest = a;
  return latest;
}

/** A job's coverage is its latest attempt's (a retry that prints none has none, as in GitLab). */
export function latestCoverage(attempts: readonly Attempt[], jobId: number): number | null {
  return latestAttempt(attempts, jobId)?.coverage ?? null;
}

export { averageCoverage };

/** A pipeline's coverage from its jobs' latest attempts (what its JSON and its list item show). */
export function pipelineCoverage(p: PipelineWithJobs): number | null {
  return averageCoverage(p.jobs.map((j) => latestCoverage(p.attempts, j.id)));
}

export function pipelineJson(p: PipelineWithJobs): PipelineJson {
  const children = p.children ?? [];
  // A trigger job's downstream pipeline is its newest child (a retried trigger job made another).
  const downstreamOf = (jobId: number) => children.filter((c) => c.jobId === jobId).at(-1) ?? null;
  const jobs = p.jobs.map((j) => jobJson(j, latestCoverage(p.attempts, j.id), downstreamOf(j.id)));
  return {
    id: p.pipeline.id,
    projectId: p.pipeline.projectId,
    status: p.pipeline.status,
    ref: p.pipeline.ref,
    sha: p.pipeline.sha,
    source: p.pipeline.source,
    trusted: p.pipeline.trusted,
    triggeredBy: p.pipeline.triggeredBy,
    createdAt: new Date(p.pipeline.createdAt).toISOString(),
    startedAt: iso(p.pipeline.startedAt),
    finishedAt: iso(p.pipeline.finishedAt),
    approval: approvalJson(p.pipeline),
    parent: parentJson(p.pipeline),
    variables: p.pipeline.variables,
    // The jobs' coverage is already read above: averaged here rather than looked up again.
    coverage: averageCoverage(jobs.map((j) => j.coverage)),
    children: children.map((c) => ({ pipelineId: c.pipelineId, jobId: c.jobId, status: c.status })),
    jobs,
  };
}

export function jobJson(j: Job, coverage: number | null = null, downstream: ChildPipeline | null = null): JobJson {
  return {
    id: j.id,
    name: j.name,
    stage: j.stage,
    status: j.status,
    // GitLab's API field is the effective answer: a job allowed to fail only with some exit codes
    // is `true` once it failed with one of them, and `false` before and otherwise.
    allowFailure: isFailureAllowed(j.spec.allowFailure, j.status === 'failed' || j.status === 'timed_out' ? j.exitCode : null),
    allowFailureExitCodes: typeof j.spec.allowFailure === 'boolean' ? null : j.spec.allowFailure.exitCodes,
    when: j.spec.when,
    needs: j.spec.needsMode === 'dag' ? j.spec.needs.map((n) => n.job) : null,
    attempts: j.attemptCount,
    exitCode: j.exitCode,
    failureReason: j.failureReason,
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
    scheduledAt: iso(j.scheduledAt ?? null),
    environment: j.spec.environment ?? null,
    coverage,
    trigger: j.spec.trigger !== undefined,
    downstream: downstream === null ? null : { pipelineId: downstream.pipelineId, status: downstream.status },
    downstreamError: j.downstreamError ?? null,
  };
}

function parentJson(p: Pipeline): PipelineSummaryJson['parent'] {
  return p.parent === null || p.parent === undefined ? null : { pipelineId: p.parent.pipelineId, jobId: p.parent.jobId };
}

function approvalJson(p: Pipeline): PipelineSummaryJson['approval'] {
  return p.approval === null ? null : { reason: p.approval.reason, approvedBy: p.approval.approvedBy, approvedAt: iso(p.approval.approvedAt) };
}

/** A pipeline without its jobs: an item of a pipeline list (CLI `pipelines --json`, API lists), with its coverage (store.pipelineCoverages). */
export function pipelineSummaryJson(p: Pipeline, coverage: number | null = null): PipelineSummaryJson {
  return {
    id: p.id,
    projectId: p.projectId,
    status: p.status,
    ref: p.ref,
    sha: p.sha,
    source: p.source,
    trusted: p.trusted,
    triggeredBy: p.triggeredBy,
    createdAt: new Date(p.createdAt).toISOString(),
    startedAt: iso(p.startedAt),
    finishedAt: iso(p.finishedAt),
    approval: approvalJson(p),
    parent: parentJson(p),
    coverage,
  };
}
