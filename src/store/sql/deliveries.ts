// Webhook secrets, ref filters and the delivery queue (migration 4). The queue's two invariants
// live in SQL: a delivery is recorded once (the UNIQUE (project_id, provider, delivery_id) index
// decides between concurrent copies), and a due delivery is claimed by one instance at a time
// (a row lock taken with SKIP LOCKED on PostgreSQL; SQLite's write transaction is alone anyway).

import type { WebhookProvider } from '../../domain/git-event.js';
import type { ProjectId } from '../../domain/ids.js';
import type { Delivery, DeliveryEnd, EpochMs, NewDelivery, Project, RecordDeliveryResult, RefFilters, SealedSecret } from '../store.js';
import type { SqlDialect, SqlExecutor } from './dialect.js';
import { DELIVERY_COLUMNS, PROJECT_COLUMNS, type DeliveryRow, type ProjectRow, toDelivery, toProject } from './rows.js';

export async function putWebhookSecret(db: SqlExecutor, projectId: ProjectId, provider: WebhookProvider, sealed: SealedSecret, at: EpochMs): Promise<void> {
  await db.run(
    'INSERT INTO webhook_secrets (project_id, provider, ciphertext, nonce, created_at) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (project_id, provider) DO UPDATE SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, created_at = excluded.created_at',
    [projectId, provider, sealed.ciphertext, sealed.nonce, at],
  );
}

export async function getWebhookSecret(db: SqlDialect, projectId: ProjectId, provider: WebhookProvider): Promise<SealedSecret | null> {
  const row = await db.get<{ ciphertext: string; nonce: string }>(
    'SELECT ciphertext, nonce FROM webhook_secrets WHERE project_id = ? AND provider = ?',
    [projectId, provider],
  );
  return row ? { ciphertext: row.ciphertext, nonce: row.nonce } : null;
}

/**
 * Under a storm each webhook request is a round trip less: the project and its secret come in one
 * statement (the secret as scalar subqueries, so a project without one is still found).
 */
export async function getWebhookTarget(
  db: SqlDialect,
  idOrName: ProjectId | string,
  provider: WebhookProvider,
): Promise<{ project: Project; secret: SealedSecret | null } | null> {
  const secret = (column: string) => `(SELECT w.${column} FROM webhook_secrets w WHERE w.project_id = projects.id AND w.provider = ?) AS webhook_${column}`;
  const row = await db.get<ProjectRow & { webhook_ciphertext: string | null; webhook_nonce: string | null }>(
    `SELECT ${PROJECT_COLUMNS}, ${secret('ciphertext')}, ${secret('nonce')} FROM projects WHERE ${typeof idOrName === 'number' ? 'id' : 'name'} = ?`,
    [provider, provider, idOrName],
  );
  if (!row) return null;
  const sealed = row.webhook_ciphertext !== null && row.webhook_nonce !== null ? { ciphertext: row.webhook_ciphertext, nonce: row.webhook_nonce } : null;
  return { project: toProject(row), secret: sealed };
}

export async function setRefFilters(db: SqlExecutor, projectId: ProjectId, f: RefFilters): Promise<boolean> {
  const r = await db.run('UPDATE projects SET branch_filter = ?, tag_filter = ? WHERE id = ?', [
    f.branches === null ? null : JSON.stringify(f.branches),
    f.tags === null ? null : JSON.stringify(f.tags),
    projectId,
  ]);
  return r.changes === 1;
}

const deliveryKey = (projectId: number, provider: string, deliveryId: string) => `${projectId}\n${provider}\n${deliveryId}`;
const keyOfNew = (d: NewDelivery) => deliveryKey(Number(d.projectId), d.provider, d.deliveryId);
const keyOfRecorded = (d: Delivery) => deliveryKey(Number(d.projectId), d.provider, d.deliveryId);

/**
 * A batch in two statements, whatever its size: one multi-row INSERT (the UNIQUE index decides
 * each row, as it did row by row), then one SELECT of the rows that were there already. Under a
 * storm a round trip per delivery, inside the one transaction the batch holds, was the intake's
 * ceiling. Copies of one id within the batch are answered as the sequence would have been: the
 * first is recorded, the others find it.
 */
async function recordBatch(tx: SqlExecutor, batch: readonly NewDelivery[]): Promise<RecordDeliveryResult[]> {
  const firsts = new Map<string, NewDelivery>();
  for (const d of batch) if (!firsts.has(keyOfNew(d))) firsts.set(keyOfNew(d), d);
  const unique = [...firsts.values()];
  const params = unique.flatMap((d) => {
    const queued = d.outcome.status === 'queued';
    return [
      d.projectId,
      d.provider,
      d.deliveryId,
      d.event,
      d.outcome.status === 'queued' ? JSON.stringify(d.outcome.gitEvent) : null,
      d.outcome.status,
      d.outcome.status === 'ignored' ? d.outcome.reason : null,
      d.receivedAt,
      d.receivedAt,
      queued ? null : d.receivedAt,
    ];
  });
  const rows = await tx.all<DeliveryRow>(
    'INSERT INTO webhook_deliveries (project_id, provider, delivery_id, event, event_json, status, reason, due_at, received_at, finished_at) ' +
      `VALUES ${unique.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')} ON CONFLICT (project_id, provider, delivery_id) DO NOTHING ` +
      `RETURNING ${DELIVERY_COLUMNS}`,
    params,
  );
  const inserted = new Map(rows.map((r) => toDelivery(r)).map((d) => [keyOfRecorded(d), d]));
  const existing = new Map<string, Delivery>();
  const there = unique.filter((d) => !inserted.has(keyOfNew(d)));
  if (there.length > 0) {
    // On PostgreSQL a concurrent insert of the same id waited for the winner's commit above; this
    // statement (READ COMMITTED) sees the winner's row.
    const found = await tx.all<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE ${there.map(() => '(project_id = ? AND provider = ? AND delivery_id = ?)').join(' OR ')}`,
      there.flatMap((d) => [d.projectId, d.provider, d.deliveryId]),
    );
    for (const r of found) existing.set(keyOfRecorded(toDelivery(r)), toDelivery(r));
  }
  const answered = new Set<string>();
  return batch.map((d) => {
    const key = keyOfNew(d);
    const mine = inserted.get(key);
    if (mine && !answered.has(key)) {
      answered.add(key);
      return { recorded: true, delivery: mine };
    }
    return { recorded: false, existing: (mine ?? existing.get(key))! };
  });
}

interface Waiting {
  d: NewDelivery;
  resolve: (r: RecordDeliveryResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: deliveries that arrive while a commit is being made are recorded together in the
 * next transaction, so a burst costs one durable commit (one fsync on SQLite, where transactions
 * run one at a time) per batch instead of one per delivery, and each waits for fewer before it.
 */
class DeliveryBatcher {
  private waiting: Waiting[] = [];
  private running = false;

  constructor(private readonly db: SqlDialect) {}

  record(d: NewDelivery): Promise<RecordDeliveryResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ d, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, 100);
      try {
        // Durable: the forge is answered 2xx after this and will not send the delivery again, so
        // the commit must survive a power cut, not only a crash of the process. `fn` may run
        // again (a retried transaction): results are taken from the run that committed.
        const results = await this.db.transaction((tx) => recordBatch(tx, batch.map((w) => w.d)), { durable: true });
        batch.forEach((w, i) => w.resolve(results[i]!));
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.running = false;
  }
}

const batchers = new WeakMap<SqlDialect, DeliveryBatcher>();

export function recordDelivery(db: SqlDialect, d: NewDelivery): Promise<RecordDeliveryResult> {
  let b = batchers.get(db);
  if (!b) batchers.set(db, (b = new DeliveryBatcher(db)));
  return b.record(d);
}

export async function claimDelivery(db: SqlDialect, at: EpochMs, leaseMs: number): Promise<Delivery | null> {
  return db.transaction(async (tx) => {
    const due = await tx.get<{ id: number | string }>(
      "SELECT id FROM webhook_deliveries WHERE status IN ('queued', 'processing') AND due_at <= ? " +
        `ORDER BY due_at, id LIMIT 1${db.lockClause('skip')}`,
      [at],
    );
    if (!due) return null;
    const row = await tx.get<DeliveryRow>(
      `UPDATE webhook_deliveries SET status = 'processing', tries = tries + 1, due_at = ? WHERE id = ? RETURNING ${DELIVERY_COLUMNS}`,
      [at + leaseMs, due.id],
    );
    return row ? toDelivery(row) : null;
  });
}

export async function finishDelivery(db: SqlDialect, id: number, end: DeliveryEnd, at: EpochMs): Promise<boolean> {
  const r =
    end.status === 'queued'
      ? await db.run("UPDATE webhook_deliveries SET status = 'queued', reason = ?, due_at = ? WHERE id = ? AND status = 'processing'", [
          end.reason,
          end.dueAt,
          id,
        ])
      : await db.run("UPDATE webhook_deliveries SET status = ?, reason = ?, pipeline_id = ?, finished_at = ? WHERE id = ? AND status = 'processing'", [
          end.status,
          end.status === 'done' ? null : end.reason,
          end.status === 'done' ? end.pipelineId : null,
          at,
          id,
        ]);
  return r.changes === 1;
}

export async function listDeliveries(db: SqlDialect, projectId: ProjectId, limit: number): Promise<Delivery[]> {
  const rows = await db.all<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE project_id = ? ORDER BY id DESC LIMIT ?`, [
    projectId,
    Math.min(100, Math.max(1, Math.floor(limit))),
  ]);
  return rows.map(toDelivery);
}
