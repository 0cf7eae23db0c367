// Rows as the database returns them, their columns, and their conversion to the store's types.

import { asAttemptId, asJobId, asPipelineId, asProjectId } from '../../domain/ids.js';
import type { AttemptStatus, FailureReason, JobStatus, PipelineSource, PipelineStatus } from '../../domain/status.js';
import type { CompiledJob } from '../../pipeline/types.js';
import type { DeliveryProvider, GitEvent } from '../../domain/git-event.js';
import type { TriggeredBy } from '../../domain/triggered-by.js';
import type { ForkApproval } from '../../domain/approvals.js';
import { NO_LIMITS, type JobLimits, type NetworkPolicy, type ProjectIsolation } from '../../domain/isolation.js';
import type { ApiToken, Attempt, Delivery, DeliveryStatus, IdempotencyRecord, Job, Pipeline, Project, StoredVariable, TokenKind } from '../store.js';
import { asUserId } from '../users.js';

// Rows as the database returns them. The dialects return BIGINT as numbers; num() still accepts a
// string, which is what a driver left to its defaults (pg's int8) would give.
export interface ProjectRow {
  id: number | string;
  name: string;
  git_url: string;
  created_at: number | string;
  max_running: number | null;
  max_running_per_pipeline: number | null;
  auto_cancel: number | string;
  branch_filter: string | null;
  tag_filter: string | null;
  require_sandbox: number | string;
  network: string;
  fork_network: string;
  job_limits: string | null;
  protected_branches: string;
  protected_tags: string;
  fork_id_tokens: number | string;
  public_badges: number | string;
  fork_approval: string;
  share_weight: number | string;
  urgent_jobs: string;
  retention_pipeline_days: number | string | null;
  retention_keep_per_ref: number | string | null;
  retention_log_days: number | string | null;
  artifacts_expire_in: string | null;
  keep_latest_artifacts: number | string | null;
}
export const PROJECT_COLUMNS =
  'id, name, git_url, created_at, max_running, max_running_per_pipeline, auto_cancel, branch_filter, tag_filter, require_sandbox, network, fork_network, job_limits, protected_branches, protected_tags, fork_id_tokens, public_badges, fork_approval, share_weight, urgent_jobs, ' +
  'retention_pipeline_days, retention_keep_per_ref, retention_log_days, artifacts_expire_in, keep_latest_artifacts';
export interface PipelineRow {
  id: number | string;
  project_id: number | string;
  status: string;
  ref: string;
  sha: string;
  source: string;
  variables: string;
  file_variables: string;
  pipeline_file: string;
  runs_on: string;
  predefined_variables: string;
  trusted: number | string;
  protected_ref: number | string;
  triggered_by: string | null;
  created_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
  approval_reason: string | null;
  approved_by: string | null;
  approved_at: number | string | null;
  fork_provider: string | null;
  fork_author: string | null;
  parent_pipeline_id: number | string | null;
  parent_job_id: number | string | null;
}
export interface JobRow {
  id: number | string;
  pipeline_id: number | string;
  position: number;
  name: string;
  stage: string;
  stage_index: number;
  status: string;
  spec: string;
  attempt_count: number | string;
  exit_code: number | null;
  failure_reason: string | null;
  created_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
  downstream_error: string | null;
  scheduled_at: number | string | null;
}
export interface AttemptRow {
  id: number | string;
  job_id: number | string;
  number: number | string;
  status: string;
  agent: string | null;
  lease_expires_at: number | string | null;
  queued_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
  exit_code: number | null;
  failure_reason: string | null;
  log_bytes: number | string;
  coverage: number | string | null;
}

export interface TokenRow {
  id: number | string;
  hash: string;
  kind: string;
  project_id: number | string | null;
  created_at: number | string;
  last_used_at: number | string | null;
  description: string | null;
  user_id: number | string | null;
  expires_at: number | string | null;
  read_only: number | string;
  projects: string | null;
}
export interface VariableRow {
  project_id: number | string;
  key: string;
  ciphertext: string;
  nonce: string;
  masked: number | string;
  updated_at: number | string;
  protected: number | string;
}
export interface IdempotencyRow {
  project_id: number | string;
  key: string;
  fingerprint: string;
  pipeline_id: number | string | null;
  created_at: number | string;
}

export const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));
export const numOrNull = (v: number | string | null): number | null => (v === null ? null : num(v));

export function toProject(r: ProjectRow): Project {
  return {
    id: asProjectId(num(r.id)),
    name: r.name,
    gitUrl: r.git_url,
    createdAt: num(r.created_at),
    limits: { maxRunning: r.max_running, maxRunningPerPipeline: r.max_running_per_pipeline },
    autoCancel: num(r.auto_cancel) !== 0,
    refFilters: {
      branches: r.branch_filter === null ? null : (JSON.parse(r.branch_filter) as string[]),
      tags: r.tag_filter === null ? null : (JSON.parse(r.tag_filter) as string[]),
    },
    isolation: { ...sandboxSettingsOf(r), jobLimits: jobLimitsOf(r.job_limits) },
    protectedRefs: { branches: JSON.parse(r.protected_branches) as string[], tags: JSON.parse(r.protected_tags) as string[] },
    forkIdTokens: num(r.fork_id_tokens) !== 0,
    publicBadges: num(r.public_badges) !== 0,
    forkApproval: r.fork_approval as ForkApproval,
    fairShare: { weight: num(r.share_weight), urgentJobs: JSON.parse(r.urgent_jobs) as string[] },
    retention: {
      pipelineDays: numOrNull(r.retention_pipeline_days),
      keepPerRef: numOrNull(r.retention_keep_per_ref),
      logDays: numOrNull(r.retention_log_days),
      artifactsExpireIn: r.artifacts_expire_in,
      keepLatestArtifacts: r.keep_latest_artifacts === null ? null : num(r.keep_latest_artifacts) !== 0,
    },
  };
}

/** Who may run a project's jobs and on which network, from its row (the take and the queue read the same columns). */
export function sandboxSettingsOf(r: { require_sandbox: number | string; network: string; fork_network: string }): Omit<ProjectIsolation, 'jobLimits'> {
  return { requireSandbox: num(r.require_sandbox) !== 0, network: r.network as NetworkPolicy, forkNetwork: r.fork_network as NetworkPolicy };
}

/** A JSON column of JobLimits; NULL is no limit of any kind. */
export function jobLimitsOf(json: string | null): JobLimits {
  return json === null ? NO_LIMITS : { ...NO_LIMITS, ...(JSON.parse(json) as Partial<JobLimits>) };
}
export function toPipeline(r: PipelineRow): Pipeline {
  return {
    id: asPipelineId(num(r.id)),
    projectId: asProjectId(num(r.project_id)),
    status: r.status as PipelineStatus,
    ref: r.ref,
    sha: r.sha,
    source: r.source as PipelineSource,
    variables: JSON.parse(r.variables) as Record<string, string>,
    fileVariables: JSON.parse(r.file_variables) as Record<string, string>,
    pipelineFile: r.pipeline_file,
    runsOn: r.runs_on as Pipeline['runsOn'],
    predefinedVariables: JSON.parse(r.predefined_variables) as Record<string, string>,
    trusted: num(r.trusted) !== 0,
    protectedRef: num(r.protected_ref) !== 0,
    triggeredBy: r.triggered_by === null ? null : (JSON.parse(r.triggered_by) as TriggeredBy),
    createdAt: num(r.created_at),
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
    approval: r.approval_reason === null ? null : { reason: r.approval_reason, approvedBy: r.approved_by, approvedAt: numOrNull(r.approved_at) },
    forkAuthor: r.fork_author === null ? null : { provider: r.fork_provider ?? '', name: r.fork_author },
    parent: r.parent_pipeline_id === null || r.parent_job_id === null ? null : { pipelineId: asPipelineId(num(r.parent_pipeline_id)), jobId: asJobId(num(r.parent_job_id)) },
  };
}
export function toJob(r: JobRow): Job {
  return toJobWithSpec(r, JSON.parse(r.spec) as CompiledJob);
}

/** A job whose definition the caller has parsed already (the SpecCache): its JSON is not read again. */
export function toJobWithSpec(r: Omit<JobRow, 'spec'>, spec: CompiledJob): Job {
  return {
    id: asJobId(num(r.id)),
    pipelineId: asPipelineId(num(r.pipeline_id)),
    name: r.name,
    stage: r.stage,
    stageIndex: r.stage_index,
    status: r.status as JobStatus,
    spec,
    attemptCount: num(r.attempt_count),
    exitCode: r.exit_code,
    failureReason: r.failure_reason as FailureReason | null,
    createdAt: num(r.created_at),
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
    downstreamError: r.downstream_error ?? null,
    scheduledAt: numOrNull(r.scheduled_at ?? null),
  };
}
export function toAttempt(r: AttemptRow): Attempt {
  return {
    id: asAttemptId(num(r.id)),
    jobId: asJobId(num(r.job_id)),
    number: num(r.number),
    status: r.status as AttemptStatus,
    agent: r.agent,
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    queuedAt: num(r.queued_at),
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
    exitCode: r.exit_code,
    failureReason: r.failure_reason as FailureReason | null,
    logBytes: num(r.log_bytes),
    coverage: r.coverage === null || r.coverage === undefined ? null : Number(r.coverage),
  };
}

export function toToken(r: TokenRow): ApiToken {
  return {
    id: num(r.id),
    hash: r.hash,
    kind: r.kind as TokenKind,
    projectId: r.project_id === null ? null : asProjectId(num(r.project_id)),
    createdAt: num(r.created_at),
    lastUsedAt: numOrNull(r.last_used_at),
    description: r.description,
    userId: r.user_id === null ? null : asUserId(num(r.user_id)),
    expiresAt: numOrNull(r.expires_at),
    readOnly: num(r.read_only) !== 0,
    projects: r.projects === null ? null : (JSON.parse(r.projects) as number[]).map(asProjectId),
  };
}
export function toVariable(r: VariableRow): StoredVariable {
  return {
    projectId: asProjectId(num(r.project_id)),
    key: r.key,
    ciphertext: r.ciphertext,
    nonce: r.nonce,
    masked: num(r.masked) !== 0,
    protected: num(r.protected) !== 0,
    updatedAt: num(r.updated_at),
  };
}
export function toIdempotency(r: IdempotencyRow): IdempotencyRecord {
  return {
    projectId: asProjectId(num(r.project_id)),
    key: r.key,
    fingerprint: r.fingerprint,
    // Set in the transaction that claimed the key, so a committed row always has it.
    pipelineId: asPipelineId(num(r.pipeline_id ?? 0)),
    createdAt: num(r.created_at),
  };
}

export const TOKEN_COLUMNS = 'id, hash, kind, project_id, created_at, last_used_at, description, user_id, expires_at, read_only, projects';
export const VARIABLE_COLUMNS = 'project_id, key, ciphertext, nonce, masked, updated_at, protected';
export const IDEMPOTENCY_COLUMNS = 'project_id, key, fingerprint, pipeline_id, created_at';


export const PIPELINE_COLUMNS =
  'id, project_id, status, ref, sha, source, variables, file_variables, pipeline_file, runs_on, predefined_variables, trusted, triggered_by, created_at, started_at, finished_at, protected_ref, approval_reason, approved_by, approved_at, fork_provider, fork_author, parent_pipeline_id, parent_job_id';
export const JOB_COLUMNS_WITHOUT_SPEC =
  'id, pipeline_id, position, name, stage, stage_index, status, attempt_count, exit_code, failure_reason, created_at, started_at, finished_at, downstream_error, scheduled_at';
export const JOB_COLUMNS = `${JOB_COLUMNS_WITHOUT_SPEC}, spec`;
export const ATTEMPT_COLUMNS =
  'id, job_id, number, status, agent, lease_expires_at, queued_at, started_at, finished_at, exit_code, failure_reason, log_bytes, coverage';


export interface DeliveryRow {
  id: number | string;
  project_id: number | string;
  provider: string;
  delivery_id: string;
  event: string;
  event_json: string | null;
  status: string;
  reason: string | null;
  pipeline_id: number | string | null;
  tries: number | string;
  due_at: number | string;
  received_at: number | string;
  finished_at: number | string | null;
}
export const DELIVERY_COLUMNS =
  'id, project_id, provider, delivery_id, event, event_json, status, reason, pipeline_id, tries, due_at, received_at, finished_at';
export function toDelivery(r: DeliveryRow): Delivery {
  return {
    id: num(r.id),
    projectId: asProjectId(num(r.project_id)),
    provider: r.provider as DeliveryProvider,
    deliveryId: r.delivery_id,
    event: r.event,
    gitEvent: r.event_json === null ? null : (JSON.parse(r.event_json) as GitEvent),
    status: r.status as DeliveryStatus,
    reason: r.reason,
    pipelineId: r.pipeline_id === null ? null : asPipelineId(num(r.pipeline_id)),
    tries: num(r.tries),
    dueAt: num(r.due_at),
    receivedAt: num(r.received_at),
    finishedAt: numOrNull(r.finished_at),
  };
}

/**
 * `columns` of table alias `alias`, each renamed `alias_column`, for one SELECT that joins several
 * tables whose rows are then taken apart by `unprefixed`.
 */
export function prefixedColumns(columns: string, alias: string): string {
  return columns
    .split(',')
    .map((c) => `${alias}.${c.trim()} AS ${alias}_${c.trim()}`)
    .join(', ');
}

/** The row of alias `alias` out of a joined row made with `prefixedColumns`. */
export function unprefixed<T>(row: Record<string, unknown>, alias: string): T {
  const out: Record<string, unknown> = {};
  const prefix = `${alias}_`;
  for (const [k, v] of Object.entries(row)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out as T;
}
