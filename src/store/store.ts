// The persistent model of PRODUCT.md behind one interface. SQLite (embedded) and PostgreSQL (fleet)
// implement it as two dialects of one SQL design (src/store/sql/sql-store.ts over src/store/sql/dialect.ts); the contract suite in
// test/store/ pins the behaviour both must have.

import type { ForkApproval } from '../domain/approvals.js';
import type { GateStore } from './gates.js';
import type { PoolStore } from './pools.js';
import type { AttemptId, JobId, PipelineId, ProjectId } from '../domain/ids.js';
import type {
  AttemptStatus,
  FailureReason,
  FinishedAttemptStatus,
  JobStatus,
  PipelineSource,
  PipelineStatus,
} from '../domain/status.js';
import type { CompiledJob } from '../pipeline/types.js';
import type { DeliveryProvider, GitEvent, WebhookProvider } from '../domain/git-event.js';
import type { TriggeredBy } from '../domain/triggered-by.js';
import type { JobLimits, NetworkPolicy, ProjectIsolation } from '../domain/isolation.js';
import type { FleetStore } from './fleet.js';
import type { ForgeStore } from './forge.js';
import type { ScheduleStore } from './schedules.js';
import type { UserId, UserStore } from './users.js';
import type { AuditFor, AuditStore } from './audit.js';
import type { SsoStore } from './sso.js';
import type { IdTokenKeyStore } from './id-token-keys.js';
import type { ProtectedRefs } from '../domain/protected-refs.js';
import type { ProjectRetention } from '../domain/retention.js';
import type { RetentionStore } from './retention.js';
import type { InsightsStore } from './insights.js';
import type { TestReportStore } from './test-reports.js';
import type { DotenvStore } from './dotenv.js';

/** Milliseconds since the epoch; the API turns them into ISO-8601 UTC strings. */
export type EpochMs = number;

export interface Project {
  id: ProjectId;
  name: string;
  /** A git URL for the fleet, or a local path for `gantry run`. */
  gitUrl: string;
  createdAt: EpochMs;
  /** How many of the project's jobs may run at once, in all and per pipeline (null: no limit). */
  limits: ProjectLimits;
  /** A new pipeline cancels older ones on its ref whose started jobs are all `interruptible`. */
  autoCancel: boolean;
  /** Which pushed refs and pull requests start pipelines (webhooks and git hooks). */
  refFilters: RefFilters;
  /** Which agents may run its jobs, their network and limits (docs/SECURITY.md). */
  isolation: ProjectIsolation;
  /** Branch and tag globs whose pipelines get protected variables (src/domain/protected-refs.ts). */
  protectedRefs: ProtectedRefs;
  /**
   * Jobs of pipelines from forks (trusted false) get the identity tokens they ask for (`id_tokens`),
   * with `ref_protected: false`; false (the default): they get none.
   */
  forkIdTokens: boolean;
  /** Its pipeline and coverage badges answer without a token (GET .../badges/*.svg); default false. */
  publicBadges: boolean;
  /** Which pipelines from forks wait for a maintainer's approval (src/domain/approvals.ts). */
  forkApproval: ForkApproval;
  /** What it keeps of its pipelines, logs and artifacts; null fields: the instance's defaults. */
  retention: ProjectRetention;
  /** Its share of the agents against other projects, and its jobs that go first within it (src/domain/fair-share.ts). */
  fairShare: FairShareSettings;
}

export interface FairShareSettings {
  /** 1 to SHARE_WEIGHT_MAX: offered `weight` times as often as a project of weight 1. */
  weight: number;
  /** Job name globs (`*` only): these jobs go before the project's others. */
  urgentJobs: string[];
}

/** Glob lists (picomatch) of branch and tag names; null lets every one through. */
export interface RefFilters {
  branches: string[] | null;
  tags: string[] | null;
}

export interface ProjectLimits {
  maxRunning: number | null;
  maxRunningPerPipeline: number | null;
}

/** What PATCH /projects/:project may change; an absent field stays as it is, null lifts a limit. */
export interface ProjectPatch {
  gitUrl?: string;
  maxRunning?: number | null;
  maxRunningPerPipeline?: number | null;
  autoCancel?: boolean;
  requireSandbox?: boolean;
  network?: NetworkPolicy;
  forkNetwork?: NetworkPolicy;
  /** Replaces the project's job limits whole. */
  jobLimits?: JobLimits;
  forkIdTokens?: boolean;
  /** Its pipeline and coverage badges answer without a token (GET .../badges/*.svg); default false. */
  publicBadges?: boolean;
  forkApproval?: ForkApproval;
  weight?: number;
  /** Replaces the list whole, and re-stamps the project's queued jobs. */
  urgentJobs?: string[];
  /** Sets the fields given (null: back to the instance's default); the others stay. */
  retention?: Partial<ProjectRetention>;
}

export interface Pipeline {
  id: PipelineId;
  projectId: ProjectId;
  status: PipelineStatus;
  ref: string;
  sha: string;
  source: PipelineSource;
  /** Variables given with the trigger (`--var`, API, UI); not the pipeline file's. */
  variables: Record<string, string>;
  /** The pipeline file's global variables, as compiled. */
  fileVariables: Record<string, string>;
  pipelineFile: string;
  /** `local`: a `gantry run` process runs it; `fleet`: the server schedules it onto agents. */
  runsOn: 'local' | 'fleet';
  /** The predefined CI_* variables of the pipeline, as computed when it was created. */
  predefinedVariables: Record<string, string>;
  /**
   * False for a pull request from a fork: its jobs get no project variables and read and write
   * caches in a namespace of their own.
   */
  trusted: boolean;
  /**
   * Its ref was protected when it was made (CI_COMMIT_REF_PROTECTED): its jobs may get protected
   * variables, if the ref is still protected when each is offered.
   */
  protectedRef: boolean;
  /** Who or what started it; null when nobody was recorded (older pipelines, an anonymous push). */
  triggeredBy: TriggeredBy | null;
  createdAt: EpochMs;
  startedAt: EpochMs | null;
  finishedAt: EpochMs | null;
  /**
   * Set when the pipeline had to wait for a maintainer's approval (a fork's): why, and once
   * approved by whom and when (a rejected one is `canceled` with approvedBy null).
   */
  approval: PipelineApproval | null;
  /** A fork pipeline's author as the forge named them (what "approve always" and "first-time" key on). */
  forkAuthor: { provider: string; name: string } | null;
  /** A child pipeline's parent and the trigger job that made it (source `parent_pipeline`); null for any other. */
  parent: PipelineParent | null;
}

export interface PipelineParent {
  pipelineId: PipelineId;
  jobId: JobId;
}

/** A pipeline a trigger job of the pipeline made (its newest first per job: a retried trigger job makes another). */
export interface ChildPipeline {
  pipelineId: PipelineId;
  jobId: JobId;
  status: PipelineStatus;
}

export interface Job {
  id: JobId;
  pipelineId: PipelineId;
  name: string;
  stage: string;
  stageIndex: number;
  status: JobStatus;
  /** The compiled definition the agent runs: script, variables, needs, artifacts, ... */
  spec: CompiledJob;
  /** Attempts made so far (0 until the first one is queued). */
  attemptCount: number;
  exitCode: number | null;
  failureReason: FailureReason | null;
  createdAt: EpochMs;
  startedAt: EpochMs | null;
  finishedAt: EpochMs | null;
  /** A trigger job whose child pipeline could not be created: why (the child's compile errors, the depth limit); else null. */
  downstreamError: string | null;
  /** A `scheduled` (delayed) job: when it is queued, unless played or unscheduled first; else null. */
  scheduledAt: EpochMs | null;
}

export interface Attempt {
  id: AttemptId;
  jobId: JobId;
  number: number; // 1-based
  status: AttemptStatus;
  agent: string | null;
  /** The attempt is the agent's until then; a lease that runs out means the agent is lost. */
  leaseExpiresAt: EpochMs | null;
  queuedAt: EpochMs;
  startedAt: EpochMs | null;
  finishedAt: EpochMs | null;
  exitCode: number | null;
  failureReason: FailureReason | null;
  /** Bytes of log known durable in the log store (the log index). */
  logBytes: number;
  /** The percentage its log gave by the job's `coverage:` regex (0..100); null: none. */
  coverage: number | null;
}

export interface PipelineApproval {
  reason: string;
  approvedBy: string | null;
  approvedAt: EpochMs | null;
}

export interface NewPipeline {
  projectId: ProjectId;
  ref: string;
  sha: string;
  source: PipelineSource;
  variables: Record<string, string>;
  fileVariables: Record<string, string>;
  pipelineFile: string;
  jobs: CompiledJob[];
  createdAt: EpochMs;
  /** Default `local`. */
  runsOn?: 'local' | 'fleet';
  predefinedVariables?: Record<string, string>;
  /** Default true. */
  trusted?: boolean;
  /** Default false. */
  protectedRef?: boolean;
  triggeredBy?: TriggeredBy | null;
  /**
   * A pull request from a fork (set with trusted: false by the trigger): the store decides in the
   * creating transaction, from the project's `forkApproval` and what it knows of the author,
   * whether the pipeline waits for approval (src/domain/approvals.ts).
   */
  fork?: { author: { provider: string; name: string } | null };
  /** A child pipeline: its parent and trigger job (set by the fleet's createChildPipeline). */
  parent?: PipelineParent;
}

export interface PipelineFilter {
  projectId?: ProjectId;
  status?: PipelineStatus;
  ref?: string;
  source?: PipelineSource;
  /** False: child pipelines (source `parent_pipeline`) are left out; default true, as GitLab's API lists them. */
  children?: boolean;
  /** Page size; default 20, at most 100. */
  limit?: number;
  /** Cursor from a previous page: pipelines with a smaller id. */
  beforeId?: PipelineId;
}

export interface Page<T> {
  items: T[];
  /** Cursor for the next page, or null at the end. */
  next: PipelineId | null;
}

export interface PipelineWithJobs {
  pipeline: Pipeline;
  jobs: Job[];
  attempts: Attempt[];
  /** The pipelines its trigger jobs made, oldest first (getPipeline fills it; absent where nobody asked). */
  children?: ChildPipeline[];
}

/** What a job move may set alongside the status. */
export interface JobMovePatch {
  at: EpochMs;
  /** With a move to `scheduled`: when the job is due. Any other move clears it. */
  scheduledAt?: EpochMs;
  exitCode?: number | null;
  failureReason?: FailureReason | null;
}

export interface AttemptFinish {
  status: FinishedAttemptStatus;
  at: EpochMs;
  exitCode: number | null;
  failureReason: FailureReason | null;
  logBytes: number;
  /** The job's coverage as its log gave it (`coverage:`); absent or null: none. */
  coverage?: number | null;
}

/**
 * Who may call the API: a person or script (admin), an agent registering, a project-scoped API
 * token, a project's trigger token (it starts pipelines of its project and does nothing else), or
 * a person's own token (`personal`: acts as its user, narrowed; src/store/users.ts).
 */
export type TokenKind = 'admin' | 'agent' | 'api' | 'trigger' | 'personal';

export interface ApiToken {
  id: number;
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  hash: string;
  kind: TokenKind;
  /** The one project an `api` token may act on; null for every project. */
  projectId: ProjectId | null;
  createdAt: EpochMs;
  lastUsedAt: EpochMs | null;
  /** What a person wrote about it (trigger and personal tokens); null for the others. */
  description: string | null;
  /** A personal token's user; null for every other kind. */
  userId: UserId | null;
  /** When a personal token stops working; null: never (and for every other kind). */
  expiresAt: EpochMs | null;
  /** A personal token that may only read (GET, HEAD). */
  readOnly: boolean;
  /** The projects a personal token is narrowed to; null: every project its user may see. */
  projects: ProjectId[] | null;
}

export interface NewToken {
  hash: string;
  kind: TokenKind;
  projectId: ProjectId | null;
  createdAt: EpochMs;
}

/** A project variable as stored: the value only ever encrypted (base64 ciphertext and nonce). */
export interface StoredVariable {
  projectId: ProjectId;
  key: string;
  ciphertext: string;
  nonce: string;
  masked: boolean;
  /** Given only to jobs of pipelines on protected refs. */
  protected: boolean;
  updatedAt: EpochMs;
}

/** An Idempotency-Key of a project: which request (by fingerprint) made which pipeline. */
export interface IdempotencyRecord {
  projectId: ProjectId;
  key: string;
  /** SHA-256 (hex) of the request that first used the key. */
  fingerprint: string;
  pipelineId: PipelineId;
  createdAt: EpochMs;
}

export interface ProjectPageFilter {
  /** Page size; default 20, at most 100. */
  limit?: number;
  /** Cursor from a previous page: projects with a larger id (oldest first). */
  afterId?: ProjectId;
  /** Only these projects (what a caller may see); absent: every project. */
  onlyIds?: readonly ProjectId[];
}

export type CreateOnceResult =
  | { created: true; pipeline: PipelineWithJobs }
  /** The key was taken (now or before): nothing was created; the caller compares fingerprints. */
  | { created: false; existing: IdempotencyRecord };

/** A webhook's secret as stored: only ever encrypted (base64 ciphertext and nonce). */
export interface SealedSecret {
  ciphertext: string;
  nonce: string;
}

/**
 * A delivery's life: `queued` (due at `dueAt`) → `processing` (claimed until `dueAt`) → `done`
 * (with its pipeline), `ignored` (with the reason) or `failed`; a transient failure puts it back
 * to `queued` with a later `dueAt`. Ignored events are recorded `ignored` at once.
 */
export type DeliveryStatus = 'queued' | 'processing' | 'done' | 'ignored' | 'failed';

export interface Delivery {
  id: number;
  projectId: ProjectId;
  provider: DeliveryProvider;
  /** The forge's id of the delivery (unique per project and provider): what de-duplicates. */
  deliveryId: string;
  /** The forge's event name as sent (`push`, `Merge Request Hook`, ...). */
  event: string;
  /** The event to run, or null for an ignored one. */
  gitEvent: GitEvent | null;
  status: DeliveryStatus;
  reason: string | null;
  pipelineId: PipelineId | null;
  tries: number;
  dueAt: EpochMs;
  receivedAt: EpochMs;
  finishedAt: EpochMs | null;
}

export interface NewDelivery {
  projectId: ProjectId;
  provider: DeliveryProvider;
  deliveryId: string;
  event: string;
  receivedAt: EpochMs;
  /** A delivery that will run is queued with its event; one that will not is recorded with why. */
  outcome: { status: 'queued'; gitEvent: GitEvent } | { status: 'ignored'; reason: string };
}

export type RecordDeliveryResult = { recorded: true; delivery: Delivery } | { recorded: false; existing: Delivery };

/** How a claimed delivery ended. */
export type DeliveryEnd =
  | { status: 'done'; pipelineId: PipelineId }
  | { status: 'ignored' | 'failed'; reason: string }
  /** A transient failure (git, store): queued again, due at `dueAt`. */
  | { status: 'queued'; reason: string; dueAt: EpochMs };

/** The moves a scheduling step makes, inside Store.inOneTransaction. */
export type StepMoves = Pick<Store, 'movePipeline' | 'moveJob' | 'createAttempt' | 'startAttempt' | 'finishAttempt'>;

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** The agent protocol and the server's scheduler (src/store/fleet.ts). */
  readonly fleet: FleetStore;
  /** Cron schedules and their firings (src/store/schedules.ts). */
  readonly schedules: ScheduleStore;
  /** Forge configurations and the commit status outbox (src/store/forge.ts). */
  readonly forge: ForgeStore;
  /** Users, web UI sessions and sign-in attempts (src/store/users.ts). */
  readonly users: UserStore;
  /** Single sign-on's flows, account links and mapped roles (src/store/sso.ts). */
  readonly sso: SsoStore;
  /** Who changed what (src/store/audit.ts); changing methods write their entry with their change (`audit`). */
  readonly audit: AuditStore;
  /** The keys job identity tokens are signed with (src/store/id-token-keys.ts). */
  readonly idTokenKeys: IdTokenKeyStore;
  /** Fork authors approved always, protected environments, deployments (src/store/gates.ts). */
  readonly gates: GateStore;
  /** Pools' prices (src/store/pools.ts). */
  readonly pools: PoolStore;
  /** What retention deletes and the garbage collector's runs (src/store/retention.ts). */
  readonly retention: RetentionStore;
  /** A project's runs of a window, for its insights (src/store/insights.ts). */
  readonly insights: InsightsStore;
  /** Each attempt's JUnit test report (src/store/test-reports.ts). */
  readonly testReports: TestReportStore;
  /** Each attempt's dotenv variables, what later jobs receive (src/store/dotenv.ts). */
  readonly dotenv: DotenvStore;

  /** Find a project by name, creating it if it does not exist (idempotent). */
  ensureProject(name: string, gitUrl: string, at: EpochMs): Promise<Project>;
  getProject(idOrName: ProjectId | string): Promise<Project | null>;
  listProjects(): Promise<Project[]>;
  /** Creates a project; null (and nothing stored) when the name is taken. */
  createProject(name: string, gitUrl: string, at: EpochMs, audit?: AuditFor<Project | null>): Promise<Project | null>;
  /** Changes a project's settings; null if there is no such project. */
  updateProject(id: ProjectId, patch: ProjectPatch, audit?: AuditFor<Project | null>): Promise<Project | null>;
  /** Projects oldest first, a page at a time; `next` is the last id of a full page. */
  pageProjects(filter: ProjectPageFilter): Promise<{ items: Project[]; next: ProjectId | null }>;

  /** Creates the pipeline and all its jobs in one transaction, every job `created`. */
  createPipeline(input: NewPipeline): Promise<PipelineWithJobs>;
  getPipeline(id: PipelineId): Promise<PipelineWithJobs | null>;
  /** The pipeline alone, without its jobs and attempts (one row). */
  getPipelineOnly(id: PipelineId): Promise<Pipeline | null>;
  /** The pipelines trigger jobs of `id` made, oldest first. */
  listChildPipelines(id: PipelineId): Promise<ChildPipeline[]>;
  listPipelines(filter: PipelineFilter): Promise<Page<Pipeline>>;
  /**
   * Each pipeline's coverage as GitLab gives it in lists: the average of its jobs' latest
   * attempts' coverage, rounded to 2 decimals; absent from the map when no job gave one.
   */
  pipelineCoverages(ids: readonly PipelineId[]): Promise<Map<PipelineId, number>>;
  /**
   * createPipeline guarded by a project's Idempotency-Key: the key is claimed in the same
   * transaction that creates the pipeline, under a unique (project, key) constraint, so of
   * concurrent calls with one key (from any number of server instances) exactly one creates.
   */
  createPipelineOnce(input: NewPipeline, idempotency: { key: string; fingerprint: string }): Promise<CreateOnceResult>;
  getIdempotencyKey(projectId: ProjectId, key: string): Promise<IdempotencyRecord | null>;
  getJob(id: JobId): Promise<Job | null>;

  /**
   * Moves a pipeline if the state machine allows it; returns false (and changes nothing) if it
   * does not: the current state is then authoritative. Sets startedAt/finishedAt as it goes.
   */
  movePipeline(id: PipelineId, to: PipelineStatus, at: EpochMs): Promise<boolean>;
  /** Same contract as movePipeline, for a job. */
  moveJob(id: JobId, to: JobStatus, patch: JobMovePatch): Promise<boolean>;

  /** Queues the job's next attempt (number = attemptCount + 1) as `pending`. */
  createAttempt(jobId: JobId, at: EpochMs): Promise<Attempt>;
  /** pending -> running, owned by `agent` until `leaseExpiresAt`. False if not pending. */
  startAttempt(id: AttemptId, agent: string, at: EpochMs, leaseExpiresAt: EpochMs): Promise<boolean>;
  /** Ends an attempt; false if it had already ended (a duplicate or late report). */
  finishAttempt(id: AttemptId, finish: AttemptFinish): Promise<boolean>;
  /**
   * Runs the moves `fn` makes in one transaction: one scheduling step of `gantry run` (a job's end
   * and what it made ready, a start) is one commit instead of one per move, all or nothing. `fn`
   * must call only `moves` and change nothing else (PostgreSQL may run it again after a
   * serialization failure); its caller applies the step's effects once it resolves.
   */
  inOneTransaction<T>(fn: (moves: StepMoves) => Promise<T>): Promise<T>;
  /** Records how many bytes of the attempt's log are durable. Never moves backwards. */
  recordLogBytes(id: AttemptId, bytes: number): Promise<void>;
  getAttempt(id: AttemptId): Promise<Attempt | null>;
  listAttempts(jobId: JobId): Promise<Attempt[]>;

  /** Stores a token's hash; false (nothing changed) if that hash is already stored. */
  addToken(token: NewToken): Promise<boolean>;
  findToken(hash: string): Promise<ApiToken | null>;
  countTokens(kind: TokenKind): Promise<number>;
  /** Records a use; writes only when the last recorded use is older than `minIntervalMs`. */
  touchToken(id: number, at: EpochMs, minIntervalMs: number): Promise<void>;
  /** Stores a project's trigger token (its hash) and returns it with its id. */
  createTriggerToken(projectId: ProjectId, hash: string, description: string | null, at: EpochMs, audit?: AuditFor<ApiToken>): Promise<ApiToken>;
  /** The project's trigger tokens, oldest first. */
  listTriggerTokens(projectId: ProjectId): Promise<ApiToken[]>;
  /** Revokes one; false if the project has no trigger token with that id. */
  deleteTriggerToken(projectId: ProjectId, id: number, audit?: AuditFor<boolean>): Promise<boolean>;

  /** Creates or replaces a project variable (unique per project and key). */
  putVariable(v: StoredVariable, audit?: AuditFor<void>): Promise<void>;
  /** The project's variables by key. */
  listVariables(projectId: ProjectId): Promise<StoredVariable[]>;
  /** False if there was no such variable. */
  deleteVariable(projectId: ProjectId, key: string, audit?: AuditFor<boolean>): Promise<boolean>;

  /** Sets (or replaces: a rotation) the project's webhook secret for a provider. */
  putWebhookSecret(projectId: ProjectId, provider: WebhookProvider, sealed: SealedSecret, at: EpochMs, audit?: AuditFor<void>): Promise<void>;
  getWebhookSecret(projectId: ProjectId, provider: WebhookProvider): Promise<SealedSecret | null>;
  /**
   * The webhook intake's one read: the project (by id or name) with its secret for `provider`
   * (null when it has none), in one round trip; null when there is no such project.
   */
  getWebhookTarget(idOrName: ProjectId | string, provider: WebhookProvider): Promise<{ project: Project; secret: SealedSecret | null } | null>;
  /** False if there is no such project. */
  setRefFilters(projectId: ProjectId, filters: RefFilters, audit?: AuditFor<boolean>): Promise<boolean>;
  /** Replaces the project's protected branch and tag globs; false if there is no such project. */
  setProtectedRefs(projectId: ProjectId, refs: ProtectedRefs, audit?: AuditFor<boolean>): Promise<boolean>;

  /**
   * Records a delivery once per (project, provider, deliveryId): the unique constraint decides,
   * so of concurrent copies of one delivery (from any number of instances) exactly one is
   * recorded and the others get it as `existing`.
   */
  recordDelivery(d: NewDelivery): Promise<RecordDeliveryResult>;
  /**
   * Takes the oldest due delivery (queued, or processing with a lapsed claim: its instance died)
   * and claims it until `at + leaseMs`; null when none is due. On PostgreSQL the row is chosen
   * with FOR UPDATE SKIP LOCKED, so instances claiming at once take different deliveries.
   */
  claimDelivery(at: EpochMs, leaseMs: number): Promise<Delivery | null>;
  /** Ends a claimed delivery; false if it was not `processing` (another instance ended it). */
  finishDelivery(id: number, end: DeliveryEnd, at: EpochMs): Promise<boolean>;
  /** The project's deliveries, newest first. */
  listDeliveries(projectId: ProjectId, limit: number): Promise<Delivery[]>;

  /** A cheap query that proves the database answers (readiness). */
  ping(): Promise<void>;

  /** Times every statement from now on (the server's gantry_store_query_seconds). */
  observeQueries(observer: (seconds: number) => void): void;

  close(): Promise<void>;
}
