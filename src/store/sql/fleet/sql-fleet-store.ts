// The FleetStore over any SqlDialect. Each method is one transaction; the wake-ups its commit
// must announce are collected on the way (Effects) and emitted after the commit, in-process, and
// on PostgreSQL also sent with `pg_notify` inside the transaction so every other instance hears
// them (and this one, through its own LISTEN: a wake-up is idempotent, a duplicate costs nothing).

import { mergeDotenv } from '../../../domain/dotenv.js';
import { recordDotenvIn, SqlDotenvStore } from '../dotenv.js';
import type { IsolationCheck } from '../../../domain/isolation.js';
import { EventEmitter } from 'node:events';
import { GantryError } from '../../../domain/errors.js';
import { asAttemptId, asJobId, asPipelineId, asProjectId, type AttemptId, type JobId, type PipelineId, type ProjectId } from '../../../domain/ids.js';
import { isFinishedJob, isFinishedPipeline, type FailureReason, type FinishedAttemptStatus, type PipelineStatus } from '../../../domain/status.js';
import {
  asAgentId,
  type Agent,
  type AgentFacts,
  type AgentId,
  type AgentView,
  type AppendResult,
  type CompleteResult,
  type Completion,
  type Fence,
  type FleetEventMap,
  type FleetStore,
  type LogLimit,
  type LogRead,
  type LogState,
  type RenewResult,
  type StoredLogPiece,
  type SchedulerSettings,
  type SessionCheck,
  type StartResult,
  type TakenOffer,
  type ArtifactLookup,
  type ArtifactRecord,
  type BlobRef,
  type BlobTouch,
  type CacheLookup,
  type PutCacheResult,
  type RecordArtifactResult,
  type TransferCheck,
  type QueueEntry,
  type FleetGauges,
  type StoredArtifact,
} from '../../fleet.js';
import type { EpochMs, Job, PipelineWithJobs } from '../../store.js';
import type { Month } from '../../../domain/compute-minutes.js';
import type { ConsumedTotal, GrantResult, ProjectUsage, Quota, QuotaView, Usage, UsageLine, DayUsage } from '../../compute-minutes.js';
import { sqlStateOf, type SqlDialect, type SqlExecutor, type SqlValue, type TransactionOptions } from '../dialect.js';
import { moveJobIn } from '../moves.js';
import type { AuditFor } from '../../audit.js';
import { auditIn } from '../audit.js';
import {
  ATTEMPT_COLUMNS,
  JOB_COLUMNS,
  JOB_COLUMNS_WITHOUT_SPEC,
  prefixedColumns,
  unprefixed,
  PIPELINE_COLUMNS,
  PROJECT_COLUMNS,
  VARIABLE_COLUMNS,
  toAttempt,
  toJob,
  toJobWithSpec,
  toPipeline,
  toProject,
  toVariable,
  type AttemptRow,
  type JobRow,
  type PipelineRow,
  type ProjectRow,
  type VariableRow,
} from '../rows.js';
import { agentOnline, fenceOf, JobIdCache, noEffects, SpecCache, type Effects, type FleetTx } from './fleet-tx.js';
import { bridgesToSettleIn, createChildIn, pendingBridgesIn, settleBridgeIn, type ChildOutcome, type CreateChildResult } from './downstream.js';
import {
  afterAttemptIn,
  autoCancelIn,
  cancelJobIn,
  cancelPipelineIn,
  lockPipeline,
  lockPipelineOfAttempt,
  playJobIn,
  promoteDueIn,
  unscheduleJobIn,
  progressIn,
  retryJobIn,
  retryPipelineIn,
  approvePipelineIn,
  rejectPipelineIn,
  decideJobIn,
  type JobDecisionInput,
} from './progress.js';
import { pendingTagKeys, takeIn, type Offered } from './take.js';
import { explainQueueIn } from './queue.js';
import * as artifacts from './artifacts.js';
import * as logs from './logs.js';
import { enqueueForgeStatusesIn } from '../forge.js';
import { AGENT_COLUMNS, poolOf, isolationParams, toAgent, type AgentRow } from './agents.js';
import { ENDED_COLUMNS, LedgerCache, settleEndIn, type EndedRow } from './ledger.js';
import { extendIn, QUOTA_STOPPED, quotaStoppedOutcome, releaseLapsedIn, reservationsDue } from './reservations.js';
import { fleetGaugesIn } from './gauges.js';
import { consumedTotalsIn, grantIn, projectsUsageIn, quotaViewIn, setQuotaIn, TotalsCache, usageByDayIn, usageIn, usageLinesIn } from './quotas.js';

const CHANNELS = { ready: 'gantry_ready', cancel: 'gantry_cancel', log: 'gantry_log', pipeline: 'gantry_pipeline' } as const;

interface HeldAttempt {
  id: number | string;
  job_id: number | string;
  pipeline_id: number | string;
  number: number | string;
  status: string;
  failure_reason: string | null;
  exit_code: number | null;
  token_hash: string | null;
  agent_id: number | string | null;
  log_received: number | string;
  cancel_requested_at: number | string | null;
}
/** Log chunk rows per INSERT statement. */
const CHUNKS_PER_INSERT = 200;

/**
 * `items` filled up to the next power of two with `filler` (by default its last one repeated): a
 * statement with a list of varying length is then one of a few texts, not one per length
 * (PostgreSQL prepares each text once per connection, a bounded number of them). The filler must
 * change nothing: a repeat in an IN list or in the rows of an UPDATE ... FROM, or a row that the
 * statement skips.
 */
function padded<T>(items: readonly T[], filler: T = items[items.length - 1]!): T[] {
  let n = 1;
  while (n < items.length) n *= 2;
  return [...items, ...Array.from({ length: n - items.length }, () => filler)];
}

/** An upload waiting for the next group commit (appendLog). */
interface PendingAppend {
  attemptId: AttemptId;
  tokenHash: string;
  start: number;
  data: Buffer | null;
  end: number;
  producedAt: EpochMs;
  at: EpochMs;
  limit: LogLimit | null;
  resolve(r: AppendResult): void;
  reject(e: unknown): void;
}

const HELD_COLUMNS = 'id, job_id, pipeline_id, number, status, failure_reason, exit_code, token_hash, agent_id, log_received, cancel_requested_at';

/** The most pending jobs a scrape reads the reasons of; past it the pending gauges stop counting (documented). */
const GAUGED_QUEUE_MAX = 100_000;

export class SqlFleetStore implements FleetStore {
  readonly events = new EventEmitter<FleetEventMap>();
  private readonly specs = new SpecCache();
  private readonly jobIds = new JobIdCache();
  private readonly ledger = new LedgerCache();
  private readonly totals = new TotalsCache();
  private tagKeys: { keys: Set<string>; at: number } = { keys: new Set(), at: 0 };
  private listening: { close(): Promise<void> } | null = null;

  constructor(private readonly db: SqlDialect) {
    this.events.setMaxListeners(0);
  }

  private async run<T>(fn: (f: FleetTx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    let effects: Effects = noEffects();
    const result = await this.db.transaction(
      async (tx) => {
        // A retried transaction starts over with no effects.
        effects = noEffects();
        const f: FleetTx = { tx, db: this.db, specs: this.specs, jobIds: this.jobIds, effects, ledger: this.ledger };
        const r = await fn(f);
        // The outbox row commits with the status it reports, or not at all.
        await enqueueForgeStatusesIn(tx, [...effects.statuses]);
        await this.announce(tx, effects);
        return r;
      },
      options,
    );
    this.emit(effects);
    return result;
  }

  private async announce(tx: SqlExecutor, e: Effects): Promise<void> {
    if (this.db.name === 'sqlite') return;
    const messages: [string, string][] = [];
    for (const k of e.ready) messages.push([CHANNELS.ready, k]);
    for (const a of e.cancel) messages.push([CHANNELS.cancel, String(a)]);
    for (const p of e.pipelines) messages.push([CHANNELS.pipeline, String(p)]);
    for (const [a, n] of e.logs) messages.push([CHANNELS.log, `${a}:${n}`]);
    await this.db.notify(tx, messages);
  }

  private emit(e: Effects): void {
    for (const k of e.ready) this.tagKeys.keys.add(k);
    if (e.ready.size) this.events.emit('ready', [...e.ready]);
    for (const a of e.cancel) this.events.emit('cancel', a);
    for (const p of e.pipelines) this.events.emit('pipeline', p as PipelineId);
    for (const [a, n] of e.logs) this.events.emit('log', asAttemptId(a), n, e.logPieces.get(a));
    for (const x of e.finished) this.events.emit('finished', x.status, x.failureReason);
  }

  async listen(): Promise<void> {
    if (this.listening) return;
    this.listening = await this.db.listen(Object.values(CHANNELS), {
      notify: (channel, payload) => {
        if (channel === CHANNELS.ready) {
          this.tagKeys.keys.add(payload);
          this.events.emit('ready', [payload]);
        } else if (channel === CHANNELS.cancel) this.events.emit('cancel', asAgentId(Number(payload)));
        else if (channel === CHANNELS.pipeline) this.events.emit('pipeline', Number(payload) as PipelineId);
        else if (channel === CHANNELS.log) {
          const [a, n] = payload.split(':');
          this.events.emit('log', asAttemptId(Number(a)), Number(n));
        }
      },
      // Wake-ups may have been lost while the connection was down: wake every waiter once.
      reconnected: () => this.events.emit('ready', [...this.tagKeys.keys]),
    });
  }

  async close(): Promise<void> {
    await this.listening?.close();
    this.listening = null;
  }

  // ---- agents and sessions

  async registerAgent(facts: AgentFacts, tokenHash: string, at: EpochMs): Promise<Agent> {
    const row = await this.db.get<AgentRow>(
      'INSERT INTO agents (name, tags, concurrency, version, platform, token_hash, created_at, isolation, isolation_limits, isolation_check, pool) ' +
        `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${AGENT_COLUMNS}`,
      [facts.name, JSON.stringify(facts.tags), facts.concurrency, facts.version, JSON.stringify(facts.platform), tokenHash, at, ...isolationParams(facts), poolOf(facts)],
    );
    return toAgent(row!);
  }

  async findAgentByTokenHash(hash: string): Promise<Agent | null> {
    const row = await this.db.get<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE token_hash = ?`, [hash]);
    return row ? toAgent(row) : null;
  }

  /** Ends every attempt the agent holds as `agent_lost` and returns its offers to the queue. */
  private async loseAttemptsIn(f: FleetTx, agentId: AgentId, at: EpochMs, settings: SchedulerSettings): Promise<void> {
    const offers = await f.tx.all<{ id: number | string; tag_key: string; reserved_until: number | string | null }>(
      "UPDATE attempts SET offered_until = NULL, token_hash = NULL, agent_id = NULL WHERE agent_id = ? AND status = 'pending' RETURNING id, tag_key, reserved_until",
      [agentId],
    );
    for (const o of offers) {
      f.effects.ready.add(o.tag_key);
      if (o.reserved_until !== null) await releaseLapsedIn(f, Number(o.id), at);
    }
    const running = await f.tx.all<{ id: number | string; pipeline_id: number | string }>(
      "SELECT id, pipeline_id FROM attempts WHERE agent_id = ? AND status = 'running' ORDER BY pipeline_id",
      [agentId],
    );
    for (const r of running) await this.loseIn(f, Number(r.id), Number(r.pipeline_id), at, settings, 'agent_lost');
  }

  /** Ends one running attempt with `reason` decided by the server; the pipeline locked first. */
  private async loseIn(
    f: FleetTx,
    attemptId: number,
    pipelineId: number,
    at: EpochMs,
    settings: SchedulerSettings,
    reason: FailureReason,
    extraWhere = '',
    extraParams: (number | string)[] = [],
  ): Promise<boolean> {
    const p = await lockPipeline(f, pipelineId);
    if (!p) return false;
    const status: FinishedAttemptStatus = reason === 'canceled' ? 'canceled' : reason === 'timeout' ? 'timed_out' : 'failed';
    // An attempt the server was stopping for quota ends as that stop, however it ends.
    const row = await f.tx.get<{ job_id: number | string; number: number | string; status: FinishedAttemptStatus; failure_reason: FailureReason } & EndedRow>(
      `UPDATE attempts SET status = CASE WHEN ${QUOTA_STOPPED} THEN 'failed' ELSE ? END, failure_reason = CASE WHEN ${QUOTA_STOPPED} THEN failure_reason ELSE ? END, ` +
        "finished_at = ?, lease_expires_at = NULL, log_bytes = log_received WHERE id = ? AND status = 'running'" +
        extraWhere +
        ` RETURNING id, job_id, number, status, failure_reason, ${ENDED_COLUMNS}`,
      [status, reason, at, attemptId, ...extraParams],
    );
    if (!row) return false;
    await settleEndIn(f, row, at);
    f.effects.finished.push({ status: row.status, failureReason: row.failure_reason });
    await afterAttemptIn(
      f,
      { id: attemptId, jobId: Number(row.job_id), pipelineId, number: Number(row.number), status: row.status, exitCode: null, failureReason: row.failure_reason },
      p,
      at,
      settings,
    );
    return true;
  }

  async openSession(agentId: AgentId, sessionId: string, facts: AgentFacts, at: EpochMs, settings: SchedulerSettings): Promise<void> {
    await this.run(async (f) => {
      await f.tx.run(
        'UPDATE agents SET session_id = ?, session_started_at = ?, last_seen_at = ?, name = ?, tags = ?, concurrency = ?, version = ?, platform = ?, ' +
          'isolation = ?, isolation_limits = ?, isolation_check = ?, pool = ? WHERE id = ?',
        [
          sessionId,
          at,
          at,
          facts.name,
          JSON.stringify(facts.tags),
          facts.concurrency,
          facts.version,
          JSON.stringify(facts.platform),
          ...isolationParams(facts),
          poolOf(facts),
          agentId,
        ],
      );
      // A process that opens a session holds no attempts: whatever its predecessor held is lost.
      await this.loseAttemptsIn(f, agentId, at, settings);
    });
  }

  async checkSession(agentId: AgentId, sessionId: string, at: EpochMs): Promise<SessionCheck> {
    const fresh = await this.db.get<AgentRow>(
      `UPDATE agents SET last_seen_at = ? WHERE id = ? AND session_id = ? AND deregistered_at IS NULL RETURNING ${AGENT_COLUMNS}`,
      [at, agentId, sessionId],
    );
    if (fresh) return { kind: 'ok', agent: toAgent(fresh) };
    const row = await this.db.get<{ deregistered_at: number | null }>('SELECT deregistered_at FROM agents WHERE id = ?', [agentId]);
    return { kind: !row || row.deregistered_at !== null ? 'deregistered' : 'session-replaced' };
  }

  async recordIsolationCheck(agentId: AgentId, sessionId: string, check: IsolationCheck): Promise<boolean> {
    const row = await this.db.get<{ id: number | string }>('UPDATE agents SET isolation_check = ? WHERE id = ? AND session_id = ? AND deregistered_at IS NULL RETURNING id', [
      JSON.stringify(check),
      agentId,
      sessionId,
    ]);
    return row !== undefined && row !== null;
  }

  async deregisterAgent(agentId: AgentId, at: EpochMs, settings: SchedulerSettings, audit?: AuditFor<void>): Promise<void> {
    await this.run(async (f) => {
      await f.tx.run('UPDATE agents SET deregistered_at = ?, session_id = NULL WHERE id = ? AND deregistered_at IS NULL', [at, agentId]);
      await this.loseAttemptsIn(f, agentId, at, settings);
      await auditIn(f.tx, audit, undefined);
    });
  }

  async listAgents(at: EpochMs, leaseMs: number): Promise<AgentView[]> {
    const rows = await this.db.all<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE deregistered_at IS NULL ORDER BY id`);
    const running = await this.db.all<{ agent_id: number | string; job_id: number | string; project_id: number | string }>(
      "SELECT agent_id, job_id, project_id FROM attempts WHERE status = 'running' AND agent_id IS NOT NULL ORDER BY id",
    );
    const jobsOf = new Map<number, { jobId: JobId; projectId: ProjectId }[]>();
    for (const r of running) {
      jobsOf.set(Number(r.agent_id), [...(jobsOf.get(Number(r.agent_id)) ?? []), { jobId: asJobId(Number(r.job_id)), projectId: asProjectId(Number(r.project_id)) }]);
    }
    return rows.map((r) => {
      const a = toAgent(r);
      const running = jobsOf.get(a.id) ?? [];
      const online = agentOnline(a.sessionId, a.lastSeenAt, at, leaseMs);
      return { ...a, currentJobs: running.map((j) => j.jobId), running, status: !online ? 'offline' : running.length > 0 ? 'busy' : 'idle' };
    });
  }

  fleetGauges(at: EpochMs, settings: SchedulerSettings): Promise<FleetGauges> {
    // Every pending job's reason, as the queue page gives it: a scrape costs one queue read.
    return this.db.transaction(
      async (tx) => fleetGaugesIn(tx, at, settings, await explainQueueIn({ tx, ledger: this.ledger }, at, settings, null, GAUGED_QUEUE_MAX)),
      { readOnly: true },
    );
  }

  async explainQueue(at: EpochMs, settings: SchedulerSettings, projects: ProjectId | readonly ProjectId[] | null, limit: number): Promise<QueueEntry[]> {
    // One snapshot: the counts and the rows they explain agree.
    return this.db.transaction((tx) => explainQueueIn({ tx, ledger: this.ledger }, at, settings, projects, limit), { readOnly: true });
  }

  // ---- work

  offerableTagKeys(at: EpochMs): Promise<string[]> {
    return pendingTagKeys(this.db, at);
  }

  private async knownTagKeys(f: FleetTx, at: EpochMs): Promise<string[]> {
    // New keys arrive with 'ready' events; a full refresh now and then drops keys of finished work.
    if (at - this.tagKeys.at > 10_000) this.tagKeys = { keys: new Set(await pendingTagKeys(f.tx)), at };
    return [...this.tagKeys.keys];
  }

  async takeAttempts(agent: Agent, slots: number, at: EpochMs, settings: SchedulerSettings, tokenHashes: readonly string[]): Promise<TakenOffer[]> {
    // What an offer shows besides its attempt (job, pipeline, project, the project's variables)
    // does not change with the take. On PostgreSQL it is read on other connections while the
    // take's transaction commits: each round trip saved is on the way from a dependency's end to
    // a start. On SQLite, where statements cost no round trip, it is read in the transaction:
    // after it, the reads would queue for the one connection behind other transactions.
    const concurrent = this.db.name !== 'sqlite';
    let shown: Promise<TakenOffer[]> = Promise.resolve([]);
    const offered = await this.run(
      async (f) => {
        const offered = await takeIn(f, { agent, slots, at, settings, tokenHashes, knownTagKeys: await this.knownTagKeys(f, at) });
        // The last run of the transaction is the one that commits.
        shown = offered.length ? this.offersOf(concurrent ? this.db : f.tx, offered, at, settings) : Promise.resolve([]);
        shown.catch(() => undefined);
        if (!concurrent) await shown;
        return offered;
      },
      // An offer lost in a database crash is harmless: the agent's start is refused (its token is
      // unknown) and the attempt is offered again. So its commit does not wait for the disk.
      { relaxed: true },
    );
    return offered.length ? shown : [];
  }

  private async offersOf(db: SqlExecutor, offered: Offered[], at: EpochMs, settings: SchedulerSettings): Promise<TakenOffer[]> {
    const projects = [...new Set(offered.map((o) => o.projectId))];
    const [rows, variables, specs] = await Promise.all([
      db.all<Record<string, unknown>>(
        `SELECT ${prefixedColumns(JOB_COLUMNS_WITHOUT_SPEC, 'j')}, ${prefixedColumns(PIPELINE_COLUMNS, 'p')}, ${prefixedColumns(PROJECT_COLUMNS, 'pr')} ` +
          'FROM jobs j JOIN pipelines p ON p.id = j.pipeline_id JOIN projects pr ON pr.id = p.project_id ' +
          `WHERE j.id IN (${offered.map(() => '?').join(', ')})`,
        offered.map((o) => o.jobId),
      ),
      db.all<VariableRow>(
        `SELECT ${VARIABLE_COLUMNS} FROM project_variables WHERE project_id IN (${projects.map(() => '?').join(', ')}) ORDER BY project_id, key`,
        projects,
      ),
      this.specs.load(
        db,
        offered.map((o) => o.jobId),
      ),
    ]);
    const byJob = new Map(rows.map((r) => [Number(r.j_id), r]));
    const stored = variables.map(toVariable);
    const out: TakenOffer[] = [];
    for (const o of offered) {
      const row = byJob.get(o.jobId)!;
      const job = toJobWithSpec(unprefixed<Omit<JobRow, 'spec'>>(row, 'j'), specs.get(o.jobId)!);
      const names = job.spec.artifactSources;
      const idOf = names.length ? await this.jobIds.load(db, o.pipelineId) : new Map<string, number>();
      const project = toProject(unprefixed<ProjectRow>(row, 'pr'));
      const artifactSources = names.flatMap((name) => (idOf.has(name) ? [{ jobId: asJobId(idOf.get(name)!), name }] : []));
      // Dotenv variables travel as artifacts do: from the same jobs, so the two never disagree.
      const dotenv = artifactSources.length ? mergeDotenv(await new SqlDotenvStore(db).ofNewestAttempts(artifactSources.map((s) => s.jobId))) : {};
      out.push({
        attempt: toAttempt(o.row),
        job,
        artifactSources,
        dotenv,
        pipeline: toPipeline(unprefixed<PipelineRow>(row, 'p')),
        project,
        offeredUntil: at + settings.offerTtlMs,
        projectVariables: stored.filter((v) => v.projectId === project.id),
      });
    }
    return out;
  }

  async startAttempt(
    agentId: AgentId,
    attemptId: AttemptId,
    tokenHash: string,
    agentName: string,
    at: EpochMs,
    settings: SchedulerSettings,
  ): Promise<StartResult> {
    return this.run(async (f) => {
      // Lock order: pipeline, job, attempt.
      const head = await lockPipelineOfAttempt(f, attemptId);
      if (!head) return { kind: 'not-found' as const };
      const p = head.pipeline;
      const job = await f.tx.get<{ status: string }>(`SELECT status FROM jobs WHERE id = ?${f.db.lockClause('wait')}`, [head.jobId]);
      const spec = (await f.specs.load(f.tx, [head.jobId])).get(head.jobId)!;
      const timeoutMs = (spec.timeoutSeconds ?? 3600) * 1000;
      const deadline = at + timeoutMs + 300_000 + settings.killGraceMs + settings.leaseMs;
      const lease = at + settings.leaseMs;
      const row = await f.tx.get<AttemptRow>(
        "UPDATE attempts SET status = 'running', agent = ?, started_at = ?, lease_expires_at = ?, deadline_at = ?, offered_until = NULL " +
          "WHERE id = ? AND token_hash = ? AND agent_id = ? AND status = 'pending' " +
          `RETURNING ${ATTEMPT_COLUMNS}`,
        [agentName, at, lease, deadline, attemptId, tokenHash, agentId],
      );
      if (!row) {
        const now = await f.tx.get<AttemptRow & { token_hash: string | null }>(
          `SELECT ${ATTEMPT_COLUMNS}, token_hash FROM attempts WHERE id = ?`,
          [attemptId],
        );
        // A resent start of an offer that did start (its answer was lost): the same answer again.
        if (now && now.token_hash === tokenHash && now.status === 'running' && now.lease_expires_at !== null) {
          return { kind: 'ok' as const, leaseExpiresAt: Number(now.lease_expires_at), attempt: toAttempt(now) };
        }
        // Re-offered to someone else, canceled, or the token was never this attempt's.
        return { kind: 'offer-expired' as const };
      }
      if (job && job.status === 'pending') await moveJobIn(f.tx, asJobId(head.jobId), 'running', { at });
      if (p.status !== 'running' && !isFinishedPipeline(p.status)) await progressIn(f, p.id, at, p);
      f.effects.pipelines.add(p.id);
      return { kind: 'ok' as const, leaseExpiresAt: lease, attempt: toAttempt(row) };
    });
  }

  async renewLeases(agentId: AgentId, held: readonly { id: AttemptId; tokenHash: string }[], at: EpochMs, leaseMs: number): Promise<RenewResult> {
    const leaseExpiresAt = at + leaseMs;
    if (held.length === 0) return { leaseExpiresAt, cancel: [], quotaExceeded: [], lost: [] };
    const cond = held.map(() => '(id = ? AND token_hash = ?)').join(' OR ');
    const params: (number | string)[] = [leaseExpiresAt, agentId];
    for (const h of held) params.push(h.id, h.tokenHash);
    const rows = await this.db.all<{ id: number | string; cancel_requested_at: number | string | null; reserved_until: number | string | null; failure_reason: string | null }>(
      `UPDATE attempts SET lease_expires_at = ? WHERE status = 'running' AND agent_id = ? AND (${cond}) RETURNING id, cancel_requested_at, reserved_until, failure_reason`,
      params,
    );
    const renewed = new Set(rows.map((r) => Number(r.id)));
    const cancelRows = rows.filter((r) => r.cancel_requested_at !== null);
    const cancel = cancelRows.map((r) => asAttemptId(Number(r.id)));
    // A running attempt's failure_reason is only ever set by a quota stop (stopIn): its job log
    // should say so rather than "canceled".
    const quotaExceeded = cancelRows.filter((r) => r.failure_reason === 'quota_exceeded').map((r) => asAttemptId(Number(r.id)));
    // A quota project's attempt whose reservation the new lease outruns gets its next slice (or,
    // under a hard limit with nothing left, its stop), each in a transaction of its own: once a
    // lease or so, not at every heartbeat.
    for (const r of rows) {
      if (r.reserved_until === null || r.cancel_requested_at !== null || Number(r.reserved_until) >= leaseExpiresAt) continue;
      const extension = await this.run((f) => extendIn(f, Number(r.id), at, leaseMs));
      if (extension === 'stopped' || extension === 'canceled') cancel.push(asAttemptId(Number(r.id)));
      if (extension === 'stopped') quotaExceeded.push(asAttemptId(Number(r.id)));
    }
    return { leaseExpiresAt, cancel, quotaExceeded, lost: held.filter((h) => !renewed.has(h.id)).map((h) => h.id) };
  }

  async appendLog(
    attemptId: AttemptId,
    tokenHash: string,
    start: number,
    data: Buffer | null,
    end: number,
    producedAt: EpochMs,
    at: EpochMs,
    limit: LogLimit | null = null,
  ): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.appends.push({ attemptId, tokenHash, start, data, end, producedAt, at, limit, resolve, reject });
      // After the caller's synchronous work: the parts of one batched upload join one batch.
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          this.flushAppends();
        });
      }
    });
  }

  /**
   * Group commit: appends wait in `appends` while the dialect's `durableWriters` batches are
   * under way, and the next batch takes all of them (one durable commit for many uploads, not
   * one each). An agent has one upload of an attempt in flight at a time, so two batches rarely
   * hold appends of one attempt; when they do (a resend), the later one waits for the earlier
   * one's row lock (or the one SQLite writer) and sees what it stored.
   */
  private readonly appends: PendingAppend[] = [];
  private appending = 0;
  private flushQueued = false;

  private flushAppends(): void {
    while (this.appends.length > 0 && this.appending < this.db.durableWriters) {
      const batch = this.appends.splice(0, 256);
      this.appending++;
      void this.appendBatch(batch)
        .then(
          (results) => batch.forEach((b, i) => b.resolve(results[i]!)),
          (err: unknown) => {
            for (const b of batch) b.reject(err);
          },
        )
        .finally(() => {
          this.appending--;
          this.flushAppends();
        });
    }
  }

  /** Appends decided by the one-statement path (appendContinuing), for tests and curiosity. */
  continuedAppends = 0;

  private async appendBatch(batch: readonly PendingAppend[]): Promise<AppendResult[]> {
    // A failed fast statement (a deadlock, a dropped connection) leaves everything to the locked
    // path, which retries; had it committed after all, the appends are duplicates there. A
    // statement the database cannot run at all (SQLSTATE class 42) is a bug, and says so.
    const fast =
      this.db.name === 'sqlite'
        ? new Map<PendingAppend, AppendResult>()
        : await this.appendContinuing(batch).catch((e: unknown) => {
            if (sqlStateOf(e)?.startsWith('42')) throw e;
            return new Map<PendingAppend, AppendResult>();
          });
    this.continuedAppends += fast.size;
    const rest = batch.filter((b) => !fast.has(b));
    const slow = rest.length > 0 ? await this.run((f) => this.appendBatchIn(f, rest), { durable: true }) : [];
    const slowOf = new Map(rest.map((b, i) => [b, slow[i]!]));
    return batch.map((b) => fast.get(b) ?? slowOf.get(b)!);
  }

  /**
   * PostgreSQL, the usual batch in one round trip: each attempt's appends continue from where the
   * agent says the server's log ends, one after the other, under the size limit's threshold. One
   * statement, committed on its own (durably), updates every attempt whose row still says so
   * (running, the token, `log_received` where the appends start), inserts their chunks and
   * notifies. The appends of an attempt it did not update (a resend, a gap, a fenced token, an
   * ended attempt) and every one it cannot take are left to appendBatchIn, which decides them
   * one by one under the rows' locks. The condition on `log_received` is what makes it safe
   * without a lock read first: a concurrent append to the same attempt (another instance, a
   * resend) waits for the row and then no longer matches.
   */
  private async appendContinuing(batch: readonly PendingAppend[]): Promise<Map<PendingAppend, AppendResult>> {
    const done = new Map<PendingAppend, AppendResult>();
    const byAttempt = new Map<number, PendingAppend[]>();
    for (const b of batch) {
      const list = byAttempt.get(b.attemptId);
      if (list) list.push(b);
      else byAttempt.set(b.attemptId, [b]);
    }
    const runs = [...byAttempt].filter(([, list]) => {
      const last = list[list.length - 1]!;
      const contiguous = list.every((b, i) => b.end > b.start && (i === 0 || (b.start === list[i - 1]!.end && b.tokenHash === list[0]!.tokenHash)));
      return contiguous && (last.limit === null || last.end <= last.limit.headBytes + last.limit.tailBytes);
    });
    if (runs.length === 0) return done;
    // Padded with rows of no attempt, which the statement skips.
    const attemptRows = padded<readonly SqlValue[]>(
      runs.map(([id, list]) => [id, list[0]!.tokenHash, list[0]!.start, list[list.length - 1]!.end]),
      [null, null, null, null],
    );
    const chunkRows = padded<readonly SqlValue[]>(
      runs.flatMap(([id, list]) => list.map((b) => [id, b.start, b.end, Math.min(b.producedAt, b.at), b.data])),
      [null, null, null, null, null],
    );
    const rows = await this.db.all<{ id: number | string; cancel_requested_at: number | string | null }>(
      'WITH v AS (SELECT * FROM (VALUES ' +
        attemptRows.map(() => '(CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS BIGINT))').join(', ') +
        ') AS v (id, token, f, t) WHERE v.id IS NOT NULL), ' +
        "u AS (UPDATE attempts SET log_received = v.t FROM v WHERE attempts.id = v.id AND attempts.token_hash = v.token AND attempts.status = 'running' " +
        'AND attempts.log_received = v.f RETURNING attempts.id, attempts.log_received, attempts.cancel_requested_at), ' +
        'i AS (INSERT INTO log_chunks (attempt_id, start_offset, end_offset, produced_at, data) SELECT c.id, c.s, c.e, c.p, c.d FROM (VALUES ' +
        chunkRows.map(() => '(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BYTEA))').join(', ') +
        ') AS c (id, s, e, p, d) JOIN u ON u.id = c.id) ' +
        "SELECT u.id, u.cancel_requested_at, pg_notify(?, u.id || ':' || u.log_received) AS notified FROM u",
      [...attemptRows.flat(), ...chunkRows.flat(), await this.db.channelName(CHANNELS.log)],
    );
    const effects = noEffects();
    for (const r of rows) {
      const id = Number(r.id);
      const list = byAttempt.get(id)!;
      for (const b of list) done.set(b, { kind: 'ok', received: b.end, cancel: r.cancel_requested_at !== null });
      effects.logs.set(id, list[list.length - 1]!.end);
      effects.logPieces.set(
        id,
        list.map((b) => ({ offset: b.start, end: b.end, at: Math.min(b.producedAt, b.at), data: b.data })),
      );
    }
    this.emit(effects);
    return done;
  }

  /**
   * A batch of appends in a few statements whatever its size (on PostgreSQL each statement is a
   * round trip, and a batch of 100 attempts made one by one took 400 of them while every upload
   * waited): lock every attempt of the batch in one SELECT (in id order, so two instances'
   * batches lock in the same order), decide each append in arrival order exactly as alone
   * (PROTOCOL.md §9: fence, gap, duplicate, overlap trimmed), then one conditional UPDATE for all
   * the attempts that grew and one INSERT for all their chunks.
   */
  private async appendBatchIn(f: FleetTx, batch: readonly PendingAppend[]): Promise<AppendResult[]> {
    const ids = [...new Set(batch.map((b) => b.attemptId))].sort((a, b) => a - b);
    const rows = new Map<number, HeldAttempt>();
    const lockIds = padded(ids);
    for (const r of await f.tx.all<HeldAttempt>(
      `SELECT ${HELD_COLUMNS} FROM attempts WHERE id IN (${lockIds.map(() => '?').join(', ')}) ORDER BY id${f.db.lockClause('wait')}`,
      lockIds,
    )) {
      rows.set(Number(r.id), r);
    }
    const results: AppendResult[] = [];
    /** Per attempt that grows: what it had, what it has after the batch, its new chunks. */
    const grown = new Map<number, { tokenHash: string; from: number; to: number; limit: LogLimit | null; pieces: StoredLogPiece[] }>();
    for (const b of batch) {
      const row = rows.get(b.attemptId);
      const fence = fenceOf(row, b.tokenHash);
      if (fence || !row) {
        results.push(fence!);
        continue;
      }
      const g = grown.get(b.attemptId);
      const received = g ? g.to : Number(row.log_received);
      const cancel = row.cancel_requested_at !== null;
      if (b.start > received) results.push({ kind: 'gap', received });
      else if (b.end <= received) results.push({ kind: 'ok', received, cancel });
      else {
        // Keep only the bytes the server does not have: [received, end).
        const piece = { offset: received, end: b.end, at: Math.min(b.producedAt, b.at), data: b.data === null ? null : b.data.subarray(received - b.start) };
        if (g) {
          g.to = b.end;
          g.pieces.push(piece);
          g.limit = b.limit ?? g.limit;
        } else grown.set(b.attemptId, { tokenHash: b.tokenHash, from: received, to: b.end, limit: b.limit, pieces: [piece] });
        results.push({ kind: 'ok', received: b.end, cancel });
      }
    }
    if (grown.size === 0) return results;
    // The rows are locked (one writer on SQLite), so every UPDATE matches; the conditions say
    // what the decisions above relied on.
    const g = [...grown];
    const values = padded(g);
    const update =
      'UPDATE attempts SET log_received = v.column4 FROM (VALUES ' +
      values.map(() => '(CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS BIGINT))').join(', ') +
      ") AS v WHERE attempts.id = v.column1 AND attempts.token_hash = v.column2 AND attempts.status = 'running' AND attempts.log_received = v.column3 RETURNING attempts.id";
    const updateParams = values.flatMap(([id, x]) => [id, x.tokenHash, x.from, x.to]);
    // appendContinuing takes the usual batch on PostgreSQL; what comes here is the rest (resends,
    // overlaps, gaps, past the size limit), so a round trip more for the INSERT does not matter.
    const updated = (await f.tx.all<{ id: number | string }>(update, updateParams)).length;
    const chunks = g.flatMap(([id, x]) => x.pieces.map((p) => [id, p] as const));
    for (let i = 0; i < chunks.length; i += CHUNKS_PER_INSERT) {
      const part = chunks.slice(i, i + CHUNKS_PER_INSERT);
      await f.tx.run(
        `INSERT INTO log_chunks (attempt_id, start_offset, end_offset, produced_at, data) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
        part.flatMap(([id, p]) => [id, p.offset, p.end, p.at, p.data]),
      );
    }
    // Checked before anything is told of the batch; the throw rolls all of it back.
    if (updated !== g.length) throw new GantryError('GANTRY_E_STORE', `log append: ${g.length - updated} of ${g.length} locked attempts changed under the batch`);
    for (const [id, x] of g) {
      if (x.limit) await logs.enforceLogLimit(f.tx, asAttemptId(id), x.to, x.limit);
      f.effects.logs.set(id, x.to);
      f.effects.logPieces.set(id, x.pieces);
    }
    return results;
  }

  async completeAttempt(attemptId: AttemptId, tokenHash: string, c: Completion, at: EpochMs, settings: SchedulerSettings): Promise<CompleteResult> {
    return this.run(async (f) => {
      const head = await lockPipelineOfAttempt(f, attemptId);
      if (!head) return { kind: 'not-found' as const };
      const p = head.pipeline;
      // The usual case first, in one statement; the row is read only to say why it did not apply.
      // An attempt the server stopped for quota and its agent reports canceled ends as the stop says.
      const stopped = quotaStoppedOutcome('quota_exceeded', c);
      const row = await f.tx.get<{ job_id: number | string; number: number | string; status: string; failure_reason: string | null } & EndedRow>(
        `UPDATE attempts SET status = CASE WHEN ${QUOTA_STOPPED} THEN ? ELSE ? END, exit_code = ?, ` +
          `failure_reason = CASE WHEN ${QUOTA_STOPPED} THEN ? ELSE ? END, finished_at = ?, lease_expires_at = NULL, log_bytes = ?, coverage = ? ` +
          `WHERE id = ? AND token_hash = ? AND status = 'running' AND log_received = ? RETURNING id, job_id, number, status, failure_reason, ${ENDED_COLUMNS}`,
        [stopped.status, c.status, c.exitCode, stopped.failureReason, c.failureReason, at, c.logEnd, c.coverage ?? null, attemptId, tokenHash, c.logEnd],
      );
      if (!row) {
        const now = await f.tx.get<HeldAttempt>(`SELECT ${HELD_COLUMNS} FROM attempts WHERE id = ?`, [attemptId]);
        if (!now) return { kind: 'not-found' as const };
        if (now.token_hash !== tokenHash) return fenceOf(now, tokenHash)!;
        const received = Number(now.log_received);
        if (now.status !== 'running') {
          const as = quotaStoppedOutcome(now.failure_reason, c);
          const same =
            now.status === as.status &&
            now.failure_reason === as.failureReason &&
            (now.exit_code ?? null) === c.exitCode &&
            received === c.logEnd;
          if (same) return { kind: 'ok' as const, duplicate: true, status: as.status, failureReason: as.failureReason };
          return fenceOf(now, tokenHash)!;
        }
        if (received < c.logEnd) return { kind: 'log-incomplete' as const, received };
        if (received > c.logEnd) return { kind: 'log-overrun' as const, received };
        return { kind: 'fenced' as const };
      }
      // In the completion's transaction: a job this end makes ready already sees them.
      if (c.dotenv?.length) await recordDotenvIn(f.tx, attemptId, c.dotenv);
      await settleEndIn(f, row, at);
      const ended = { status: row.status as FinishedAttemptStatus, failureReason: row.failure_reason as FailureReason | null };
      f.effects.finished.push(ended);
      await afterAttemptIn(
        f,
        {
          id: attemptId,
          jobId: Number(row.job_id),
          pipelineId: p.id,
          number: Number(row.number),
          status: ended.status,
          exitCode: c.exitCode,
          failureReason: ended.failureReason,
        },
        p,
        at,
        settings,
      );
      return { kind: 'ok' as const, duplicate: false, ...ended };
    });
  }

  async sweep(at: EpochMs, settings: SchedulerSettings): Promise<number> {
    let ended = 0;
    const due = await this.db.all<{ id: number | string; pipeline_id: number | string; why: string }>(
      "SELECT id, pipeline_id, 'lease' AS why FROM attempts WHERE status = 'running' AND agent_id IS NOT NULL AND lease_expires_at < ? " +
        "UNION ALL SELECT id, pipeline_id, 'cancel' AS why FROM attempts WHERE status = 'running' AND agent_id IS NOT NULL AND cancel_requested_at < ? " +
        "UNION ALL SELECT id, pipeline_id, 'deadline' AS why FROM attempts WHERE status = 'running' AND agent_id IS NOT NULL AND deadline_at < ? " +
        'LIMIT 100',
      [at, at - (settings.killGraceMs + settings.leaseMs), at],
    );
    for (const d of due) {
      // Each its own transaction, re-checking its condition under the row lock: a renewal or a
      // completion that commits first wins, and this one then changes nothing.
      const done = await this.run(async (f) => {
        if (d.why === 'lease') return this.loseIn(f, Number(d.id), Number(d.pipeline_id), at, settings, 'agent_lost', ' AND lease_expires_at < ?', [at]);
        if (d.why === 'cancel') {
          return this.loseIn(f, Number(d.id), Number(d.pipeline_id), at, settings, 'canceled', ' AND cancel_requested_at < ?', [
            at - (settings.killGraceMs + settings.leaseMs),
          ]);
        }
        return this.loseIn(f, Number(d.id), Number(d.pipeline_id), at, settings, 'timeout', ' AND deadline_at < ?', [at]);
      });
      if (done) ended++;
    }
    // Compute minutes: reservations of offers that lapsed go back to their projects; attempts of
    // hard-limited projects whose reservation ran out get another slice, or are stopped.
    const reservations = await reservationsDue(this.db, at);
    for (const id of reservations.lapsed) await this.run((f) => releaseLapsedIn(f, id, at));
    for (const id of reservations.runOut) await this.run((f) => extendIn(f, id, at, settings.leaseMs));
    return ended;
  }

  // ---- logs

  logState(attemptId: AttemptId): Promise<LogState | null> {
    return logs.logState(this.db, attemptId);
  }

  logStates(attemptIds: readonly AttemptId[]): Promise<LogState[]> {
    return logs.logStates(this.db, attemptIds);
  }

  readLogPieces(attemptId: AttemptId, start: number, maxBytes: number): Promise<LogRead | null> {
    return logs.readLogPieces(this.db, attemptId, start, maxBytes);
  }

  logsToCompact(limit: number): Promise<AttemptId[]> {
    return logs.logsToCompact(this.db, limit);
  }

  finishLogCompaction(attemptId: AttemptId, sha256: string, stillStored?: () => Promise<boolean>): Promise<boolean> {
    return logs.finishLogCompaction(this.db, attemptId, sha256, stillStored);
  }

  // ---- pipelines and the people's actions

  async startPipeline(id: PipelineId, at: EpochMs, _settings: SchedulerSettings): Promise<void> {
    await this.run(async (f) => {
      const p = await lockPipeline(f, id);
      if (!p) return;
      await progressIn(f, id, at, p);
      await autoCancelIn(f, p, at);
    });
  }

  async progressAll(at: EpochMs, _settings: SchedulerSettings): Promise<void> {
    const rows = await this.db.all<{ id: number | string }>(
      "SELECT id FROM pipelines WHERE runs_on = 'fleet' AND status IN ('created', 'pending', 'running', 'manual', 'scheduled') ORDER BY id",
    );
    for (const r of rows) await this.run((f) => progressIn(f, Number(r.id), at));
  }

  private async pipelineOf(f: FleetTx, id: number): Promise<PipelineWithJobs> {
    const p = await f.tx.get<PipelineRow>(`SELECT ${PIPELINE_COLUMNS} FROM pipelines WHERE id = ?`, [id]);
    const jobs = await f.tx.all<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE pipeline_id = ? ORDER BY stage_index, position`, [id]);
    const attempts = await f.tx.all<AttemptRow>(
      `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE pipeline_id = ? ORDER BY job_id, number`,
      [id],
    );
    const children = await f.tx.all<{ id: number | string; parent_job_id: number | string; status: string }>(
      'SELECT id, parent_job_id, status FROM pipelines WHERE parent_pipeline_id = ? ORDER BY id',
      [id],
    );
    return {
      pipeline: toPipeline(p!),
      jobs: jobs.map(toJob),
      attempts: attempts.map(toAttempt),
      children: children.map((c) => ({ pipelineId: asPipelineId(Number(c.id)), jobId: asJobId(Number(c.parent_job_id)), status: c.status as PipelineStatus })),
    };
  }

  async cancelPipeline(id: PipelineId, at: EpochMs, _settings: SchedulerSettings, audit?: AuditFor<PipelineWithJobs | 'finished' | null>): Promise<PipelineWithJobs | 'finished' | null> {
    return this.run(async (f) => {
      const p = await lockPipeline(f, id);
      if (!p) return auditIn(f.tx, audit, null);
      if (!(await cancelPipelineIn(f, p, at))) return auditIn(f.tx, audit, 'finished' as const);
      return auditIn(f.tx, audit, await this.pipelineOf(f, id));
    });
  }

  async retryPipeline(id: PipelineId, at: EpochMs, _settings: SchedulerSettings, audit?: AuditFor<PipelineWithJobs | 'nothing-to-retry' | null>): Promise<PipelineWithJobs | 'nothing-to-retry' | null> {
    return this.run(async (f) => {
      const p = await lockPipeline(f, id);
      if (!p) return auditIn(f.tx, audit, null);
      if (!(await retryPipelineIn(f, p, at))) return auditIn(f.tx, audit, 'nothing-to-retry' as const);
      return auditIn(f.tx, audit, await this.pipelineOf(f, id));
    });
  }

  /** A job's action under its pipeline's lock, its audit entry (if `audit` makes one of the result) in the same transaction. */
  private async jobAction<R>(
    id: JobId,
    audit: AuditFor<R | null> | undefined,
    fn: (f: FleetTx, p: NonNullable<Awaited<ReturnType<typeof lockPipeline>>>) => Promise<R>,
  ): Promise<R | null> {
    return this.run(async (f) => {
      const head = await f.tx.get<{ pipeline_id: number | string }>('SELECT pipeline_id FROM jobs WHERE id = ?', [id]);
      if (!head) return auditIn(f.tx, audit, null);
      const p = await lockPipeline(f, Number(head.pipeline_id));
      if (!p) return auditIn(f.tx, audit, null);
      return auditIn(f.tx, audit, await fn(f, p));
    });
  }

  private async jobRow(f: FleetTx, id: JobId): Promise<Job> {
    return toJob((await f.tx.get<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [id]))!);
  }

  async cancelJob(id: JobId, at: EpochMs, _settings: SchedulerSettings, audit?: AuditFor<Job | 'finished' | null>): Promise<Job | 'finished' | null> {
    return this.jobAction(id, audit, async (f, p) => {
      const before = await this.jobRow(f, id);
      if (isFinishedJob(before.status)) return 'finished' as const;
      await cancelJobIn(f, p, id, at);
      return this.jobRow(f, id);
    });
  }

  async playJob(id: JobId, at: EpochMs, _settings: SchedulerSettings, audit?: AuditFor<Job | 'not-manual' | null>): Promise<Job | 'not-manual' | null> {
    return this.jobAction(id, audit, async (f, p) => {
      if (!(await playJobIn(f, p, id, at))) return 'not-manual' as const;
      return this.jobRow(f, id);
    });
  }

  async unscheduleJob(id: JobId, at: EpochMs, audit?: AuditFor<Job | 'not-scheduled' | null>): Promise<Job | 'not-scheduled' | null> {
    return this.jobAction(id, audit, async (f, p) => {
      if (!(await unscheduleJobIn(f, p, id, at))) return 'not-scheduled' as const;
      return this.jobRow(f, id);
    });
  }

  async promoteDueJobs(at: EpochMs): Promise<number> {
    // The partial index jobs_scheduled_due holds only scheduled jobs: this read is small whatever
    // the jobs table. Each pipeline is then promoted in its own transaction, under its lock.
    const rows = await this.db.all<{ pipeline_id: number | string }>(
      "SELECT DISTINCT pipeline_id FROM jobs WHERE status = 'scheduled' AND scheduled_at <= ? LIMIT 100",
      [at],
    );
    let queued = 0;
    for (const r of rows) {
      queued += await this.run(async (f) => {
        const p = await lockPipeline(f, Number(r.pipeline_id));
        return p ? promoteDueIn(f, p, at) : 0;
      });
    }
    return queued;
  }

  async retryJob(id: JobId, at: EpochMs, _settings: SchedulerSettings, audit?: AuditFor<Job | 'not-finished' | null>): Promise<Job | 'not-finished' | null> {
    return this.jobAction(id, audit, async (f, p) => {
      if (!(await retryJobIn(f, p, id, at))) return 'not-finished' as const;
      return this.jobRow(f, id);
    });
  }

  // ---- trigger jobs and child pipelines (downstream.ts)

  pendingBridges(limit: number): Promise<{ jobId: JobId; pipelineId: PipelineId }[]> {
    return pendingBridgesIn({ tx: this.db }, limit);
  }

  createChildPipeline(jobId: JobId, outcome: ChildOutcome, at: EpochMs): Promise<CreateChildResult> {
    return this.run((f) => createChildIn(f, jobId, outcome, at));
  }

  bridgesToSettle(limit: number): Promise<JobId[]> {
    return bridgesToSettleIn({ tx: this.db }, limit);
  }

  settleBridge(jobId: JobId, at: EpochMs): Promise<boolean> {
    return this.run((f) => settleBridgeIn(f, jobId, at));
  }

  // ---- gates (progress.ts: approvals)

  async approvePipeline(id: PipelineId, by: string, always: boolean, at: EpochMs, audit?: AuditFor<PipelineWithJobs | 'not-waiting' | null>): Promise<PipelineWithJobs | 'not-waiting' | null> {
    return this.run(async (f) => {
      const p = await lockPipeline(f, id);
      if (!p) return auditIn(f.tx, audit, null);
      if (!(await approvePipelineIn(f, p, by, always, at))) return auditIn(f.tx, audit, 'not-waiting' as const);
      return auditIn(f.tx, audit, await this.pipelineOf(f, id));
    });
  }

  async rejectPipeline(id: PipelineId, at: EpochMs, audit?: AuditFor<PipelineWithJobs | 'not-waiting' | null>): Promise<PipelineWithJobs | 'not-waiting' | null> {
    return this.run(async (f) => {
      const p = await lockPipeline(f, id);
      if (!p) return auditIn(f.tx, audit, null);
      if (!(await rejectPipelineIn(f, p, at))) return auditIn(f.tx, audit, 'not-waiting' as const);
      return auditIn(f.tx, audit, await this.pipelineOf(f, id));
    });
  }

  async decideJob(id: JobId, decision: JobDecisionInput, at: EpochMs, audit?: AuditFor<Job | 'not-waiting' | 'already' | null>): Promise<Job | 'not-waiting' | 'already' | null> {
    return this.jobAction(id, audit, async (f, p) => {
      const r = await decideJobIn(f, p, id, decision, at);
      return r === 'decided' ? this.jobRow(f, id) : r;
    });
  }

  // ---- compute minutes (quotas.ts)

  quotaOf(projectId: ProjectId): Promise<QuotaView | null> {
    return quotaViewIn(this.db, projectId);
  }

  async setQuota(projectId: ProjectId, quota: Quota, actor: string, at: EpochMs, audit?: AuditFor<QuotaView | null>): Promise<QuotaView | null> {
    return this.run(async (f) => auditIn(f.tx, audit, await setQuotaIn(f, projectId, quota, actor, at)));
  }

  async grantMinutes(projectId: ProjectId, grant: { amountMs: number; reason: string; key: string }, actor: string, at: EpochMs, audit?: AuditFor<GrantResult>): Promise<GrantResult> {
    return this.run(async (f) => auditIn(f.tx, audit, await grantIn(f, projectId, grant.amountMs, grant.reason, actor, grant.key, at)));
  }

  usage(projectId: ProjectId, month: Month, at: EpochMs): Promise<Usage | null> {
    // One snapshot: the balance and the pools' sums agree.
    return this.db.transaction((tx) => usageIn({ tx, ledger: this.ledger }, projectId, month, at), { readOnly: true });
  }

  usageByProject(month: Month, at: EpochMs): Promise<ProjectUsage[]> {
    return this.db.transaction((tx) => projectsUsageIn({ tx, ledger: this.ledger }, month, at), { readOnly: true });
  }

  usageLines(projectId: ProjectId | null, month: Month): Promise<UsageLine[]> {
    return usageLinesIn(this.db, projectId, month);
  }

  usageByDay(projectId: ProjectId | null, month: Month): Promise<DayUsage[]> {
    return usageByDayIn(this.db, projectId, month);
  }

  consumedTotals(at: EpochMs): Promise<ConsumedTotal[]> {
    return this.db.transaction((tx) => consumedTotalsIn(tx, this.totals, at), { readOnly: true });
  }

  // ---- blobs, artifacts and caches (artifacts.ts)

  checkTransfer(attemptId: AttemptId, tokenHash: string): Promise<TransferCheck> {
    return artifacts.checkTransfer(this.db, attemptId, tokenHash);
  }

  touchBlob(attemptId: AttemptId, tokenHash: string, sha256: string, at: EpochMs): Promise<BlobTouch> {
    return artifacts.touchBlob(this.db, attemptId, tokenHash, sha256, at);
  }

  recordBlob(attemptId: AttemptId, tokenHash: string, sha256: string, size: number, at: EpochMs): Promise<{ kind: 'ok' } | Fence> {
    return artifacts.recordBlob(this.db, attemptId, tokenHash, sha256, size, at);
  }

  recordArtifact(attemptId: AttemptId, tokenHash: string, rec: ArtifactRecord, at: EpochMs): Promise<RecordArtifactResult> {
    return artifacts.recordArtifact(this.db, attemptId, tokenHash, rec, at);
  }

  listArtifacts(jobId: JobId, keepLatestDefault: boolean): Promise<StoredArtifact[]> {
    return artifacts.listArtifacts(this.db, jobId, keepLatestDefault);
  }

  findArtifact(attemptId: AttemptId, tokenHash: string, sourceJobId: JobId, at: EpochMs): Promise<ArtifactLookup> {
    return artifacts.findArtifact(this.db, this.specs, attemptId, tokenHash, sourceJobId, at);
  }

  putCache(attemptId: AttemptId, tokenHash: string, key: string, blob: BlobRef, at: EpochMs): Promise<PutCacheResult> {
    return artifacts.putCache(this.db, attemptId, tokenHash, key, blob, at);
  }

  getCache(attemptId: AttemptId, tokenHash: string, key: string, at: EpochMs): Promise<CacheLookup> {
    return artifacts.getCache(this.db, attemptId, tokenHash, key, at);
  }

  sweepArtifacts(
    at: EpochMs,
    blobsBefore: EpochMs,
    removeFile: (sha256: string) => Promise<void>,
    cachesUnusedSince: EpochMs | null = null,
    keepLatestDefault = false,
  ): Promise<{ artifacts: number; caches: number; blobs: number }> {
    return artifacts.sweepArtifacts(this.db, at, blobsBefore, removeFile, cachesUnusedSince, keepLatestDefault);
  }

  evictCaches(maxBytes: number): Promise<number> {
    return artifacts.evictCaches(this.db, maxBytes);
  }

  adoptBlobs(files: readonly { sha256: string; size: number; modifiedAt: EpochMs }[]): Promise<number> {
    return artifacts.adoptBlobs(this.db, files);
  }
}

