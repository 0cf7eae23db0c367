// The JSON shapes of a pipeline and its jobs, as the API returns them and `gantry run --json`
// prints them. Types only, over the domain's pure modules, so that the web UI (ui/api/types.ts)
// reads the very shapes the server writes: this file must not import anything that needs Node.

import type { JobStatus, PipelineSource, PipelineStatus } from '../domain/status.js';
import type { TriggeredBy } from '../domain/triggered-by.js';

/** A pipeline without its jobs: an item of a pipeline list (CLI `pipelines --json`, API lists, project events). */
export interface PipelineSummaryJson {
  id: number;
  projectId: number;
  status: PipelineStatus;
  ref: string;
  sha: string;
  source: PipelineSource;
  /** False for a pull request from a fork: no secrets, caches of its own. */
  trusted: boolean;
  /** Who or what started it (a token's owner, a schedule, a trigger token, a forge account); null if not recorded. */
  triggeredBy: TriggeredBy | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * Set when it had to wait for a maintainer's approval (a fork's pull request): why; once approved,
   * by whom and when. Null for a pipeline that never waited.
   */
  approval: { reason: string; approvedBy: string | null; approvedAt: string | null } | null;
  /** A child pipeline's parent pipeline and the trigger job that made it (source `parent_pipeline`); null for any other. */
  parent: { pipelineId: number; jobId: number } | null;
  /** The average of its jobs' coverage, rounded to 2 decimals (GitLab's); null when no job gave one. */
  coverage: number | null;
}

export interface PipelineJson extends PipelineSummaryJson {
  /** The variables given with the trigger (not the pipeline file's). */
  variables: Record<string, string>;
  /** The pipelines its trigger jobs made, oldest first, with their status now. */
  children: { pipelineId: number; jobId: number; status: PipelineStatus }[];
  jobs: JobJson[];
}

export interface JobJson {
  id: number;
  name: string;
  stage: string;
  status: JobStatus;
  /** Whether the job's failure is allowed: `allow_failure: true`, or it failed with one of `allowFailureExitCodes`. */
  allowFailure: boolean;
  /** `allow_failure: exit_codes`: the exit codes a failure is allowed with; null when not written so. */
  allowFailureExitCodes: number[] | null;
  when: string;
  /** The names of the jobs this one waits for by `needs:` (the DAG's edges); null without `needs:` (stage order). */
  needs: string[] | null;
  attempts: number;
  exitCode: number | null;
  failureReason: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** A `scheduled` (delayed) job: when it will be queued (now + `start_in` when its turn came); null otherwise. */
  scheduledAt: string | null;
  /** The `environment:` name it deploys to, or null. */
  environment: string | null;
  /** The percentage its latest attempt's log gave by `coverage: '/regex/'` (0..100); null: none. */
  coverage: number | null;
  /** A trigger job (`trigger:`): the server runs it, no agent; it makes a child pipeline. */
  trigger: boolean;
  /** A trigger job's child pipeline (its newest, after a retry), with its status; null before it exists and for other jobs. */
  downstream: { pipelineId: number; status: PipelineStatus } | null;
  /** Why a trigger job's child pipeline could not be created (FILE:LINE:COLUMN: message, one per line); null otherwise. */
  downstreamError: string | null;
}
