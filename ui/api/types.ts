// The JSON shapes the UI reads from /api/v1 (docs/API.md). A pipeline's and a job's are the
// server's own (src/views/pipeline-json-types.ts, types only: nothing of the server is bundled);
// the others follow the routes' schemas.

import type { JobJson, PipelineJson, PipelineSummaryJson } from '../../src/views/pipeline-json-types.js';
import type { QueueReasonJson } from '../../src/views/queue-reason-text.js';

export type { JobStatus, PipelineSource, PipelineStatus } from '../../src/domain/status.js';
export type { TriggeredBy } from '../../src/domain/triggered-by.js';
export type { IsolationCheck, IsolationLevel, IsolationProbe, JobLimits, NetworkPolicy, SandboxRequirement } from '../../src/domain/isolation.js';
import type { IsolationCheck, IsolationLevel, JobLimits, NetworkPolicy, SandboxRequirement } from '../../src/domain/isolation.js';
import type { TriggeredBy as TriggeredByOf } from '../../src/domain/triggered-by.js';
import type { ProjectRetention } from '../../src/domain/retention.js';
export type PipelineSummary = PipelineSummaryJson;
export type Pipeline = PipelineJson;
export type Job = JobJson;

export interface Project {
  id: number;
  name: string;
  gitUrl: string;
  createdAt: string;
  maxRunning?: number | null;
  maxRunningPerPipeline?: number | null;
  autoCancel?: boolean;
  /** Absent from a server older than badges. */
  publicBadges?: boolean;
  requireSandbox?: boolean;
  network?: NetworkPolicy;
  forkNetwork?: NetworkPolicy;
  jobLimits?: JobLimits;
  /** Absent from a server older than weighted fair share. */
  weight?: number;
  urgentJobs?: string[];
  /** The project's own retention (null fields: the instance's default); absent from a server older than retention. */
  retention?: ProjectRetention;
}

export interface Variable {
  key: string;
  masked: boolean;
  updatedAt: string;
}

export interface Schedule {
  id: number;
  projectId: number;
  description: string | null;
  cron: string;
  timezone: string;
  ref: string;
  variables: Record<string, string>;
  active: boolean;
  nextRunAt: string | null;
  lastFiredAt: string | null;
  lastPipelineId: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface TriggerToken {
  id: number;
  description: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  /** Only in the answer that created it. */
  token?: string;
}

export interface ForgeConfig {
  provider: 'github' | 'gitea' | 'gitlab';
  baseUrl: string;
  repository: string;
  context: string;
  updatedAt: string;
}

/** GET /jobs/:id/artifacts */
export interface Artifact {
  attempt: number;
  name: string | null;
  size: number;
  files: number;
  createdAt: string;
  expiresAt: string | null;
  expired: boolean;
  /** Past expiresAt but kept as its ref's latest successful pipeline's (keepLatestArtifacts). Absent from older servers. */
  keptAsLatest?: boolean;
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
  /** A deployment to a protected environment: the approvals it needs and the decisions made. */
  approvals?: { required: number; deployers: string[]; decisions: Decision[] } | null;
  /** What its newest attempt passed to later jobs by `artifacts:reports:dotenv`; absent from an older server. */
  dotenv?: { key: string; value: string }[];
}

export interface Decision {
  name: string;
  decision: 'approved' | 'rejected';
  comment: string | null;
  at: string;
}

export interface Deployment {
  jobId: number;
  jobName: string;
  pipelineId: number;
  ref: string;
  sha: string;
  status: string;
  triggeredBy: TriggeredByOf | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  approvals?: Decision[];
}

export interface Environment {
  name: string;
  requiredApprovals: number;
  deployers: string[];
  lastDeployment: Deployment | null;
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
  /** Absent from a server older than isolation. */
  isolation?: IsolationLevel;
  limits?: JobLimits;
  isolationCheck?: IsolationCheck | null;
  sandboxReady?: boolean;
  /** Absent from a server older than pools. */
  pool?: string;
}

/** GET /queue: why a pending job waits (docs/API.md, "The queue"). */
export type QueueReason = QueueReasonJson;

export interface QueueEntry {
  attemptId: number;
  attempt: number;
  jobId: number;
  jobName: string;
  stage: string;
  pipelineId: number;
  projectId: number;
  project: string;
  ref: string;
  tags: string[];
  priority: number;
  /** Absent from a server older than urgent jobs. */
  urgent?: boolean;
  resourceGroup: string | null;
  queuedAt: string | null;
  reason: QueueReason;
}

/** A project role (docs/API.md, "Roles"), least to most. */
export type Role = 'viewer' | 'developer' | 'maintainer';
export const ROLES: readonly Role[] = ['viewer', 'developer', 'maintainer'];

export interface Identity {
  id: number;
  username: string;
  admin: boolean;
}

/** GET /session: who is calling. */
export type Session =
  | {
      kind: 'user';
      user: Identity;
      roles: { projectId: number; role: Role }[];
      /** Signed in by cookie: the token every write sends as X-CSRF-Token. */
      csrfToken?: string;
      expiresAt?: string;
      /** Signed in with a personal access token instead. */
      token?: { id: number; readOnly: boolean; projects: number[] | null; expiresAt: string | null };
    }
  | { kind: 'admin-token' }
  | { kind: 'project-token'; projectId: number | null };

/** GET /users/:username/tokens */
export interface PersonalToken {
  id: number;
  description: string;
  projects: number[] | null;
  readOnly: boolean;
  expiresAt: string | null;
  expired: boolean;
  createdAt: string;
  lastUsedAt: string | null;
  /** Only in the answer that created it. */
  token?: string;
}

/** GET /projects/:project/members */
export interface Member {
  userId: number;
  username: string;
  role: Role;
  createdAt: string;
  updatedAt: string;
}

/** GET /projects/:project/audit, GET /audit: one change, who made it, when, from where. */
export interface AuditEntry {
  id: number;
  at: string;
  action: string;
  actor:
    | { kind: 'user'; userId: number; username: string; via: 'session' | 'token'; tokenId?: number }
    | { kind: 'admin-token' | 'project-token'; tokenId: number }
    | { kind: 'anonymous' };
  target: { type: string; id: string | null };
  projectId: number | null;
  address: string | null;
  details: Record<string, unknown> | null;
}

export interface Page<T> {
  items: T[];
  next: number | null;
}

export const FINISHED: ReadonlySet<string> = new Set(['success', 'failed', 'canceled', 'skipped', 'timed_out']);
// The server's lists (a few hundred bytes of the bundle): a filter offers exactly what the API accepts.
export { PIPELINE_SOURCES, PIPELINE_STATUSES } from '../../src/domain/status.js';

/** A project's compute minutes in a month (GET /projects/:project/usage). */
export interface Usage {
  month: string;
  limitMinutes: number | null;
  grantedMinutes: number;
  usedMinutes: number;
  reservedMinutes: number;
  remainingMinutes: number | null;
  byPool: Record<string, { minutes: number; jobSeconds: number }>;
  days: UsageDay[];
}

/** One UTC day's consumed minutes by pool. */
export interface UsageDay {
  day: string;
  byPool: Record<string, number>;
}

/** The instance's compute minutes in a month (GET /usage, admins). */
export interface InstanceUsage {
  month: string;
  usedMinutes: number;
  days: UsageDay[];
  projects: (Omit<Usage, 'days'> & { project: string; projectId: number })[];
}

/** GET /projects/:project/insights (src/domain/insights.ts, plus `truncated`). */
export type { DayInsight, FlakyJob, SlowJob } from '../../src/domain/insights.js';
import type { Insights as InsightsOf } from '../../src/domain/insights.js';
export type ProjectInsights = InsightsOf & { truncated: boolean };

/** GET /pipelines/:id/timeline. */
export interface TimelineAttempt {
  number: number;
  status: string;
  agent: string | null;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}
export interface TimelineJob {
  id: number;
  name: string;
  stage: string;
  status: string;
  needs: string[] | null;
  attempts: TimelineAttempt[];
}
export interface PipelineTimeline {
  pipelineId: number;
  status: string;
  createdAt: string;
  finishedAt: string | null;
  jobs: TimelineJob[];
  criticalPath: number[];
}

/** POST /projects/:project/lint. */
export interface LintDiagnostic {
  file: string;
  line: number;
  column: number;
  code: string;
  message: string;
}
export interface LintAnswer {
  valid: boolean;
  file: string;
  ref: string;
  sha: string;
  errors: LintDiagnostic[];
  warnings: LintDiagnostic[];
  filtered: string | null;
  stages: string[];
  jobs: Array<{ name: string; stage: string; needs: string[] | null; when: string; allowFailure: boolean }>;
  left: Array<{ name: string; reason: string }>;
}
