// The state machines of PRODUCT.md. States move one way: every legal move is listed here and
// the store refuses any other, so a duplicate or late message can never move a state backwards.

export const JOB_STATUSES = [
  'created',
  'pending',
  'running',
  'manual',
  // A `when: delayed` job whose turn came: it waits until its `scheduledAt` (now + `start_in`),
  // then is queued as any other (GitLab's status of that name). No attempt exists until then.
  'scheduled',
  // A job deploying to a protected environment, held until its required approvals are given
  // (docs/API.md, "Protected environments"): no attempt exists until then.
  'waiting_for_approval',
  'success',
  'failed',
  'canceled',
  'skipped',
  'timed_out',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export type FinishedJobStatus = Extract<JobStatus, 'success' | 'failed' | 'canceled' | 'skipped' | 'timed_out'>;

const JOB_MOVES: Record<JobStatus, readonly JobStatus[]> = {
  created: ['pending', 'manual', 'scheduled', 'waiting_for_approval', 'skipped', 'canceled'],
  manual: ['pending', 'waiting_for_approval', 'skipped', 'canceled'],
  // Due, or played ("Run now"): pending (or waiting for approval); unscheduled: manual, as GitLab.
  scheduled: ['pending', 'waiting_for_approval', 'manual', 'canceled'],
  // Approved: pending. Rejected: failed (`deployment_rejected`, as GitLab). Canceled with its pipeline.
  waiting_for_approval: ['pending', 'failed', 'canceled'],
  pending: ['running', 'canceled', 'skipped'],
  // A running job stays running across automatic retries: its attempts carry the detail.
  running: ['success', 'failed', 'canceled', 'timed_out'],
  success: [],
  failed: [],
  canceled: [],
  skipped: [],
  timed_out: [],
};

export function canMoveJob(from: JobStatus, to: JobStatus): boolean {
  return JOB_MOVES[from].includes(to);
}

/** The statuses a job may be in for a move to `to` to be legal. */
export function jobSourcesOf(to: JobStatus): JobStatus[] {
  return JOB_STATUSES.filter((from) => JOB_MOVES[from].includes(to));
}

export function isFinishedJob(s: JobStatus): s is FinishedJobStatus {
  return JOB_MOVES[s].length === 0;
}

export const ATTEMPT_STATUSES = ['pending', 'running', 'success', 'failed', 'canceled', 'timed_out'] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];
export type FinishedAttemptStatus = Exclude<AttemptStatus, 'pending' | 'running'>;

const ATTEMPT_MOVES: Record<AttemptStatus, readonly AttemptStatus[]> = {
  pending: ['running', 'canceled', 'failed'],
  running: ['success', 'failed', 'canceled', 'timed_out'],
  success: [],
  failed: [],
  canceled: [],
  timed_out: [],
};

export function canMoveAttempt(from: AttemptStatus, to: AttemptStatus): boolean {
  return ATTEMPT_MOVES[from].includes(to);
}
export function attemptSourcesOf(to: AttemptStatus): AttemptStatus[] {
  return ATTEMPT_STATUSES.filter((from) => ATTEMPT_MOVES[from].includes(to));
}
export function isFinishedAttempt(s: AttemptStatus): s is FinishedAttemptStatus {
  return ATTEMPT_MOVES[s].length === 0;
}

/** Why an attempt did not succeed; the names follow GitLab's `retry:when` reasons where they overlap. */
export const FAILURE_REASONS = [
  'script_failure',
  'timeout',
  'agent_lost',
  'canceled',
  'runner_system_failure',
  'missing_dependency_failure',
  // The job's sandbox reached its memory limit and the kernel's OOM killer ended a process of it.
  'out_of_memory',
  // A deployment to a protected environment that a person rejected (GitLab's reason of that name).
  'deployment_rejected',
  // Stopped by the server: its project ran out of compute minutes under a hard limit (RUNNING.md,
  // "Compute minutes and quotas"), once the slice reserved for it had run.
  'quota_exceeded',
  // A trigger job whose child pipeline could not be created: its file is invalid, missing, or
  // makes no job (GitLab's reason of that name); the job's JSON says why (downstreamError).
  'downstream_pipeline_creation_failed',
  // A trigger job of a pipeline already MAX_DESCENDANTS_DEPTH levels down (GitLab's reason of that name).
  'reached_max_descendant_pipelines_depth',
  // A `strategy: depend` trigger job whose child pipeline failed (GitLab leaves the reason unset).
  'downstream_pipeline_failed',
  'unknown_failure',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/**
 * `waiting_for_approval` is a pipeline from a fork that nothing runs of until a maintainer approves
 * it (then `pending`, and on as any other) or rejects it (`canceled`); its jobs stay `created`.
 * `manual` is a pipeline blocked on a manual job that is not allowed to fail (GitLab calls it
 * "blocked"); it is a resting state, and playing the job moves the pipeline on to `running`.
 * `scheduled` is a pipeline with nothing running or queued whose next job is a delayed one waiting
 * for its time (GitLab's composite status: lib/gitlab/ci/status/composite.rb); it moves on to
 * `running` by itself when that job is due.
 */
export const PIPELINE_STATUSES = ['created', 'waiting_for_approval', 'pending', 'running', 'manual', 'scheduled', 'success', 'failed', 'canceled', 'skipped'] as const;
export type PipelineStatus = (typeof PIPELINE_STATUSES)[number];

const PIPELINE_MOVES: Record<PipelineStatus, readonly PipelineStatus[]> = {
  created: ['waiting_for_approval', 'pending', 'running', 'manual', 'scheduled', 'success', 'failed', 'canceled', 'skipped'],
  waiting_for_approval: ['pending', 'canceled'],
  pending: ['running', 'manual', 'scheduled', 'success', 'failed', 'canceled', 'skipped'],
  // A pipeline can run and still end with every job skipped (only on_failure jobs, say).
  running: ['manual', 'scheduled', 'success', 'failed', 'canceled', 'skipped'],
  manual: ['running', 'scheduled', 'success', 'failed', 'canceled', 'skipped'],
  scheduled: ['running', 'manual', 'success', 'failed', 'canceled', 'skipped'],
  success: [],
  failed: [],
  canceled: [],
  skipped: [],
};
export function canMovePipeline(from: PipelineStatus, to: PipelineStatus): boolean {
  return PIPELINE_MOVES[from].includes(to);
}
export function pipelineSourcesOf(to: PipelineStatus): PipelineStatus[] {
  return PIPELINE_STATUSES.filter((from) => PIPELINE_MOVES[from].includes(to));
}
export function isFinishedPipeline(s: PipelineStatus): boolean {
  return PIPELINE_MOVES[s].length === 0;
}

export const PIPELINE_SOURCES = ['push', 'merge_request_event', 'web', 'api', 'schedule', 'trigger', 'parent_pipeline'] as const;
export type PipelineSource = (typeof PIPELINE_SOURCES)[number];
