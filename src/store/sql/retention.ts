// The statements of retention and of the garbage collector's runs (src/store/retention.ts). Every
// delete names, in its own WHERE, what made its rows collectable (a pipeline ended, with every
// attempt; a record expired and not kept as its ref's latest; a blob unreferenced), so what changed
// since the collector picked them is decided by the database, as a state move is.

import type { PipelineId, ProjectId } from '../../domain/ids.js';
import type { PipelineFacts, RefFacts } from '../../domain/retention.js';
import type { PipelineStatus } from '../../domain/status.js';
import type { AuditFor } from '../audit.js';
import {
  PIPELINES_PER_TRANSACTION,
  type BlobReferences,
  type BlobRow,
  type ExpiredArtifact,
  type GcClaim,
  type GcRun,
  type GcStartedBy,
  type GcSummary,
  type PipelineContents,
  type PipelineCursor,
  type RetentionStore,
} from '../retention.js';
import type { EpochMs } from '../store.js';
import { auditIn } from './audit.js';
import type { SqlDialect, SqlExecutor } from './dialect.js';
import { expireArtifactsIn, expiredArtifactsIn, removeBlobIn, UNREFERENCED } from './fleet/artifacts.js';
import { logObjectLock } from './fleet/logs.js';

const ENDED_PIPELINE = "('success', 'failed', 'canceled', 'skipped')";
const ENDED_ATTEMPT = "('success', 'failed', 'canceled', 'timed_out')";
/** An attempt of pipeline `alias` has not ended (a canceled pipeline whose job is still being stopped): it stays. */
const UNFINISHED = (alias: string) =>
  `EXISTS (SELECT 1 FROM jobs uj JOIN attempts ua ON ua.job_id = uj.id WHERE uj.pipeline_id = ${alias}.id AND ua.status IN ('pending', 'running'))`;
/** Rows deleted per statement when pruning the past: a few milliseconds of the database at a time. */
const PRUNE_BATCH = 1_000;

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');
const truthy = (v: unknown) => v === true || Number(v) === 1;
const startOf = (after: PipelineCursor | null): [number, number] => (after ? [after.createdAt, after.id] : [-1, 0]);

interface RunRow {
  id: number | string;
  started_by: string;
  holder: string;
  started_at: number | string;
  lease_until: number | string;
  finished_at: number | string | null;
  summary: string | null;
  error: string | null;
}
/** A run whose instance stopped renewing its lease is over (also read by `gantry backup`'s hold). */
export const ABANDON_LAPSED_GC_RUNS = "UPDATE gc_runs SET finished_at = lease_until, error = 'abandoned: its instance stopped renewing it' WHERE finished_at IS NULL AND lease_until <= ?";

const RUN_COLUMNS = 'id, started_by, holder, started_at, lease_until, finished_at, summary, error';

function toRun(r: RunRow): GcRun {
  return {
    id: Number(r.id),
    startedBy: r.started_by as GcStartedBy,
    holder: r.holder,
    startedAt: Number(r.started_at),
    leaseUntil: Number(r.lease_until),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    summary: r.summary === null ? null : (JSON.parse(r.summary) as GcSummary),
    error: r.error,
  };
}

export class SqlRetentionStore implements RetentionStore {
  constructor(private readonly db: SqlDialect) {}

  async oldPipelines(projectId: ProjectId, before: EpochMs, after: PipelineCursor | null, limit: number): Promise<(PipelineFacts & PipelineCursor)[]> {
    const rows = await this.db.all<{ id: number | string; ref: string; status: string; created_at: number | string; unfinished: unknown }>(
      `SELECT p.id, p.ref, p.status, p.created_at, ${UNFINISHED('p')} AS unfinished FROM pipelines p ` +
        "WHERE p.project_id = ? AND p.created_at < ? AND p.runs_on = 'fleet' AND (p.created_at, p.id) > (?, ?) " +
        `ORDER BY p.created_at, p.id LIMIT ${Math.max(1, Math.floor(limit))}`,
      [projectId, before, ...startOf(after)],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      ref: r.ref,
      status: r.status as PipelineStatus,
      createdAt: Number(r.created_at),
      unfinishedAttempts: truthy(r.unfinished),
    }));
  }

  async refFacts(projectId: ProjectId, ref: string, keepPerRef: number): Promise<RefFacts> {
    const newest =
      keepPerRef > 0
        ? await this.db.all<{ id: number | string }>(
            `SELECT id FROM pipelines WHERE project_id = ? AND ref = ? AND runs_on = 'fleet' ORDER BY id DESC LIMIT ${Math.floor(keepPerRef)}`,
            [projectId, ref],
          )
        : [];
    const success = await this.db.get<{ id: number | string }>(
      "SELECT id FROM pipelines WHERE project_id = ? AND ref = ? AND runs_on = 'fleet' AND status = 'success' ORDER BY id DESC LIMIT 1",
      [projectId, ref],
    );
    return { newest: newest.map((r) => Number(r.id)), latestSuccess: success ? Number(success.id) : null };
  }

  async deletePipelines(ids: readonly PipelineId[], keepLatestArtifacts: boolean): Promise<number> {
    // A success goes only once a later pipeline of its ref succeeded, when the ref's latest
    // artifacts are kept: checked here again, not only by the policy, in case that later one was
    // retried (and is running) since.
    const latestKept = keepLatestArtifacts
      ? " AND (pipelines.status <> 'success' OR EXISTS (SELECT 1 FROM pipelines q WHERE q.project_id = pipelines.project_id AND q.ref = pipelines.ref " +
        "AND q.runs_on = 'fleet' AND q.status = 'success' AND q.id > pipelines.id))"
      : '';
    let deleted = 0;
    for (let i = 0; i < ids.length; i += PIPELINES_PER_TRANSACTION) {
      const batch = ids.slice(i, i + PIPELINES_PER_TRANSACTION);
      // One statement per batch, its own transaction: jobs, attempts, log chunks, artifact records
      // and tombstones, approvals, idempotency keys and forge statuses go by ON DELETE CASCADE;
      // deliveries and the compute ledger keep their rows (ON DELETE SET NULL).
      const r = await this.db.run(
        `DELETE FROM pipelines WHERE id IN (${marks(batch.length)}) AND runs_on = 'fleet' AND status IN ${ENDED_PIPELINE} ` +
          `AND NOT ${UNFINISHED('pipelines')}${latestKept}`,
        batch,
      );
      deleted += r.changes;
    }
    return deleted;
  }

  async pipelineContents(ids: readonly PipelineId[]): Promise<PipelineContents> {
    const out: PipelineContents = { logs: 0, logObjects: [], artifacts: [] };
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const attempts = await this.db.all<{ id: number | string; log_object: string | null }>(
        `SELECT a.id, a.log_object FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.pipeline_id IN (${marks(batch.length)}) ` +
          `AND a.status IN ${ENDED_ATTEMPT} AND a.log_expired_at IS NULL`,
        batch,
      );
      out.logs += attempts.length;
      for (const a of attempts) if (a.log_object !== null) out.logObjects.push({ attemptId: Number(a.id), sha256: a.log_object });
      const records = await this.db.all<{ attempt_id: number | string; blob_sha256: string; size: number | string }>(
        `SELECT r.attempt_id, r.blob_sha256, r.size FROM artifacts r JOIN jobs j ON j.id = r.job_id WHERE j.pipeline_id IN (${marks(batch.length)})`,
        batch,
      );
      for (const r of records) out.artifacts.push({ attemptId: Number(r.attempt_id), sha256: r.blob_sha256, size: Number(r.size) });
    }
    return out;
  }

  async pipelinesWithLogs(projectId: ProjectId, before: EpochMs, after: PipelineCursor | null, limit: number): Promise<(PipelineCursor & { unfinishedAttempts: boolean })[]> {
    // `logs_expired_at IS NULL` in the WHERE is what lets the partial index pipelines_logs_kept
    // serve it: pipelines whose logs already went are not walked again at every collection.
    const rows = await this.db.all<{ id: number | string; created_at: number | string; unfinished: unknown }>(
      `SELECT p.id, p.created_at, ${UNFINISHED('p')} AS unfinished FROM pipelines p ` +
        `WHERE p.project_id = ? AND p.logs_expired_at IS NULL AND p.created_at < ? AND p.runs_on = 'fleet' AND p.status IN ${ENDED_PIPELINE} ` +
        `AND (p.created_at, p.id) > (?, ?) ORDER BY p.created_at, p.id LIMIT ${Math.max(1, Math.floor(limit))}`,
      [projectId, before, ...startOf(after)],
    );
    return rows.map((r) => ({ id: Number(r.id), createdAt: Number(r.created_at), unfinishedAttempts: truthy(r.unfinished) }));
  }

  async expireLogs(ids: readonly PipelineId[], at: EpochMs): Promise<number> {
    if (ids.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      // Locked first (PostgreSQL): a retry of one of them waits, then finds its logs gone or not
      // touched, never half of them.
      const locked = await tx.all<{ id: number | string }>(
        `SELECT id FROM pipelines p WHERE id IN (${marks(ids.length)}) AND status IN ${ENDED_PIPELINE} AND logs_expired_at IS NULL AND NOT ${UNFINISHED('p')}` +
          this.db.lockClause('wait'),
        ids,
      );
      const ended = locked.map((r) => Number(r.id));
      if (ended.length === 0) return 0;
      const inEnded = `(SELECT j.id FROM jobs j WHERE j.pipeline_id IN (${marks(ended.length)}))`;
      const r = await tx.run(
        `UPDATE attempts SET log_object = NULL, log_expired_at = ? WHERE job_id IN ${inEnded} AND status IN ${ENDED_ATTEMPT} AND log_expired_at IS NULL`,
        [at, ...ended],
      );
      // Rows of logs that ended before they were compacted (compaction skips expired logs).
      await tx.run(`DELETE FROM log_chunks WHERE attempt_id IN (SELECT a.id FROM attempts a WHERE a.job_id IN ${inEnded} AND a.log_expired_at IS NOT NULL)`, ended);
      await tx.run(`UPDATE pipelines SET logs_expired_at = ? WHERE id IN (${marks(ended.length)})`, [at, ...ended]);
      return r.changes;
    });
  }

  expiredArtifacts(at: EpochMs, keepLatestDefault: boolean, afterId: number, limit: number): Promise<ExpiredArtifact[]> {
    return expiredArtifactsIn(this.db, at, keepLatestDefault, afterId, limit);
  }

  expireArtifacts(ids: readonly number[], at: EpochMs, keepLatestDefault: boolean): Promise<number> {
    return expireArtifactsIn(this.db, ids, at, keepLatestDefault);
  }

  pruneDeliveries(before: EpochMs, dryRun: boolean): Promise<number> {
    return this.prune('webhook_deliveries', 'id', `received_at < ? AND status IN ('done', 'ignored', 'failed')`, [before], dryRun);
  }

  pruneOutbox(before: EpochMs, at: EpochMs, dryRun: boolean): Promise<number> {
    // Nothing left to send (next_at NULL: delivered or given up), nobody sending it, and its
    // pipeline ended before `before`. A pipeline retried later makes its row again.
    return this.prune(
      'forge_statuses',
      'pipeline_id',
      `next_at IS NULL AND claimed_until < ? AND EXISTS (SELECT 1 FROM pipelines p WHERE p.id = forge_statuses.pipeline_id AND p.finished_at < ? AND p.status IN ${ENDED_PIPELINE})`,
      [at, before],
      dryRun,
    );
  }

  pruneAudit(before: EpochMs, dryRun: boolean): Promise<number> {
    return this.prune('audit_log', 'id', 'at < ?', [before], dryRun);
  }

  /** Deletes (or counts) the rows of `table` matching `where`, PRUNE_BATCH per statement. */
  private async prune(table: string, key: string, where: string, params: readonly number[], dryRun: boolean): Promise<number> {
    if (dryRun) {
      const row = await this.db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
      return Number(row?.n ?? 0);
    }
    let total = 0;
    for (;;) {
      const r = await this.db.run(`DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${PRUNE_BATCH})`, params);
      total += r.changes;
      if (r.changes < PRUNE_BATCH) return total;
    }
  }

  async unreferencedBlobs(before: EpochMs, afterSha: string, limit: number): Promise<BlobRow[]> {
    const rows = await this.db.all<{ sha256: string; size: number | string }>(
      `SELECT sha256, size FROM blobs WHERE created_at < ? AND sha256 > ? AND ${UNREFERENCED} ORDER BY sha256 LIMIT ${Math.max(1, Math.floor(limit))}`,
      [before, afterSha],
    );
    return rows.map((r) => ({ sha256: r.sha256, size: Number(r.size) }));
  }

  removeBlob(sha256: string, before: EpochMs, removeFile: (sha256: string) => Promise<void>): Promise<boolean> {
    return removeBlobIn(this.db, sha256, before, removeFile);
  }

  async blobRows(shas: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < shas.length; i += 500) {
      const batch = shas.slice(i, i + 500);
      for (const r of await this.db.all<{ sha256: string }>(`SELECT sha256 FROM blobs WHERE sha256 IN (${marks(batch.length)})`, batch)) out.add(r.sha256);
    }
    return out;
  }

  async blobReferences(shas: readonly string[]): Promise<Map<string, BlobReferences>> {
    const out = new Map<string, BlobReferences>(shas.map((s) => [s, { attemptIds: [], cached: false }]));
    for (let i = 0; i < shas.length; i += 500) {
      const batch = shas.slice(i, i + 500);
      const records = await this.db.all<{ blob_sha256: string; attempt_id: number | string }>(
        `SELECT blob_sha256, attempt_id FROM artifacts WHERE blob_sha256 IN (${marks(batch.length)})`,
        batch,
      );
      for (const r of records) out.get(r.blob_sha256)!.attemptIds.push(Number(r.attempt_id));
      const caches = await this.db.all<{ blob_sha256: string }>(`SELECT DISTINCT blob_sha256 FROM caches WHERE blob_sha256 IN (${marks(batch.length)})`, batch);
      for (const c of caches) out.get(c.blob_sha256)!.cached = true;
    }
    return out;
  }

  async logObjectNames(shas: readonly string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (let i = 0; i < shas.length; i += 500) {
      const batch = shas.slice(i, i + 500);
      const rows = await this.db.all<{ id: number | string; log_object: string }>(`SELECT id, log_object FROM attempts WHERE log_object IN (${marks(batch.length)})`, batch);
      for (const r of rows) out.set(r.log_object, [...(out.get(r.log_object) ?? []), Number(r.id)]);
    }
    return out;
  }

  async removeLogObject(sha256: string, removeFile: (sha256: string) => Promise<void>): Promise<boolean> {
    try {
      return await this.db.transaction(async (tx) => {
        // The lock finishLogCompaction takes before it names an object: see there.
        await this.db.holdLock(tx, logObjectLock(sha256));
        if (await tx.get('SELECT 1 AS x FROM attempts WHERE log_object = ?', [sha256])) return false;
        await removeFile(sha256);
        return true;
      });
    } catch {
      return false;
    }
  }

  async claimRun(startedBy: GcStartedBy, holder: string, at: EpochMs, leaseMs: number, minIntervalMs: number | null, audit?: AuditFor<GcClaim>): Promise<GcClaim> {
    return this.db.transaction(async (tx) => {
      // One decision at a time across instances: the checks below read rows no row lock covers.
      await this.db.holdLock(tx, 'gc');
      await tx.run(ABANDON_LAPSED_GC_RUNS, [at]);
      const open = await tx.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM gc_runs WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1`);
      if (open) return auditIn(tx, audit, { kind: 'running' as const, run: toRun(open) });
      if (minIntervalMs !== null) {
        // A backup's hold is not a collection: it does not put the next one off.
        const last = await tx.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM gc_runs WHERE started_by <> 'backup' ORDER BY id DESC LIMIT 1`);
        if (last && Number(last.started_at) > at - minIntervalMs) return auditIn(tx, audit, { kind: 'recent' as const, run: toRun(last) });
      }
      const row = await tx.get<RunRow>(
        `INSERT INTO gc_runs (started_by, holder, started_at, lease_until) VALUES (?, ?, ?, ?) RETURNING ${RUN_COLUMNS}`,
        [startedBy, holder, at, at + leaseMs],
      );
      return auditIn(tx, audit, { kind: 'started' as const, run: toRun(row!) });
    });
  }

  async renewRun(id: number, leaseUntil: EpochMs): Promise<boolean> {
    return (await this.db.run('UPDATE gc_runs SET lease_until = ? WHERE id = ? AND finished_at IS NULL', [leaseUntil, id])).changes === 1;
  }

  async finishRun(id: number, at: EpochMs, summary: GcSummary | null, error: string | null): Promise<void> {
    await this.db.run('UPDATE gc_runs SET finished_at = ?, summary = ?, error = ? WHERE id = ?', [at, summary === null ? null : JSON.stringify(summary), error, id]);
  }

  async runs(at: EpochMs): Promise<{ running: GcRun | null; last: GcRun | null }> {
    const running = await this.db.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM gc_runs WHERE finished_at IS NULL AND lease_until > ? ORDER BY id DESC LIMIT 1`, [at]);
    const last = await this.db.get<RunRow>(`SELECT ${RUN_COLUMNS} FROM gc_runs WHERE finished_at IS NOT NULL AND started_by <> 'backup' ORDER BY id DESC LIMIT 1`);
    return { running: running ? toRun(running) : null, last: last ? toRun(last) : null };
  }

  async pruneRuns(before: EpochMs): Promise<number> {
    return (await this.db.run('DELETE FROM gc_runs WHERE finished_at IS NOT NULL AND finished_at < ?', [before])).changes;
  }
}
