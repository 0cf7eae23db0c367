// The store's side of the agent protocol (docs/PROTOCOL.md) and of the server's scheduler: agents
// and their sessions, offers, leases, log chunks, completions, and the people's actions on
// pipelines of the fleet (cancel, play, retry). Every method is one transaction whose conditional
// writes decide what happened; each returns what happened instead of throwing for a fence.

import type { DotenvVariable } from '../domain/dotenv.js';
import type { IsolationCheck } from '../domain/isolation.js';
import type { EventEmitter } from 'node:events';
import type { AttemptId, JobId, PipelineId, ProjectId } from '../domain/ids.js';
import type { AttemptStatus, FailureReason, FinishedAttemptStatus } from '../domain/status.js';
import type { AgentIsolationFacts, SandboxRequirement } from '../domain/isolation.js';
import type { Attempt, EpochMs, Job, Pipeline, PipelineWithJobs, Project, StoredVariable } from './store.js';
import type { AuditFor } from './audit.js';
import type { ChildOutcome, CreateChildResult } from './sql/fleet/downstream.js';
import type { Month } from '../domain/compute-minutes.js';
import type { ConsumedTotal, DayUsage, GrantResult, ProjectUsage, Quota, QuotaView, Usage, UsageLine } from './compute-minutes.js';

export type AgentId = number & { readonly __agent: unique symbol };
export const asAgentId = (n: number) => n as AgentId;

/** What an agent says about itself, at registration and at each session. */
export interface AgentFacts {
  name: string;
  tags: string[];
  concurrency: number;
  version: string;
  platform: Record<string, string>;
  /** Absent from an agent older than isolation: it runs jobs at `none` (NO_ISOLATION). */
  isolation?: AgentIsolationFacts;
  /** The pool it runs jobs for (`gantry agent --pool`); absent from an agent older than pools: `default`. */
  pool?: string;
}

export interface Agent extends AgentFacts {
  id: AgentId;
  /** As reported at the latest session: the newest check wins. */
  isolation: AgentIsolationFacts;
  createdAt: EpochMs;
  lastSeenAt: EpochMs | null;
  deregisteredAt: EpochMs | null;
  sessionId: string | null;
  pool: string;
}

export interface AgentView extends Agent {
  status: 'idle' | 'busy' | 'offline';
  currentJobs: JobId[];
  /** The same jobs with their projects (a caller is shown only the jobs of projects it may see). */
  running: { jobId: JobId; projectId: ProjectId }[];
}

/** The scheduler's tunables that live in the server's configuration, not in a project. */
export interface SchedulerSettings {
  /** Lease length of a started attempt. */
  leaseMs: number;
  /** How long an offer waits for `start` before the attempt goes back to the queue. */
  offerTtlMs: number;
  /** Jobs running at once across the fleet; null: no limit. */
  maxRunning: number | null;
  /** `agent_lost` attempts a job gets retried for even without a `retry:` that covers them. */
  agentLostRetries: number;
  /** Kill grace announced to agents; a canceled attempt that never confirms ends after grace + lease. */
  killGraceMs: number;
}

/**
 * Why a pending attempt waits (GET /queue), checked in the take's order: offered to an agent
 * that has not started it yet; no online agent has its tags; a limit (the fleet's
 * GANTRY_MAX_RUNNING, the project's, the pipeline's); its resource group busy, or an older job
 * of the group waits first; every matching agent full; or `ready` for the next matching agent.
 * A job that needs the sandbox (`requirement`, sandboxRequirement()) counts only the online agents
 * with the tags that are sandbox-ready: `no_sandbox_agent` when none is, `sandbox_agents_busy`
 * when all of those are full. A job of a project that has spent its compute minutes waits for
 * them (`quota`) before anything else, as the take skips such a project.
 */
export type QueueReason =
  | { code: 'offered'; agentId: AgentId; agentName: string; until: EpochMs }
  | { code: 'no_agent'; tags: string[] }
  | { code: 'max_running' | 'project_max_running' | 'pipeline_max_running'; limit: number; running: number }
  | { code: 'resource_group_busy'; group: string; heldByJobId: JobId }
  | { code: 'resource_group_order'; group: string; behindJobId: JobId }
  | { code: 'agents_busy'; agents: number }
  | { code: 'no_sandbox_agent'; requirement: NonNullable<SandboxRequirement>; tags: string[] }
  | { code: 'sandbox_agents_busy'; requirement: NonNullable<SandboxRequirement>; agents: number }
  /**
   * The project's quota is spent this month (compute minutes): `usedMinutes` consumed, and
   * `reservedMinutes` held by its running jobs, of the `totalMinutes` its allowance and grants give.
   */
  | { code: 'quota'; project: string; usedMinutes: number; reservedMinutes: number; totalMinutes: number }
  | { code: 'ready' };

export interface QueueEntry {
  attemptId: AttemptId;
  attempt: number;
  jobId: JobId;
  jobName: string;
  stage: string;
  pipelineId: PipelineId;
  projectId: ProjectId;
  project: string;
  ref: string;
  tags: string[];
  /** The job's own `priority`. */
  priority: number;
  /** Its name matched one of the project's urgent job globs when it was queued: it goes before the project's other jobs. */
  urgent: boolean;
  resourceGroup: string | null;
  queuedAt: EpochMs | null;
  reason: QueueReason;
}

/** The fleet's gauges (gantry_agents, gantry_jobs_running, gantry_jobs_pending, gantry_oldest_pending_job_age_seconds). */
export interface FleetGauges {
  /** Every pool known: priced, or named by an agent seen within a week. */
  pools: string[];
  agents: { pool: string; state: 'idle' | 'busy' | 'offline'; count: number }[];
  running: { pool: string; count: number }[];
  /** By the pools whose agents could take the job ('' when none could) and the queue's reason code. */
  pending: { pool: string; reason: string; count: number }[];
  oldestPendingAt: { pool: string; queuedAt: EpochMs }[];
}

export interface TakenOffer {
  attempt: Attempt;
  job: Job;
  pipeline: Pipeline;
  project: Project;
  offeredUntil: EpochMs;
  /** The jobs whose artifacts this one gets (its spec's `artifactSources`), with their ids. */
  artifactSources: { jobId: JobId; name: string }[];
  /**
   * The dotenv variables the job receives: those of its artifact sources' newest attempts, merged
   * in the sources' order (src/domain/dotenv.ts, mergeDotenv).
   */
  dotenv: Record<string, string>;
  /** The project's variables, still encrypted. */
  projectVariables: StoredVariable[];
}

/** `ok` with the agent as the database has it now (its tags, concurrency and name of this session). */
export type SessionCheck = { kind: 'ok'; agent: Agent } | { kind: 'session-replaced' } | { kind: 'deregistered' };

export type StartResult =
  | { kind: 'ok'; leaseExpiresAt: EpochMs; attempt: Attempt }
  | { kind: 'offer-expired' }
  | { kind: 'not-found' }
  | { kind: 'fenced' };

/** Why a write for an attempt matched nothing, from the row read afterwards (PROTOCOL.md §8). */
export type Fence =
  | { kind: 'not-found' }
  | { kind: 'fenced'; attempt?: { status: string; failureReason: FailureReason | null } }
  | { kind: 'not-started' };

export type AppendResult =
  | { kind: 'ok'; received: number; cancel: boolean }
  | { kind: 'gap'; received: number }
  | Fence;

/** The per-attempt log size limit (docs/LOGS.md): the first `headBytes` and the last `tailBytes` are kept. */
export interface LogLimit {
  headBytes: number;
  tailBytes: number;
}

/** Bytes [offset, end) of a log and when they reached the server; `data` null is a hole (dropped by the size limit). */
export interface StoredLogPiece {
  offset: number;
  end: number;
  at: EpochMs;
  data: Buffer | null;
}

export type LogRead = { kind: 'chunks'; pieces: StoredLogPiece[] } | { kind: 'object'; sha256: string };

export interface LogState {
  attemptId: AttemptId;
  jobId: JobId;
  number: number;
  status: AttemptStatus;
  exitCode: number | null;
  failureReason: FailureReason | null;
  /** Bytes of stream the server holds (holes included). */
  received: number;
  /** The compacted object's SHA-256, or null while the log is in chunk rows (or once it expired). */
  object: string | null;
  /** When log retention deleted the log (the attempt stays); null while it is there. */
  expiredAt: EpochMs | null;
}

export interface Completion {
  status: FinishedAttemptStatus;
  exitCode: number | null;
  failureReason: FailureReason | null;
  logEnd: number;
  /** The coverage the agent read from the log (`coverage:`), 0..100; absent or null: none. */
  coverage?: number | null;
  /** The attempt's `artifacts:reports:dotenv` variables, checked (src/domain/dotenv.ts); absent: none. */
  dotenv?: DotenvVariable[];
}

export type CompleteResult =
  | { kind: 'ok'; duplicate: boolean; status: FinishedAttemptStatus; failureReason: FailureReason | null }
  | { kind: 'log-incomplete'; received: number }
  | { kind: 'log-overrun'; received: number }
  | Fence;

export interface RenewResult {
  leaseExpiresAt: EpochMs;
  cancel: AttemptId[];
  /** Of `cancel`, those stopped because their project ran out of compute minutes (a hard limit), not by a person. */
  quotaExceeded: AttemptId[];
  lost: AttemptId[];
}

/** After-commit wake-ups within this instance; on PostgreSQL also fed by LISTEN from the others. */
export interface FleetEventMap {
  /** Attempts became pending (or offers returned) for these tag keys. */
  ready: [tagKeys: string[]];
  /** Cancels were requested for running attempts of this agent. */
  cancel: [agentId: AgentId];
  /**
   * An attempt's log grew to `received` bytes. `pieces`, when given, are the pieces it grew by,
   * in order and up to `received` (this instance's appends; another instance's are only announced).
   */
  log: [attemptId: AttemptId, received: number, pieces?: StoredLogPiece[]];
  /** An attempt ended on this instance (never announced to others: the metrics count each end once). */
  finished: [status: FinishedAttemptStatus, failureReason: FailureReason | null];
  /** Something about this pipeline changed (a job moved). */
  pipeline: [pipelineId: PipelineId];
}
export type FleetEvents = EventEmitter<FleetEventMap>;

export interface FleetStore {
  readonly events: FleetEvents;

  /** Starts delivering other instances' notifications into `events` (PostgreSQL); no-op on SQLite. */
  listen(): Promise<void>;
  /** Tag keys of pending attempts not on offer at `at`: work a waiting poll might take now. */
  offerableTagKeys(at: EpochMs): Promise<string[]>;

  registerAgent(facts: AgentFacts, tokenHash: string, at: EpochMs): Promise<Agent>;
  findAgentByTokenHash(hash: string): Promise<Agent | null>;
  /** Replaces the agent's session; its running attempts end `agent_lost`, its offers return to the queue. */
  openSession(agentId: AgentId, sessionId: string, facts: AgentFacts, at: EpochMs, settings: SchedulerSettings): Promise<void>;
  /** Touches last_seen_at if `sessionId` is the agent's current session. */
  checkSession(agentId: AgentId, sessionId: string, at: EpochMs): Promise<SessionCheck>;
  deregisterAgent(agentId: AgentId, at: EpochMs, settings: SchedulerSettings, audit?: AuditFor<void>): Promise<void>;
  /**
   * The result of the isolation check an agent ran after opening its session (it runs while the
   * agent already takes trusted work). False when the session is not the agent's current one.
   */
  recordIsolationCheck(agentId: AgentId, sessionId: string, check: IsolationCheck): Promise<boolean>;
  listAgents(at: EpochMs, leaseMs: number): Promise<AgentView[]>;
  /** Pending attempts of agents' pipelines (of one project, of several, or all: null), queue order, each with why it waits. */
  explainQueue(at: EpochMs, settings: SchedulerSettings, projects: ProjectId | readonly ProjectId[] | null, limit: number): Promise<QueueEntry[]>;

  /** Offers up to `slots` ready attempts to the agent, each under a fresh token hash from `newTokenHash`. */
  takeAttempts(
    agent: Agent,
    slots: number,
    at: EpochMs,
    settings: SchedulerSettings,
    tokenHashes: readonly string[],
  ): Promise<TakenOffer[]>;
  startAttempt(agentId: AgentId, attemptId: AttemptId, tokenHash: string, agentName: string, at: EpochMs, settings: SchedulerSettings): Promise<StartResult>;
  renewLeases(agentId: AgentId, held: readonly { id: AttemptId; tokenHash: string }[], at: EpochMs, leaseMs: number): Promise<RenewResult>;
  appendLog(
    attemptId: AttemptId,
    tokenHash: string,
    start: number,
    data: Buffer | null,
    end: number,
    producedAt: EpochMs,
    at: EpochMs,
    /** The size limit: with it, chunks wholly between the head and the last `tailBytes` become one hole. */
    limit?: LogLimit | null,
  ): Promise<AppendResult>;
  completeAttempt(attemptId: AttemptId, tokenHash: string, completion: Completion, at: EpochMs, settings: SchedulerSettings): Promise<CompleteResult>;
  /** The reaper and the deadline sweep: ends attempts whose lease, cancel or deadline ran out. Returns how many. */
  sweep(at: EpochMs, settings: SchedulerSettings): Promise<number>;

  /** The attempt's log as the store holds it: its length, where it lives, how the attempt ended. */
  logState(attemptId: AttemptId): Promise<LogState | null>;
  /** The log states of several attempts at once (missing ones are left out). */
  logStates(attemptIds: readonly AttemptId[]): Promise<LogState[]>;
  /**
   * The stored pieces of the log from byte `start` on, about `maxBytes` of them (whole chunks,
   * at least one), each statement reading them with the attempt row in one snapshot: chunk rows
   * or, once the log is compacted, the name of its object (the caller reads that from the blob
   * store). A compaction during a read of many rows ends the read early, never mixes the two.
   */
  readLogPieces(attemptId: AttemptId, start: number, maxBytes: number): Promise<LogRead | null>;
  /** Finished attempts whose log is still in chunk rows (compaction's work list), oldest first. */
  logsToCompact(limit: number): Promise<AttemptId[]>;
  /**
   * Points a finished attempt at its compacted log object and deletes its chunk rows, in one
   * transaction under the object's lock; false when it was not finished, already compacted, its
   * log expired, or `stillStored` (asked under the lock) says the object is gone (nothing changes then).
   */
  finishLogCompaction(attemptId: AttemptId, sha256: string, stillStored?: () => Promise<boolean>): Promise<boolean>;

  /** Starts a fleet pipeline just created: first jobs pending, older interruptible pipelines canceled. */
  startPipeline(id: PipelineId, at: EpochMs, settings: SchedulerSettings): Promise<void>;
  /** Re-derives readiness of every unfinished fleet pipeline (after a crash between transactions). */
  progressAll(at: EpochMs, settings: SchedulerSettings): Promise<void>;
  cancelPipeline(id: PipelineId, at: EpochMs, settings: SchedulerSettings, audit?: AuditFor<PipelineWithJobs | 'finished' | null>): Promise<PipelineWithJobs | 'finished' | null>;
  retryPipeline(id: PipelineId, at: EpochMs, settings: SchedulerSettings, audit?: AuditFor<PipelineWithJobs | 'nothing-to-retry' | null>): Promise<PipelineWithJobs | 'nothing-to-retry' | null>;
  cancelJob(id: JobId, at: EpochMs, settings: SchedulerSettings, audit?: AuditFor<Job | 'finished' | null>): Promise<Job | 'finished' | null>;
  playJob(id: JobId, at: EpochMs, settings: SchedulerSettings, audit?: AuditFor<Job | 'not-manual' | null>): Promise<Job | 'not-manual' | null>;
  retryJob(id: JobId, at: EpochMs, settings: SchedulerSettings, audit?: AuditFor<Job | 'not-finished' | null>): Promise<Job | 'not-finished' | null>;
  /** A scheduled (delayed) job becomes manual, as GitLab's "Unschedule"; 'not-scheduled' when it was not scheduled. */
  unscheduleJob(id: JobId, at: EpochMs, audit?: AuditFor<Job | 'not-scheduled' | null>): Promise<Job | 'not-scheduled' | null>;
  /** Queues the scheduled (delayed) jobs whose time came, at most 100 pipelines' at once; how many. Any instance, any time. */
  promoteDueJobs(at: EpochMs): Promise<number>;
  /**
   * A fork's pipeline waiting for approval starts (`by` is recorded); `always` also approves its
   * author on the project for later pull requests. 'not-waiting' when it was not waiting.
   */
  approvePipeline(id: PipelineId, by: string, always: boolean, at: EpochMs, audit?: AuditFor<PipelineWithJobs | 'not-waiting' | null>): Promise<PipelineWithJobs | 'not-waiting' | null>;
  /** A fork's pipeline waiting for approval is canceled. */
  rejectPipeline(id: PipelineId, at: EpochMs, audit?: AuditFor<PipelineWithJobs | 'not-waiting' | null>): Promise<PipelineWithJobs | 'not-waiting' | null>;
  /**
   * One approver's decision on a deployment waiting for approval ('already': this approver decided
   * before): a rejection fails the job (`deployment_rejected`), enough approvals queue it.
   */
  decideJob(
    id: JobId,
    decision: { approver: string; name: string; decision: 'approved' | 'rejected'; comment: string | null },
    at: EpochMs,
    audit?: AuditFor<Job | 'not-waiting' | 'already' | null>,
  ): Promise<Job | 'not-waiting' | 'already' | null>;

  // ---- trigger jobs and child pipelines (src/store/sql/fleet/downstream.ts; the server's
  // downstream runner, src/server/downstream/, is their one caller)

  /** Trigger jobs waiting for their child pipeline, oldest first. */
  pendingBridges(limit: number): Promise<{ jobId: JobId; pipelineId: PipelineId }[]>;
  /**
   * Creates the child of a pending trigger job (`child`), or fails the job with why (`failed`, or
   * the depth limit), in one transaction under the parent's lock; `gone` when the job is no longer
   * pending. The child starts at once.
   */
  createChildPipeline(jobId: JobId, outcome: ChildOutcome, at: EpochMs): Promise<CreateChildResult>;
  /** `strategy: depend` trigger jobs still running whose newest child has ended. */
  bridgesToSettle(limit: number): Promise<JobId[]>;
  /** Ends such a trigger job as its child ended; false when there was nothing to do. */
  settleBridge(jobId: JobId, at: EpochMs): Promise<boolean>;

  // ---- compute minutes (src/store/compute-minutes.ts): quotas and grants are fleet transactions,
  // since the minutes they add wake the agents waiting for the project's jobs in the same commit

  /** The project's quota and grants; null: no such project. */
  quotaOf(projectId: ProjectId): Promise<QuotaView | null>;
  /** A new quota (the month's allowance follows at once, by an adjustment entry if it was written). */
  setQuota(projectId: ProjectId, quota: Quota, actor: string, at: EpochMs, audit?: AuditFor<QuotaView | null>): Promise<QuotaView | null>;
  /** Minutes that do not expire with the month, once per `key`. */
  grantMinutes(projectId: ProjectId, grant: { amountMs: number; reason: string; key: string }, actor: string, at: EpochMs, audit?: AuditFor<GrantResult>): Promise<GrantResult>;
  /** The project's balance and consumption in `month` (the current one or earlier); null: no such project. */
  usage(projectId: ProjectId, month: Month, at: EpochMs): Promise<Usage | null>;
  /** Every project with a quota or with usage in `month`. */
  usageByProject(month: Month, at: EpochMs): Promise<ProjectUsage[]>;
  /** The attempts that consumed in `month` (of one project, or of all: null), one line each. */
  usageLines(projectId: ProjectId | null, month: Month): Promise<UsageLine[]>;
  /** The fleet as its gauges describe it, from one snapshot. */
  fleetGauges(at: EpochMs, settings: SchedulerSettings): Promise<FleetGauges>;
  /** What was consumed each UTC day of `month`, by pool (of one project, or of all: null): the usage page's chart. */
  usageByDay(projectId: ProjectId | null, month: Month): Promise<DayUsage[]>;
  /** Everything consumed so far, by project and pool (the Prometheus counter). */
  consumedTotals(at: EpochMs): Promise<ConsumedTotal[]>;

  /**
   * The artifacts a job's attempts uploaded, by attempt number, expired ones included (people's
   * downloads; no token check here). `keepLatestDefault`: the instance's keepLatestArtifacts, for
   * projects without their own.
   */
  listArtifacts(jobId: JobId, keepLatestDefault: boolean): Promise<StoredArtifact[]>;

  // ---- blobs, artifacts and caches (PROTOCOL.md §11); each write checks token and `running`
  /** Whether the attempt is running under this token: checked before an upload's body is read. */
  checkTransfer(attemptId: AttemptId, tokenHash: string): Promise<TransferCheck>;
  /** HEAD of a blob: refreshes its `created_at` so the sweep leaves it for an hour; `missing` if unknown. */
  touchBlob(attemptId: AttemptId, tokenHash: string, sha256: string, at: EpochMs): Promise<BlobTouch>;
  /** Records a blob whose bytes the blob store now holds (new row, or `created_at` refreshed). */
  recordBlob(attemptId: AttemptId, tokenHash: string, sha256: string, size: number, at: EpochMs): Promise<{ kind: 'ok' } | Fence>;
  recordArtifact(attemptId: AttemptId, tokenHash: string, rec: ArtifactRecord, at: EpochMs): Promise<RecordArtifactResult>;
  /** The newest artifact of `sourceJobId`, if it is one of the attempt's artifact sources. */
  findArtifact(attemptId: AttemptId, tokenHash: string, sourceJobId: JobId, at: EpochMs): Promise<ArtifactLookup>;
  putCache(attemptId: AttemptId, tokenHash: string, key: string, blob: BlobRef, at: EpochMs): Promise<PutCacheResult>;
  /** The cache's archive for this attempt's project and key (untrusted pipelines: their own); marks it used at `at`. */
  getCache(attemptId: AttemptId, tokenHash: string, key: string, at: EpochMs): Promise<CacheLookup>;
  /**
   * Expires artifact records past their expiry (leaving tombstones; with `keepLatestDefault`, or
   * the project's own setting, not those of a ref's latest successful pipeline), deletes caches
   * unused (neither saved nor restored) since `cachesUnusedSince` (null: caches never expire),
   * then blobs nothing references that nobody touched since `blobsBefore`, each row with its file
   * (`removeFile`); a hundred of each.
   */
  sweepArtifacts(
    at: EpochMs,
    blobsBefore: EpochMs,
    removeFile: (sha256: string) => Promise<void>,
    cachesUnusedSince?: EpochMs | null,
    keepLatestDefault?: boolean,
  ): Promise<{ artifacts: number; caches: number; blobs: number }>;
  /**
   * Gives stored blob files that have no row (a crash between a file and its row) a row touched at
   * their file's time, so the sweep above deletes them like any unreferenced blob, under its
   * locks; a blob that has a row keeps it unchanged. Returns how many got one.
   */
  /**
   * Deletes each project's least recently used caches (saved or restored longest ago) until what it
   * keeps is at most `maxBytes`; their blobs go with the unreferenced ones. Returns how many went.
   */
  evictCaches(maxBytes: number): Promise<number>;
  adoptBlobs(files: readonly { sha256: string; size: number; modifiedAt: EpochMs }[]): Promise<number>;
}

export interface StoredArtifact {
  /** The attempt's number within its job. */
  attempt: number;
  /** The archive's blob; null once the record expired and went (retention): its download is 410. */
  sha256: string | null;
  size: number;
  files: number;
  createdAt: EpochMs;
  expiresAt: EpochMs | null;
  /** Past its expiry but kept: its pipeline is its ref's latest successful one (keepLatestArtifacts). */
  keptAsLatest: boolean;
}

export type TransferCheck = { kind: 'ok'; jobId: JobId; pipelineId: PipelineId; projectId: ProjectId } | Fence;
export type BlobTouch = { kind: 'ok' } | { kind: 'missing' } | Fence;
export interface BlobRef {
  sha256: string;
  size: number;
}
export interface ArtifactRecord extends BlobRef {
  files: number;
  /** Null: never expires. */
  expiresAt: EpochMs | null;
}
/** `created: false` is the same record sent again; `conflict` another record for the same attempt. */
export type RecordArtifactResult =
  | { kind: 'ok'; created: boolean }
  | { kind: 'conflict' }
  | { kind: 'blob-missing' }
  | { kind: 'size-mismatch'; size: number }
  | Fence;
export type ArtifactLookup =
  | ({ kind: 'ok' } & BlobRef)
  | { kind: 'none' }
  | { kind: 'expired'; expiredAt: EpochMs }
  | { kind: 'not-a-source' }
  | Fence;
export type PutCacheResult = { kind: 'ok' } | { kind: 'blob-missing' } | { kind: 'size-mismatch'; size: number } | Fence;
export type CacheLookup = ({ kind: 'ok' } & BlobRef) | { kind: 'none' } | Fence;
