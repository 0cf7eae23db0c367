// The JSON shapes the UI reads from /api/v1 (docs/API.md; src/views/pipeline-json.ts on the server).

export type PipelineStatus = 'created' | 'pending' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped' | 'manual' | 'timed_out';
export type JobStatus = PipelineStatus;

export interface Project {
  id: number;
  name: string;
  gitUrl: string;
  createdAt: string;
}

export interface PipelineSummary {
  id: number;
  projectId: number;
  status: PipelineStatus;
  ref: string;
  sha: string;
  source: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface Job {
  id: number;
  name: string;
  stage: string;
  status: JobStatus;
  allowFailure: boolean | { exitCodes: number[] };
  when: string;
  /** Names of the jobs this one needs; null: no `needs:` (stage order). */
  needs: string[] | null;
  attempts: number;
  exitCode: number | null;
  failureReason: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface Pipeline extends PipelineSummary {
  variables: Record<string, string>;
  jobs: Job[];
}

export interface Attempt {
  number: number;
  status: string;
  agent: string | null;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  failureReason: string | null;
  logBytes: number;
}

export interface JobDetail extends Job {
  pipelineId: number;
  projectId: number;
  attemptList: Attempt[];
}

export interface Agent {
  id: number;
  name: string;
  tags: string[];
  concurrency?: number;
  version?: string;
  status: 'idle' | 'busy' | 'offline';
  lastSeenAt: string | null;
  createdAt?: string;
  currentJobs: number[];
}

export interface Page<T> {
  items: T[];
  next: number | null;
}

export const FINISHED: ReadonlySet<string> = new Set(['success', 'failed', 'canceled', 'skipped', 'timed_out']);
export const PIPELINE_STATUSES: PipelineStatus[] = ['created', 'pending', 'running', 'success', 'failed', 'canceled', 'skipped', 'manual', 'timed_out'];
export const PIPELINE_SOURCES = ['push', 'merge_request_event', 'web', 'api', 'schedule', 'trigger'];
