// The audit log over any SqlDialect (src/store/audit.ts). `auditIn` is what the changing store
// methods call inside their own transaction, so an entry commits with its change or not at all.

import { asProjectId } from '../../domain/ids.js';
import type { AuditAction, AuditActor, AuditEntry, AuditFor, AuditQuery, AuditStore, AuditTarget, StoredAuditEntry } from '../audit.js';
import type { EpochMs } from '../store.js';
import type { SqlDialect, SqlExecutor } from './dialect.js';
import { num, numOrNull } from './rows.js';

interface AuditRow {
  id: number | string;
  at: number | string;
  project_id: number | string | null;
  action: string;
  actor: string;
  target: string;
  address: string | null;
  details: string | null;
}
const AUDIT_COLUMNS = 'id, at, project_id, action, actor, target, address, details';

function toEntry(r: AuditRow): StoredAuditEntry {
  const projectId = numOrNull(r.project_id);
  return {
    id: num(r.id),
    at: num(r.at),
    action: r.action as AuditAction,
    actor: JSON.parse(r.actor) as AuditActor,
    projectId: projectId === null ? null : asProjectId(projectId),
    target: JSON.parse(r.target) as AuditTarget,
    address: r.address,
    details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
  };
}

export async function writeAudit(tx: SqlExecutor, e: AuditEntry): Promise<void> {
  await tx.run('INSERT INTO audit_log (at, project_id, action, actor, target, address, details) VALUES (?, ?, ?, ?, ?, ?, ?)', [
    e.at,
    e.projectId,
    e.action,
    JSON.stringify(e.actor),
    JSON.stringify(e.target),
    e.address,
    e.details === null ? null : JSON.stringify(e.details),
  ]);
}

/** Writes the entry `audit` makes of `result`, if any, in `tx`; gives `result` back. */
export async function auditIn<T>(tx: SqlExecutor, audit: AuditFor<T> | undefined, result: T): Promise<T> {
  const entry = audit?.(result) ?? null;
  if (entry !== null) await writeAudit(tx, entry);
  return result;
}

/**
 * Runs a single-statement change `fn` in a transaction with its audit entry when there is one;
 * without, as it always ran (no transaction round trips added).
 */
export async function audited<T>(db: SqlDialect, audit: AuditFor<T> | undefined, fn: (x: SqlExecutor) => Promise<T>): Promise<T> {
  if (audit === undefined) return fn(db);
  return db.transaction(async (tx) => auditIn(tx, audit, await fn(tx)));
}

export class SqlAuditStore implements AuditStore {
  constructor(private readonly db: SqlDialect) {}

  record(entry: AuditEntry): Promise<void> {
    return writeAudit(this.db, entry);
  }

  async list(q: AuditQuery): Promise<{ items: StoredAuditEntry[]; next: number | null }> {
    const limit = Math.min(100, Math.max(1, Math.floor(q.limit)));
    const where: string[] = [];
    const params: (number | string)[] = [];
    if (q.projectId !== undefined) {
      where.push('project_id = ?');
      params.push(q.projectId);
    }
    if (q.beforeId !== undefined) {
      where.push('id < ?');
      params.push(q.beforeId);
    }
    // One row more than the page says whether there is another.
    const rows = await this.db.all<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const items = rows.slice(0, limit).map(toEntry);
    return { items, next: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  async prune(before: EpochMs): Promise<number> {
    return (await this.db.run('DELETE FROM audit_log WHERE at < ?', [before])).changes;
  }
}
