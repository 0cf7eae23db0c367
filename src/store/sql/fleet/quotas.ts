// The people's side of compute minutes (docs/API.md, "Compute minutes"): setting a project's quota
// and giving grants (entries of the ledger, written with the project's row held and waking its
// waiting jobs in the same commit), and the reads: a month's usage, the billing lines, the
// instance's projects, the Prometheus totals.

import { balanceOf, monthOf, MS_PER_MINUTE, pastMonthsClosed, type Month } from '../../../domain/compute-minutes.js';
import { asProjectId, type ProjectId } from '../../../domain/ids.js';
import type { ConsumedTotal, DayUsage, Grant, GrantResult, PoolUsage, ProjectUsage, Quota, QuotaView, Usage, UsageLine } from '../../compute-minutes.js';
import type { EpochMs } from '../../store.js';
import type { SqlExecutor } from '../dialect.js';
import type { FleetTx } from './fleet-tx.js';
import { appendEntry, historyIn, quotaColumnsIn, wakeProjectIn, type LedgerRead } from './ledger.js';

interface GrantRow {
  id: number | string;
  amount_ms: number | string;
  reason: string | null;
  actor: string | null;
  created_at: number | string;
}

const toGrant = (r: GrantRow): Grant => ({ id: Number(r.id), amountMs: Number(r.amount_ms), reason: r.reason ?? '', actor: r.actor, at: Number(r.created_at) });

export async function quotaViewIn(tx: SqlExecutor, projectId: ProjectId): Promise<QuotaView | null> {
  const q = await quotaColumnsIn(tx, projectId);
  if (!q) return null;
  const grants = await tx.all<GrantRow>(
    "SELECT id, amount_ms, reason, actor, created_at FROM compute_ledger WHERE project_id = ? AND kind = 'grant' ORDER BY id DESC LIMIT 100",
    [projectId],
  );
  return { ...q, grants: grants.map(toGrant) };
}

/**
 * A new quota, under the project's lock. The month's allowance becomes the new quota at once: it
 * is written now if the month has none yet, else an `adjustment` entry adds the difference
 * (`adjustment:<project>:<month>:<n>`, the n-th of the month), so what was consumed stays
 * consumed and the rest of the month runs under the new figure. No quota writes nothing: the
 * project is unlimited from now on.
 */
export async function setQuotaIn(f: FleetTx, projectId: ProjectId, quota: Quota, actor: string, at: EpochMs): Promise<QuotaView | null> {
  const before = await quotaColumnsIn(f.tx, projectId, f.db.lockClause('wait'));
  if (!before) return null;
  await f.tx.run('UPDATE projects SET monthly_minutes = ?, quota_hard_limit = ? WHERE id = ?', [quota.monthlyMinutes, quota.hardLimit ? 1 : 0, projectId]);
  if (quota.monthlyMinutes !== null) {
    const month = monthOf(at);
    const rows = await f.tx.all<{ kind: string; n: number | string; amount: number | string }>(
      "SELECT kind, COUNT(*) AS n, SUM(amount_ms) AS amount FROM compute_ledger WHERE project_id = ? AND month = ? AND kind IN ('allowance', 'adjustment') GROUP BY kind",
      [projectId, month],
    );
    const of = (k: string) => rows.find((r) => r.kind === k);
    const wanted = quota.monthlyMinutes * MS_PER_MINUTE;
    const reason = `quota ${before.monthlyMinutes ?? 'unlimited'} -> ${quota.monthlyMinutes} minutes a month`;
    if (!of('allowance')) {
      await appendEntry(f.tx, { projectId, kind: 'allowance', amountMs: wanted, key: `allowance:${projectId}:${month}`, at, reason, actor });
    } else {
      const diff = wanted - Number(of('allowance')!.amount) - Number(of('adjustment')?.amount ?? 0);
      const n = Number(of('adjustment')?.n ?? 0) + 1;
      if (diff !== 0) await appendEntry(f.tx, { projectId, kind: 'adjustment', amountMs: diff, key: `adjustment:${projectId}:${month}:${n}`, at, reason, actor });
    }
  }
  await wakeProjectIn(f, projectId);
  return quotaViewIn(f.tx, projectId);
}

/**
 * A grant of `amountMs` that does not expire with the month. `key` (the request's Idempotency-Key,
 * or a random one) makes a resent request one grant.
 */
export async function grantIn(f: FleetTx, projectId: ProjectId, amountMs: number, reason: string, actor: string, key: string, at: EpochMs): Promise<GrantResult> {
  const exists = await f.tx.get('SELECT id FROM projects WHERE id = ?', [projectId]);
  if (!exists) return { kind: 'no-project' };
  const idempotencyKey = `grant:${projectId}:${key}`;
  const written = await appendEntry(f.tx, { projectId, kind: 'grant', amountMs, key: idempotencyKey, at, reason, actor });
  const row = await f.tx.get<GrantRow>('SELECT id, amount_ms, reason, actor, created_at FROM compute_ledger WHERE idempotency_key = ?', [idempotencyKey]);
  const grant = toGrant(row!);
  if (written) {
    await wakeProjectIn(f, projectId);
    return { kind: 'created', grant };
  }
  return { kind: grant.amountMs === amountMs && grant.reason === reason ? 'existing' : 'mismatch', grant };
}

async function byPoolIn(tx: SqlExecutor, projectId: number, month: Month): Promise<Record<string, PoolUsage>> {
  const rows = await tx.all<{ pool: string | null; amount: number | string; duration: number | string }>(
    "SELECT pool, SUM(amount_ms) AS amount, SUM(duration_ms) AS duration FROM compute_ledger WHERE project_id = ? AND month = ? AND kind = 'consume' GROUP BY pool ORDER BY pool",
    [projectId, month],
  );
  return Object.fromEntries(rows.map((r) => [r.pool ?? 'default', { amountMs: Number(r.amount), durationMs: Number(r.duration) }]));
}

/**
 * A project's usage in `month` (not after the current one): for the current month, reservations
 * as they are now and the allowance the quota gives; for a past one, as the month ended.
 */
export async function usageIn(r: LedgerRead, projectId: ProjectId, month: Month, at: EpochMs): Promise<Usage | null> {
  const q = await quotaColumnsIn(r.tx, projectId);
  if (!q) return null;
  const current = month === monthOf(at);
  const history = await historyIn(r, projectId, month, at);
  const b = balanceOf(history, month, current ? (q.monthlyMinutes === null ? null : q.monthlyMinutes * MS_PER_MINUTE) : undefined);
  return { month, limitMs: b.limitMs, grantsMs: b.grantsMs, consumedMs: b.consumedMs, reservedMs: b.reservedMs, availableMs: b.availableMs, byPool: await byPoolIn(r.tx, projectId, month) };
}

/** Every project with a quota or with entries in `month`, by name, with its usage. */
export async function projectsUsageIn(r: LedgerRead, month: Month, at: EpochMs): Promise<ProjectUsage[]> {
  const rows = await r.tx.all<{ id: number | string; name: string }>(
    'SELECT id, name FROM projects WHERE monthly_minutes IS NOT NULL OR id IN (SELECT DISTINCT project_id FROM compute_ledger WHERE month = ?) ORDER BY name',
    [month],
  );
  const out: ProjectUsage[] = [];
  for (const p of rows) {
    const u = await usageIn(r, asProjectId(Number(p.id)), month, at);
    if (u) out.push({ ...u, projectId: asProjectId(Number(p.id)), project: p.name });
  }
  return out;
}

/** One line per attempt that consumed in `month` (of one project, or all), oldest first. */
const DAY_MS = 86_400_000;

/** Consumption of `month` summed by UTC day and pool, in the database: a month of a busy project is many thousands of lines. */
export async function usageByDayIn(tx: SqlExecutor, projectId: ProjectId | null, month: Month): Promise<DayUsage[]> {
  // Integer division on both stores (created_at is an integer): the day number since the epoch.
  const rows = await tx.all<{ day: number | string; pool: string | null; amount_ms: number | string }>(
    `SELECT created_at / ${DAY_MS} AS day, pool, SUM(amount_ms) AS amount_ms FROM compute_ledger ` +
      `WHERE month = ? AND kind = 'consume'${projectId === null ? '' : ' AND project_id = ?'} GROUP BY created_at / ${DAY_MS}, pool ORDER BY 1, 2`,
    projectId === null ? [month] : [month, projectId],
  );
  return rows.map((r) => ({ day: new Date(Math.floor(Number(r.day)) * DAY_MS).toISOString().slice(0, 10), pool: r.pool ?? 'default', amountMs: Number(r.amount_ms) }));
}

export async function usageLinesIn(tx: SqlExecutor, projectId: ProjectId | null, month: Month): Promise<UsageLine[]> {
  const rows = await tx.all<{
    project_id: number | string;
    project: string;
    pipeline_id: number | string | null;
    job_id: number | string | null;
    number: number | string | null;
    pool: string | null;
    cost_factor_milli: number | string | null;
    duration_ms: number | string | null;
    amount_ms: number | string;
    created_at: number | string;
  }>(
    'SELECT l.project_id, p.name AS project, a.pipeline_id, a.job_id, a.number, l.pool, l.cost_factor_milli, l.duration_ms, l.amount_ms, l.created_at ' +
      'FROM compute_ledger l JOIN projects p ON p.id = l.project_id LEFT JOIN attempts a ON a.id = l.attempt_id ' +
      `WHERE l.month = ? AND l.kind = 'consume'${projectId === null ? '' : ' AND l.project_id = ?'} ORDER BY l.id`,
    projectId === null ? [month] : [month, projectId],
  );
  const n = (v: number | string | null) => (v === null ? null : Number(v));
  return rows.map((r) => ({
    projectId: asProjectId(Number(r.project_id)),
    project: r.project,
    pipelineId: n(r.pipeline_id),
    jobId: n(r.job_id),
    attempt: n(r.number),
    pool: r.pool ?? 'default',
    factorMilli: n(r.cost_factor_milli) ?? 1000,
    durationMs: n(r.duration_ms) ?? 0,
    amountMs: Number(r.amount_ms),
    at: Number(r.created_at),
  }));
}

/** The months before the current one summed once per instance (they are frozen), the current one each time. */
export class TotalsCache {
  past: { month: Month; rows: Map<string, { projectId: number; pool: string; amountMs: number }> } | null = null;
}

/** Everything consumed, of all time, by project and pool: `gantry_compute_minutes_total`. */
export async function consumedTotalsIn(tx: SqlExecutor, cache: TotalsCache, at: EpochMs): Promise<ConsumedTotal[]> {
  const month = monthOf(at);
  type Row = { project_id: number | string; pool: string | null; amount: number | string };
  const sums = (op: '<' | '=') =>
    tx.all<Row>(`SELECT project_id, pool, SUM(amount_ms) AS amount FROM compute_ledger WHERE month ${op} ? AND kind = 'consume' GROUP BY project_id, pool`, [month]);
  const keyed = (rows: Row[]) => new Map(rows.map((r) => [`${r.project_id}\n${r.pool ?? 'default'}`, { projectId: Number(r.project_id), pool: r.pool ?? 'default', amountMs: Number(r.amount) }]));
  let past = cache.past?.month === month ? cache.past.rows : null;
  if (!past) {
    past = keyed(await sums('<'));
    if (pastMonthsClosed(at)) cache.past = { month, rows: past };
  }
  const all = new Map([...past].map(([k, v]) => [k, { ...v }]));
  for (const [k, v] of keyed(await sums('='))) {
    const had = all.get(k);
    if (had) had.amountMs += v.amountMs;
    else all.set(k, v);
  }
  const names = new Map((await tx.all<{ id: number | string; name: string }>('SELECT id, name FROM projects')).map((p) => [Number(p.id), p.name]));
  // A deleted project's entries went with it; its cached sums are left out.
  return [...all.values()].filter((t) => names.has(t.projectId)).map((t) => ({ project: names.get(t.projectId)!, pool: t.pool, amountMs: t.amountMs }));
}
