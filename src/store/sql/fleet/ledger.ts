// The compute ledger's SQL (docs/RUNNING.md, "Compute minutes and quotas"), run inside the fleet
// transactions. The ledger is append-only: every write is an entry whose idempotency key is
// derived from its cause (`consume:<attempt>`, `reserve:<attempt>:<n>`,
// `allowance:<project>:<month>` ...) and inserted with ON CONFLICT DO NOTHING, so a cause
// reported twice (a completion resent, a sweep after the completion) writes once. A balance is
// only ever the sums of entries, handed to the pure arithmetic of src/domain/compute-minutes.ts.
//
// Months before the current one are frozen (an entry is dated when it is written), so their sums
// are kept per instance; the current month is summed at each use through the
// (project_id, month, kind) index.

import { balanceOf, computeMs, emptyMonth, monthOf, MS_PER_MINUTE, pastMonthsClosed, type Balance, type Month, type MonthSums } from '../../../domain/compute-minutes.js';
import { DEFAULT_COST_FACTOR_MILLI, DEFAULT_POOL } from '../../../domain/pools.js';
import type { EpochMs } from '../../store.js';
import type { SqlExecutor } from '../dialect.js';
import type { FleetTx } from './fleet-tx.js';

export type EntryKind = 'allowance' | 'grant' | 'reserve' | 'consume' | 'release' | 'adjustment';

export interface Entry {
  projectId: number;
  kind: EntryKind;
  amountMs: number;
  key: string;
  at: EpochMs;
  attemptId?: number;
  pool?: string;
  factorMilli?: number;
  durationMs?: number;
  reason?: string;
  actor?: string;
}

/** Whether the entry was written (false: its key was there already). */
export async function appendEntry(tx: SqlExecutor, e: Entry): Promise<boolean> {
  const row = await tx.get(
    'INSERT INTO compute_ledger (project_id, month, kind, amount_ms, idempotency_key, attempt_id, pool, cost_factor_milli, duration_ms, reason, actor, created_at) ' +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id',
    [e.projectId, monthOf(e.at), e.kind, e.amountMs, e.key, e.attemptId ?? null, e.pool ?? null, e.factorMilli ?? null, e.durationMs ?? null, e.reason ?? null, e.actor ?? null, e.at],
  );
  return row !== undefined;
}

/** Each project's sums of the months before the current one, per instance. */
export class LedgerCache {
  private readonly past = new Map<number, { month: Month; sums: MonthSums[] }>();
  constructor(private readonly max = 10_000) {}

  get(projectId: number, month: Month): MonthSums[] | undefined {
    const hit = this.past.get(projectId);
    return hit?.month === month ? hit.sums : undefined;
  }

  set(projectId: number, month: Month, sums: MonthSums[]): void {
    if (this.past.size >= this.max) this.past.delete(this.past.keys().next().value!);
    this.past.set(projectId, { month, sums });
  }
}

export interface LedgerRead {
  tx: SqlExecutor;
  ledger: LedgerCache;
}

interface SumRow {
  month: string;
  kind: EntryKind;
  amount: number | string;
}

function fold(rows: readonly SumRow[]): MonthSums[] {
  const byMonth = new Map<Month, MonthSums>();
  for (const r of rows) {
    const m = byMonth.get(r.month) ?? emptyMonth(r.month);
    const amount = Number(r.amount);
    if (r.kind === 'allowance') m.allowance = (m.allowance ?? 0) + amount;
    else m[r.kind] += amount;
    byMonth.set(r.month, m);
  }
  return [...byMonth.values()];
}

/** The project's sums for every month up to `month` (the current one read now, earlier ones maybe cached). */
export async function historyIn(r: LedgerRead, projectId: number, month: Month, at: EpochMs): Promise<MonthSums[]> {
  const current = month === monthOf(at);
  let past = current ? r.ledger.get(projectId, month) : undefined;
  if (!past) {
    past = fold(
      await r.tx.all<SumRow>('SELECT month, kind, SUM(amount_ms) AS amount FROM compute_ledger WHERE project_id = ? AND month < ? GROUP BY month, kind', [projectId, month]),
    );
    if (current && pastMonthsClosed(at)) r.ledger.set(projectId, month, past);
  }
  const now = fold(
    await r.tx.all<SumRow>('SELECT month, kind, SUM(amount_ms) AS amount FROM compute_ledger WHERE project_id = ? AND month = ? GROUP BY month, kind', [projectId, month]),
  );
  return [...past, ...now];
}

/** The project's quota columns; with `lockClause` (the dialect's FOR UPDATE), its row held until the transaction ends. */
export async function quotaColumnsIn(tx: SqlExecutor, projectId: number, lockClause = ''): Promise<{ monthlyMinutes: number | null; hardLimit: boolean } | null> {
  const row = await tx.get<{ monthly_minutes: number | string | null; quota_hard_limit: number | string }>(
    `SELECT monthly_minutes, quota_hard_limit FROM projects WHERE id = ?${lockClause}`,
    [projectId],
  );
  if (!row) return null;
  return { monthlyMinutes: row.monthly_minutes === null ? null : Number(row.monthly_minutes), hardLimit: Number(row.quota_hard_limit) === 1 };
}

/**
 * The project's balance now. With a quota, the month's allowance entry is written the first
 * time it is needed (`write`: in a transaction that holds the project's row, so the lazy write
 * and a quota change never cross); a read shows what it would be.
 */
export async function balanceIn(r: LedgerRead, projectId: number, monthlyMinutes: number | null, at: EpochMs, write: boolean): Promise<Balance> {
  const month = monthOf(at);
  const history = await historyIn(r, projectId, month, at);
  const quotaMs = monthlyMinutes === null ? null : monthlyMinutes * MS_PER_MINUTE;
  if (quotaMs !== null && write && !history.some((m) => m.month === month && m.allowance !== null)) {
    await appendEntry(r.tx, { projectId, kind: 'allowance', amountMs: quotaMs, key: `allowance:${projectId}:${month}`, at, reason: `${monthlyMinutes} minutes a month` });
  }
  return balanceOf(history, month, quotaMs);
}

/** What the ledger holds for one attempt: its reserves (how many, how much) and releases. */
export async function heldFor(tx: SqlExecutor, attemptId: number): Promise<{ reserves: number; reservedMs: number; releasedMs: number }> {
  const rows = await tx.all<{ kind: string; n: number | string; amount: number | string }>(
    "SELECT kind, COUNT(*) AS n, SUM(amount_ms) AS amount FROM compute_ledger WHERE attempt_id = ? AND kind IN ('reserve', 'release') GROUP BY kind",
    [attemptId],
  );
  const of = (k: string) => rows.find((r) => r.kind === k);
  return { reserves: Number(of('reserve')?.n ?? 0), reservedMs: Number(of('reserve')?.amount ?? 0), releasedMs: Number(of('release')?.amount ?? 0) };
}

/**
 * Releases everything still reserved for the attempt under `key` (`release:<attempt>` at its end,
 * `release:<attempt>:<reserves>` for an offer that lapsed: a later offer reserves anew), and with
 * `wake` wakes the polls that may now take the project's jobs. Returns the amount released.
 */
export async function releaseIn(
  f: FleetTx,
  attemptId: number,
  projectId: number,
  key: string | ((reserves: number) => string),
  at: EpochMs,
  wake = true,
): Promise<number> {
  const held = await heldFor(f.tx, attemptId);
  const amountMs = held.reservedMs - held.releasedMs;
  if (amountMs <= 0) return 0;
  const k = typeof key === 'string' ? key : key(held.reserves);
  if (!(await appendEntry(f.tx, { projectId, kind: 'release', amountMs, key: k, attemptId, at }))) return 0;
  if (wake) await wakeProjectIn(f, projectId);
  return amountMs;
}

/** The columns of an ended attempt its settlement needs (RETURNING of the statement that ended it). */
export interface EndedRow {
  id: number | string;
  project_id: number | string;
  started_at: number | string | null;
  pool: string | null;
  cost_factor_milli: number | string | null;
  reserved_until: number | string | null;
}
export const ENDED_COLUMNS = 'project_id, started_at, pool, cost_factor_milli, reserved_until';

/**
 * In the transaction that ends an attempt (completion, or the server's end: lost agent, cancel
 * or deadline): its consumption, the real duration from its start to `at` at the factor it was
 * offered at, then the release of all that was reserved for it. Every project's attempts are
 * consumed (usage and billing), a free pool's too (0 ms); only quota projects reserved.
 */
export async function settleEndIn(f: FleetTx, row: EndedRow, at: EpochMs): Promise<void> {
  const id = Number(row.id);
  const projectId = Number(row.project_id);
  if (row.started_at !== null) {
    // An attempt offered before prices existed (NULL) ran at the default price.
    const factorMilli = row.cost_factor_milli === null ? DEFAULT_COST_FACTOR_MILLI : Number(row.cost_factor_milli);
    const durationMs = Math.max(0, at - Number(row.started_at));
    await appendEntry(f.tx, {
      projectId,
      kind: 'consume',
      amountMs: computeMs(durationMs, factorMilli),
      key: `consume:${id}`,
      at,
      attemptId: id,
      pool: row.pool ?? DEFAULT_POOL,
      factorMilli,
      durationMs,
    });
  }
  if (row.reserved_until !== null) await releaseIn(f, id, projectId, `release:${id}`, at);
}

/** Waiting polls look again at the project's pending jobs: its balance grew. */
export async function wakeProjectIn(f: FleetTx, projectId: number): Promise<void> {
  const rows = await f.tx.all<{ tag_key: string }>("SELECT DISTINCT tag_key FROM attempts WHERE status = 'pending' AND project_id = ? AND tag_key IS NOT NULL", [projectId]);
  for (const r of rows) f.effects.ready.add(r.tag_key);
}

/**
 * A pool's price (`pools.cost_factor_milli`). Setting prices is the pools API's business, with a
 * store method of its own; this one is for the ledger's tests, which price pools without it.
 */
export async function setPoolPriceIn(tx: SqlExecutor, pool: string, factorMilli: number, at: EpochMs): Promise<void> {
  await tx.run(
    'INSERT INTO pools (name, cost_factor_milli, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET cost_factor_milli = excluded.cost_factor_milli, updated_at = excluded.updated_at',
    [pool, factorMilli, at],
  );
}
