// The one SQL design of the Store, over any SqlDialect. The rule that matters: a state move is a
// single `UPDATE ... WHERE id = ? AND status IN (<legal sources>)`, so the database, not the
// caller's memory of the state, decides whether a move is legal, atomically. A duplicate or late
// report matches no row and changes nothing; of many concurrent moves of one row, exactly one
// matches. The legal sources come from src/domain/status.ts and are inlined as literals, so each
// target status has one fixed statement that the dialect prepares once.

import { GantryError } from '../../domain/errors.js';
import { NO_LIMITS } from '../../domain/isolation.js';
import { averageCoverage } from '../../domain/coverage.js';
import {
  asJobId,
  asPipelineId,
  type AttemptId,
  type JobId,
  type PipelineId,
  type ProjectId,
} from '../../domain/ids.js';
import { attemptSourcesOf, type JobStatus, type PipelineStatus } from '../../domain/status.js';
import type {
  ApiToken,
  Attempt,
  ChildPipeline,
  AttemptFinish,
  CreateOnceResult,
  Delivery,
  DeliveryEnd,
  NewDelivery,
  RecordDeliveryResult,
  RefFilters,
  SealedSecret,
  EpochMs,
  IdempotencyRecord,
  NewToken,
  ProjectPageFilter,
  ProjectPatch,
  StoredVariable,
  TokenKind,
  Job,
  JobMovePatch,
  NewPipeline,
  Page,
  Pipeline,
  PipelineFilter,
  PipelineWithJobs,
  Project,
  Store,
  StepMoves,
} from '../store.js';
import type { SqlDialect, SqlExecutor, SqlValue } from './dialect.js';
import { applyMigrations } from './migrate.js';
import * as deliveries from './deliveries.js';
import type { WebhookProvider } from '../../domain/git-event.js';
import { SqlFleetStore } from './fleet/sql-fleet-store.js';
import { SqlForgeStore } from './forge.js';
import { SqlScheduleStore } from './schedules.js';
import { SqlUserStore } from './users.js';
import { SqlSsoStore } from './sso.js';
import { audited, SqlAuditStore } from './audit.js';
import { SqlIdTokenKeyStore } from './id-token-keys.js';
import { SqlRetentionStore } from './retention.js';
import { SqlInsightsStore } from './insights.js';
import { SqlGateStore } from './gates.js';
import { insertPipelineIn } from './insert-pipeline.js';
import type { ForkApproval } from '../../domain/approvals.js';
import type { AuditFor } from '../audit.js';
import type { ProtectedRefs } from '../../domain/protected-refs.js';
import {
  type ProjectRow,
  PROJECT_COLUMNS,
  type PipelineRow,
  type JobRow,
  type AttemptRow,
  type TokenRow,
  type VariableRow,
  type IdempotencyRow,
  num,
  toProject,
  toPipeline,
  toJob,
  toAttempt,
  toToken,
  toVariable,
  toIdempotency,
  TOKEN_COLUMNS,
  VARIABLE_COLUMNS,
  IDEMPOTENCY_COLUMNS,
  PIPELINE_COLUMNS,
  JOB_COLUMNS,
  ATTEMPT_COLUMNS,
} from './rows.js';
import { CREATE_ATTEMPT_SQL, finishAttemptIn, inList, moveJobIn, movePipelineIn } from './moves.js';
import { restampUrgentIn } from './fleet/urgent-jobs.js';
import { SqlPoolStore } from './pools.js';
import { SqlTestReportStore } from './test-reports.js';
import { SqlDotenvStore } from './dotenv.js';

const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;

const START_ATTEMPT_SQL =
  "UPDATE attempts SET status = 'running', agent = ?, started_at = ?, lease_expires_at = ? " +
  `WHERE id = ? AND ${inList(attemptSourcesOf('running'))}`;


const ATTEMPT_COLUMNS_A = ATTEMPT_COLUMNS.split(', ')
  .map((c) => `a.${c}`)
  .join(', ');

export class SqlStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';

  readonly fleet: SqlFleetStore;

  readonly schedules: SqlScheduleStore;

  readonly forge: SqlForgeStore;

  readonly users: SqlUserStore;

  readonly sso: SqlSsoStore;

  readonly audit: SqlAuditStore;

  readonly idTokenKeys: SqlIdTokenKeyStore;

  readonly gates: SqlGateStore;

  readonly pools: SqlPoolStore;
  readonly retention: SqlRetentionStore;
  readonly insights: SqlInsightsStore;
  readonly testReports: SqlTestReportStore;
  readonly dotenv: SqlDotenvStore;

  private constructor(private readonly db: SqlDialect) {
    this.dialect = db.name;
    this.users = new SqlUserStore(db);
    this.sso = new SqlSsoStore(db);
    this.audit = new SqlAuditStore(db);
    this.idTokenKeys = new SqlIdTokenKeyStore(db);
    this.gates = new SqlGateStore(db);
    this.pools = new SqlPoolStore(db);
    this.retention = new SqlRetentionStore(db);
    this.insights = new SqlInsightsStore(db);
    this.testReports = new SqlTestReportStore(db);
    this.dotenv = new SqlDotenvStore(db);
    this.fleet = new SqlFleetStore(db);
    this.schedules = new SqlScheduleStore(db);
    this.forge = new SqlForgeStore(db);
  }

  /** Applies pending migrations, then returns the store. Closes the dialect if that fails. */
  static async open(db: SqlDialect): Promise<SqlStore> {
    try {
      await applyMigrations(db);
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
    return new SqlStore(db);
  }

  async ensureProject(name: string, gitUrl: string, at: EpochMs): Promise<Project> {
    // The common case (the project exists) is a plain read: an upsert would write (PostgreSQL
    // makes a new row version and takes the row lock) and burn an identity value on every call.
    const found = await this.db.get<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = ?`, [name]);
    if (found) return toProject(found);
    // The no-op update makes RETURNING yield the row a concurrent caller inserted first: one
    // statement, no race between a SELECT and an INSERT.
    const row = await this.db.get<ProjectRow>(
      'INSERT INTO projects (name, git_url, created_at) VALUES (?, ?, ?) ' +
        `ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING ${PROJECT_COLUMNS}`,
      [name, gitUrl, at],
    );
    return toProject(row!);
  }

  async getProject(idOrName: ProjectId | string): Promise<Project | null> {
    const row =
      typeof idOrName === 'number'
        ? await this.db.get<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = ?`, [idOrName])
        : await this.db.get<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = ?`, [idOrName]);
    return row ? toProject(row) : null;
  }

  async listProjects(): Promise<Project[]> {
    const rows = await this.db.all<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects ORDER BY id`);
    return rows.map(toProject);
  }

  async createProject(name: string, gitUrl: string, at: EpochMs, audit?: AuditFor<Project | null>): Promise<Project | null> {
    // DO NOTHING + RETURNING: no row back means the name was taken, decided by the UNIQUE index
    // even when two instances create the same name at once.
    return audited(this.db, audit, async (x) => {
      const row = await x.get<ProjectRow>(
        `INSERT INTO projects (name, git_url, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING ${PROJECT_COLUMNS}`,
        [name, gitUrl, at],
      );
      return row ? toProject(row) : null;
    });
  }

  async updateProject(id: ProjectId, patch: ProjectPatch, audit?: AuditFor<Project | null>): Promise<Project | null> {
    const sets: string[] = [];
    const params: (string | number | null)[] = [];
    const set = (column: string, value: string | number | null) => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (patch.gitUrl !== undefined) set('git_url', patch.gitUrl);
    if (patch.maxRunning !== undefined) set('max_running', patch.maxRunning);
    if (patch.maxRunningPerPipeline !== undefined) set('max_running_per_pipeline', patch.maxRunningPerPipeline);
    if (patch.autoCancel !== undefined) set('auto_cancel', patch.autoCancel ? 1 : 0);
    if (patch.requireSandbox !== undefined) set('require_sandbox', patch.requireSandbox ? 1 : 0);
    if (patch.network !== undefined) set('network', patch.network);
    if (patch.forkNetwork !== undefined) set('fork_network', patch.forkNetwork);
    if (patch.forkIdTokens !== undefined) set('fork_id_tokens', patch.forkIdTokens ? 1 : 0);
    if (patch.publicBadges !== undefined) set('public_badges', patch.publicBadges ? 1 : 0);
    if (patch.forkApproval !== undefined) set('fork_approval', patch.forkApproval);
    const r = patch.retention ?? {};
    if (r.pipelineDays !== undefined) set('retention_pipeline_days', r.pipelineDays);
    if (r.keepPerRef !== undefined) set('retention_keep_per_ref', r.keepPerRef);
    if (r.logDays !== undefined) set('retention_log_days', r.logDays);
    if (r.artifactsExpireIn !== undefined) set('artifacts_expire_in', r.artifactsExpireIn);
    if (r.keepLatestArtifacts !== undefined) set('keep_latest_artifacts', r.keepLatestArtifacts === null ? null : r.keepLatestArtifacts ? 1 : 0);
    if (patch.jobLimits !== undefined) {
      const { memoryBytes, pids, cpus } = { ...NO_LIMITS, ...patch.jobLimits };
      set('job_limits', memoryBytes === null && pids === null && cpus === null ? null : JSON.stringify({ memoryBytes, pids, cpus }));
    }
    if (patch.weight !== undefined) set('share_weight', patch.weight);
    if (patch.urgentJobs !== undefined) set('urgent_jobs', JSON.stringify(patch.urgentJobs));
    if (sets.length === 0) return this.getProject(id);
    return audited(this.db, audit, async (x) => {
      const row = await x.get<ProjectRow>(`UPDATE projects SET ${sets.join(', ')} WHERE id = ? RETURNING ${PROJECT_COLUMNS}`, [...params, id]);
      // After the project's row: its lock keeps two changes of the list from re-stamping at once.
      if (row && patch.urgentJobs !== undefined) await restampUrgentIn(x, id, patch.urgentJobs);
      return row ? toProject(row) : null;
    });
  }

  async pageProjects(filter: ProjectPageFilter): Promise<{ items: Project[]; next: ProjectId | null }> {
    const limit = Math.min(MAX_PAGE, Math.max(1, Math.floor(filter.limit ?? DEFAULT_PAGE)));
    const only = filter.onlyIds;
    if (only !== undefined && only.length === 0) return { items: [], next: null };
    const rows = await this.db.all<ProjectRow>(
      `SELECT ${PROJECT_COLUMNS} FROM projects WHERE id > ?${only === undefined ? '' : ` AND id IN (${only.map(() => '?').join(', ')})`} ORDER BY id LIMIT ?`,
      [filter.afterId ?? 0, ...(only ?? []), limit + 1],
    );
    const items = rows.slice(0, limit).map(toProject);
    return { items, next: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  async createPipeline(input: NewPipeline): Promise<PipelineWithJobs> {
    return this.db.transaction(async (tx) => this.createPipelineIn(tx, input));
  }

  async createPipelineOnce(input: NewPipeline, idempotency: { key: string; fingerprint: string }): Promise<CreateOnceResult> {
    return this.db.transaction(async (tx) => {
      const project = await tx.get('SELECT id FROM projects WHERE id = ?', [input.projectId]);
      if (!project) throw new GantryError('GANTRY_E_NOT_FOUND', `no project with id ${input.projectId}`);
      // The claim comes first. On PostgreSQL a concurrent claim of the same key waits here for the
      // other transaction's row lock; when that one commits, DO NOTHING returns no row and the
      // SELECT below (a new statement at READ COMMITTED) sees the winner's pipeline. If the other
      // rolls back, this claim goes through. On SQLite transactions already run one at a time.
      const claimed = await tx.get(
        'INSERT INTO idempotency_keys (project_id, key, fingerprint, pipeline_id, created_at) VALUES (?, ?, ?, NULL, ?) ' +
          'ON CONFLICT (project_id, key) DO NOTHING RETURNING key',
        [input.projectId, idempotency.key, idempotency.fingerprint, input.createdAt],
      );
      if (!claimed) {
        const row = await tx.get<IdempotencyRow>(
          `SELECT ${IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE project_id = ? AND key = ?`,
          [input.projectId, idempotency.key],
        );
        return { created: false as const, existing: toIdempotency(row!) };
      }
      const pipeline = await this.createPipelineIn(tx, input);
      await tx.run('UPDATE idempotency_keys SET pipeline_id = ? WHERE project_id = ? AND key = ?', [
        pipeline.pipeline.id,
        input.projectId,
        idempotency.key,
      ]);
      return { created: true as const, pipeline };
    });
  }

  async getIdempotencyKey(projectId: ProjectId, key: string): Promise<IdempotencyRecord | null> {
    const row = await this.db.get<IdempotencyRow>(
      `SELECT ${IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE project_id = ? AND key = ?`,
      [projectId, key],
    );
    return row ? toIdempotency(row) : null;
  }

  async getJob(id: JobId): Promise<Job | null> {
    const row = await this.db.get<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [id]);
    return row ? toJob(row) : null;
  }

  async addToken(token: NewToken): Promise<boolean> {
    const r = await this.db.run(
      'INSERT INTO tokens (hash, kind, project_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING',
      [token.hash, token.kind, token.projectId, token.createdAt],
    );
    return r.changes === 1;
  }

  async findToken(hash: string): Promise<ApiToken | null> {
    const row = await this.db.get<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = ?`, [hash]);
    return row ? toToken(row) : null;
  }

  async countTokens(kind: TokenKind): Promise<number> {
    const row = await this.db.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM tokens WHERE kind = ?', [kind]);
    return num(row?.n ?? 0);
  }

  async touchToken(id: number, at: EpochMs, minIntervalMs: number): Promise<void> {
    // Throttled in SQL: a busy token costs one write per interval, not one per request.
    await this.db.run('UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)', [
      at,
      id,
      at - minIntervalMs,
    ]);
  }

  async createTriggerToken(projectId: ProjectId, hash: string, description: string | null, at: EpochMs, audit?: AuditFor<ApiToken>): Promise<ApiToken> {
    return audited(this.db, audit, async (x) => {
      const row = await x.get<TokenRow>(
        `INSERT INTO tokens (hash, kind, project_id, created_at, description) VALUES (?, 'trigger', ?, ?, ?) RETURNING ${TOKEN_COLUMNS}`,
        [hash, projectId, at, description],
      );
      return toToken(row!);
    });
  }

  async listTriggerTokens(projectId: ProjectId): Promise<ApiToken[]> {
    const rows = await this.db.all<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE project_id = ? AND kind = 'trigger' ORDER BY id`, [projectId]);
    return rows.map(toToken);
  }

  async deleteTriggerToken(projectId: ProjectId, id: number, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, async (x) => (await x.run("DELETE FROM tokens WHERE id = ? AND project_id = ? AND kind = 'trigger'", [id, projectId])).changes === 1);
  }

  async putVariable(v: StoredVariable, audit?: AuditFor<void>): Promise<void> {
    await audited(this.db, audit, async (x) => {
      await x.run(
        `INSERT INTO project_variables (${VARIABLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ` +
          'ON CONFLICT (project_id, key) DO UPDATE SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, ' +
          'masked = excluded.masked, updated_at = excluded.updated_at, protected = excluded.protected',
        [v.projectId, v.key, v.ciphertext, v.nonce, v.masked ? 1 : 0, v.updatedAt, v.protected ? 1 : 0],
      );
    });
  }

  async listVariables(projectId: ProjectId): Promise<StoredVariable[]> {
    const rows = await this.db.all<VariableRow>(
      `SELECT ${VARIABLE_COLUMNS} FROM project_variables WHERE project_id = ? ORDER BY key`,
      [projectId],
    );
    return rows.map(toVariable);
  }

  async deleteVariable(projectId: ProjectId, key: string, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, async (x) => (await x.run('DELETE FROM project_variables WHERE project_id = ? AND key = ?', [projectId, key])).changes === 1);
  }

  putWebhookSecret(projectId: ProjectId, provider: WebhookProvider, sealed: SealedSecret, at: EpochMs, audit?: AuditFor<void>): Promise<void> {
    return audited(this.db, audit, (x) => deliveries.putWebhookSecret(x, projectId, provider, sealed, at));
  }

  getWebhookSecret(projectId: ProjectId, provider: WebhookProvider): Promise<SealedSecret | null> {
    return deliveries.getWebhookSecret(this.db, projectId, provider);
  }

  getWebhookTarget(idOrName: ProjectId | string, provider: WebhookProvider): Promise<{ project: Project; secret: SealedSecret | null } | null> {
    return deliveries.getWebhookTarget(this.db, idOrName, provider);
  }

  setRefFilters(projectId: ProjectId, filters: RefFilters, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, (x) => deliveries.setRefFilters(x, projectId, filters));
  }

  async setProtectedRefs(projectId: ProjectId, refs: ProtectedRefs, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(
      this.db,
      audit,
      async (x) => (await x.run('UPDATE projects SET protected_branches = ?, protected_tags = ? WHERE id = ?', [JSON.stringify(refs.branches), JSON.stringify(refs.tags), projectId])).changes === 1,
    );
  }

  recordDelivery(d: NewDelivery): Promise<RecordDeliveryResult> {
    return deliveries.recordDelivery(this.db, d);
  }

  claimDelivery(at: EpochMs, leaseMs: number): Promise<Delivery | null> {
    return deliveries.claimDelivery(this.db, at, leaseMs);
  }

  finishDelivery(id: number, end: DeliveryEnd, at: EpochMs): Promise<boolean> {
    return deliveries.finishDelivery(this.db, id, end, at);
  }

  listDeliveries(projectId: ProjectId, limit: number): Promise<Delivery[]> {
    return deliveries.listDeliveries(this.db, projectId, limit);
  }

  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS ok');
  }

  observeQueries(observer: (seconds: number) => void): void {
    this.db.observeQueries(observer);
  }

  private createPipelineIn(tx: SqlExecutor, input: NewPipeline): Promise<PipelineWithJobs> {
    return insertPipelineIn(tx, input);
  }

  async getPipelineOnly(id: PipelineId): Promise<Pipeline | null> {
    const p = await this.db.get<PipelineRow>(`SELECT ${PIPELINE_COLUMNS} FROM pipelines WHERE id = ?`, [id]);
    return p ? toPipeline(p) : null;
  }

  async listChildPipelines(id: PipelineId): Promise<ChildPipeline[]> {
    const rows = await this.db.all<{ id: number | string; parent_job_id: number | string; status: string }>(
      'SELECT id, parent_job_id, status FROM pipelines WHERE parent_pipeline_id = ? ORDER BY id',
      [id],
    );
    return rows.map((r) => ({ pipelineId: asPipelineId(Number(r.id)), jobId: asJobId(Number(r.parent_job_id)), status: r.status as PipelineStatus }));
  }

  async getPipeline(id: PipelineId): Promise<PipelineWithJobs | null> {
    // One read-only transaction so the pipeline, its jobs and its attempts are one consistent
    // snapshot, even while other instances move them.
    return this.db.transaction(async (tx) => {
      const p = await tx.get<PipelineRow>(`SELECT ${PIPELINE_COLUMNS} FROM pipelines WHERE id = ?`, [id]);
      if (!p) return null;
      const jobs = await tx.all<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE pipeline_id = ? ORDER BY stage_index, position`,
        [id],
      );
      const attempts = await tx.all<AttemptRow>(
        `SELECT ${ATTEMPT_COLUMNS_A} FROM attempts a ` +
          'JOIN jobs j ON j.id = a.job_id WHERE j.pipeline_id = ? ORDER BY j.stage_index, j.position, a.number',
        [id],
      );
      const children = await tx.all<{ id: number | string; parent_job_id: number | string; status: string }>(
        'SELECT id, parent_job_id, status FROM pipelines WHERE parent_pipeline_id = ? ORDER BY id',
        [id],
      );
      return {
        pipeline: toPipeline(p),
        jobs: jobs.map(toJob),
        attempts: attempts.map(toAttempt),
        children: children.map((c) => ({ pipelineId: asPipelineId(Number(c.id)), jobId: asJobId(Number(c.parent_job_id)), status: c.status as PipelineStatus })),
      };
    }, { readOnly: true });
  }

  async pipelineCoverages(ids: readonly PipelineId[]): Promise<Map<PipelineId, number>> {
    const out = new Map<PipelineId, number>();
    if (ids.length === 0) return out;
    // One statement for a page of pipelines: each job's latest attempt, those that gave a coverage.
    const rows = await this.db.all<{ pipeline_id: number; coverage: number }>(
      `SELECT j.pipeline_id AS pipeline_id, a.coverage AS coverage FROM jobs j JOIN attempts a ON a.job_id = j.id ` +
        `WHERE j.pipeline_id IN (${ids.map(() => '?').join(', ')}) AND a.coverage IS NOT NULL ` +
        'AND a.number = (SELECT MAX(x.number) FROM attempts x WHERE x.job_id = j.id)',
      [...ids],
    );
    const of = new Map<PipelineId, number[]>();
    for (const r of rows) of.set(Number(r.pipeline_id) as PipelineId, [...(of.get(Number(r.pipeline_id) as PipelineId) ?? []), Number(r.coverage)]);
    for (const [id, values] of of) out.set(id, averageCoverage(values)!);
    return out;
  }

  async listPipelines(filter: PipelineFilter): Promise<Page<Pipeline>> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.projectId !== undefined) {
      where.push('project_id = ?');
      params.push(filter.projectId);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.ref !== undefined) {
      where.push('ref = ?');
      params.push(filter.ref);
    }
    if (filter.source !== undefined) {
      where.push('source = ?');
      params.push(filter.source);
    }
    if (filter.children === false) where.push('parent_pipeline_id IS NULL');
    if (filter.beforeId !== undefined) {
      where.push('id < ?');
      params.push(filter.beforeId);
    }
    const limit = Math.min(MAX_PAGE, Math.max(1, Math.floor(filter.limit ?? DEFAULT_PAGE)));
    // One row more than the page tells whether there is a next page without a COUNT.
    params.push(limit + 1);
    const rows = await this.db.all<PipelineRow>(
      `SELECT ${PIPELINE_COLUMNS} FROM pipelines${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      params,
    );
    const items = rows.slice(0, limit).map(toPipeline);
    const next = rows.length > limit ? items[items.length - 1]!.id : null;
    return { items, next };
  }

  movePipeline(id: PipelineId, to: PipelineStatus, at: EpochMs): Promise<boolean> {
    return movePipelineIn(this.db, id, to, at);
  }

  moveJob(id: JobId, to: JobStatus, patch: JobMovePatch): Promise<boolean> {
    return moveJobIn(this.db, id, to, patch);
  }

  async createAttempt(jobId: JobId, at: EpochMs): Promise<Attempt> {
    return this.db.transaction(async (tx) => this.createAttemptIn(tx, jobId, at));
  }

  private async createAttemptIn(tx: SqlExecutor, jobId: JobId, at: EpochMs): Promise<Attempt> {
    // The increment and the insert share a transaction, and the UPDATE takes the job's row lock
    // first, so two concurrent calls get numbers n+1 and n+2, never the same one.
    const job = await tx.get<{ attempt_count: number | string }>(CREATE_ATTEMPT_SQL, [jobId]);
    if (!job) {
      const exists = await tx.get<{ status: string }>('SELECT status FROM jobs WHERE id = ?', [jobId]);
      if (!exists) throw new GantryError('GANTRY_E_NOT_FOUND', `no job with id ${jobId}`);
      throw new GantryError(
        'GANTRY_E_ILLEGAL_TRANSITION',
        `job ${jobId} is ${exists.status}: a finished job gets no new attempt`,
      );
    }
    const row = await tx.get<AttemptRow>(
      `INSERT INTO attempts (job_id, number, status, queued_at) VALUES (?, ?, 'pending', ?) RETURNING ${ATTEMPT_COLUMNS}`,
      [jobId, num(job.attempt_count), at],
    );
    return toAttempt(row!);
  }

  async startAttempt(id: AttemptId, agent: string, at: EpochMs, leaseExpiresAt: EpochMs): Promise<boolean> {
    const r = await this.db.run(START_ATTEMPT_SQL, [agent, at, leaseExpiresAt, id]);
    return r.changes === 1;
  }

  finishAttempt(id: AttemptId, finish: AttemptFinish): Promise<boolean> {
    return finishAttemptIn(this.db, id, finish);
  }

  inOneTransaction<T>(fn: (moves: StepMoves) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      fn({
        movePipeline: (id, to, at) => movePipelineIn(tx, id, to, at),
        moveJob: (id, to, patch) => moveJobIn(tx, id, to, patch),
        createAttempt: (jobId, at) => this.createAttemptIn(tx, jobId, at),
        startAttempt: async (id, agent, at, leaseExpiresAt) => (await tx.run(START_ATTEMPT_SQL, [agent, at, leaseExpiresAt, id])).changes === 1,
        finishAttempt: (id, finish) => finishAttemptIn(tx, id, finish),
      }),
    );
  }

  async recordLogBytes(id: AttemptId, bytes: number): Promise<void> {
    await this.db.run('UPDATE attempts SET log_bytes = ? WHERE id = ? AND log_bytes < ?', [bytes, id, bytes]);
  }

  async getAttempt(id: AttemptId): Promise<Attempt | null> {
    const row = await this.db.get<AttemptRow>(`SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE id = ?`, [id]);
    return row ? toAttempt(row) : null;
  }

  async listAttempts(jobId: JobId): Promise<Attempt[]> {
    const rows = await this.db.all<AttemptRow>(
      `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE job_id = ? ORDER BY number`,
      [jobId],
    );
    return rows.map(toAttempt);
  }

  async close(): Promise<void> {
    await this.fleet.close();
    await this.db.close();
  }
}
