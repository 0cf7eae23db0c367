// How the attempts of a project with a quota hold its minutes (docs/RUNNING.md, "Compute minutes
// and quotas"): a slice reserved at the offer, extended with the lease, released at the end (and
// consumed, ledger.ts), released when an offer lapses unstarted.
//
// A slice is one lease of running at the pool's factor, or what is left when that is less. The
// take reserves it in the transaction that makes the offer, after the project's row is locked
// (FOR UPDATE on PostgreSQL; SQLite has one writer), and so does a renewal that extends it: two
// instances never both spend the same minutes. So under a hard limit what attempts consume never
// exceeds the balance by more than one slice per attempt running when the last one started (an
// attempt that was given less than a slice and runs longer than it; the stop, requested when its
// reservation runs out, arrives within about a second). A soft limit lets a job longer than its
// slice run on, reserving past the balance: that overrun is the point of it.
//
// Lock order: the project's row, then the attempt's (the take locks its pending candidates first,
// but those are never the running attempts a renewal locks).

import { sliceOf, wallMsFor } from '../../../domain/compute-minutes.js';
import { DEFAULT_COST_FACTOR_MILLI } from '../../../domain/pools.js';
import type { FailureReason, FinishedAttemptStatus } from '../../../domain/status.js';
import type { AgentId } from '../../fleet.js';
import type { EpochMs } from '../../store.js';
import type { SqlExecutor } from '../dialect.js';
import type { FleetTx } from './fleet-tx.js';
import { appendEntry, balanceIn, heldFor, quotaColumnsIn, releaseIn } from './ledger.js';

/**
 * What a quota project may still reserve at the take, read under the project's lock: its
 * available balance (the month's allowance written first if it was not yet).
 */
export async function availableAtTakeIn(f: FleetTx, projectId: number, monthlyMinutes: number, at: EpochMs): Promise<number> {
  return (await balanceIn(f, projectId, monthlyMinutes, at, true)).availableMs ?? Number.POSITIVE_INFINITY;
}

/** The slice an offer reserves from `availableMs`, and until when it covers the attempt. */
export function offerSlice(leaseMs: number, factorMilli: number, availableMs: number, at: EpochMs): { amountMs: number; reservedUntil: EpochMs } {
  const s = sliceOf(leaseMs, factorMilli, availableMs);
  return { amountMs: s.amountMs, reservedUntil: at + s.wallMs };
}

/**
 * The offer's reservation, after the UPDATE that made the offer: a reservation an earlier offer of
 * the attempt left (it lapsed unstarted) is released first, then `amountMs` reserved as
 * `reserve:<attempt>:<n>`.
 */
export async function reserveAtOfferIn(f: FleetTx, attemptId: number, projectId: number, amountMs: number, previousUntil: EpochMs | null, at: EpochMs): Promise<void> {
  if (previousUntil !== null) await releaseIn(f, attemptId, projectId, (n) => `release:${attemptId}:${n}`, at, false);
  if (amountMs <= 0) return;
  const held = await heldFor(f.tx, attemptId);
  await appendEntry(f.tx, { projectId, kind: 'reserve', amountMs, key: `reserve:${attemptId}:${held.reserves}`, at, attemptId });
}

/**
 * `stopped`: asked to stop for its project's quota now; `canceled`: out of minutes too, but a
 * person's cancel already stops it (as canceled, not as over quota).
 */
export type Extension = 'covered' | 'extended' | 'exhausted' | 'stopped' | 'canceled' | 'gone';

/**
 * Keeps a running attempt's reservation ahead of its lease (a renewal, or the sweep once it ran
 * out): when `at + leaseMs` passes `reserved_until`, one more slice (at least a lease, as much as
 * catches up) is reserved. A soft limit reserves it whatever is left (running jobs finish: the
 * overrun is allowed); a hard limit only what is left, and once nothing is and the reservation has
 * run out, asks the agent to stop (`quota_exceeded`).
 */
export async function extendIn(f: FleetTx, attemptId: number, at: EpochMs, leaseMs: number): Promise<Extension> {
  const head = await f.tx.get<{ project_id: number | string }>('SELECT project_id FROM attempts WHERE id = ?', [attemptId]);
  if (!head) return 'gone';
  const projectId = Number(head.project_id);
  const quota = await quotaColumnsIn(f.tx, projectId, f.db.lockClause('wait'));
  const a = await f.tx.get<{ status: string; reserved_until: number | string | null; cost_factor_milli: number | string | null; cancel_requested_at: number | string | null }>(
    `SELECT status, reserved_until, cost_factor_milli, cancel_requested_at FROM attempts WHERE id = ?${f.db.lockClause('wait')}`,
    [attemptId],
  );
  if (!a || a.status !== 'running' || a.reserved_until === null) return 'gone';
  const until = Number(a.reserved_until);
  // Another renewal did it, or the quota was lifted: nothing more to hold.
  if (until >= at + leaseMs || quota === null || quota.monthlyMinutes === null) return 'covered';
  const factorMilli = a.cost_factor_milli === null ? DEFAULT_COST_FACTOR_MILLI : Number(a.cost_factor_milli);
  const available = (await balanceIn(f, projectId, quota.monthlyMinutes, at, true)).availableMs ?? Number.POSITIVE_INFINITY;
  const slice = sliceOf(Math.max(leaseMs, at + leaseMs - until), factorMilli, quota.hardLimit ? Math.max(0, available) : null);
  if (slice.amountMs > 0) {
    const held = await heldFor(f.tx, attemptId);
    await appendEntry(f.tx, { projectId, kind: 'reserve', amountMs: slice.amountMs, key: `reserve:${attemptId}:${held.reserves}`, at, attemptId });
    await f.tx.run('UPDATE attempts SET reserved_until = ? WHERE id = ?', [until + wallMsFor(slice.amountMs, factorMilli), attemptId]);
    return 'extended';
  }
  if (!quota.hardLimit || until > at) return 'exhausted';
  if (a.cancel_requested_at !== null) return 'canceled';
  await stopIn(f, attemptId, at);
  return 'stopped';
}

/**
 * Asks the agent to stop the attempt, through the cancel path (the next heartbeat answers it; the
 * agent stops the job as for a cancel and keeps its last log lines). The reason waits in the
 * running attempt's `failure_reason`: its completion as `canceled`, or the cancel deadline, ends
 * it `failed` with `quota_exceeded` (quotaStoppedStatus).
 */
async function stopIn(f: FleetTx, attemptId: number, at: EpochMs): Promise<void> {
  const row = await f.tx.get<{ agent_id: number | string | null }>(
    "UPDATE attempts SET cancel_requested_at = ?, failure_reason = 'quota_exceeded' WHERE id = ? AND status = 'running' AND cancel_requested_at IS NULL RETURNING agent_id",
    [at, attemptId],
  );
  if (row?.agent_id != null) f.effects.cancel.add(Number(row.agent_id) as AgentId);
}

/** SQL for the completion of a running attempt: `canceled` after a quota stop is `failed` / `quota_exceeded`. */
export const QUOTA_STOPPED = "failure_reason = 'quota_exceeded'";

/** How an attempt the server stopped for quota ends when its agent reports `canceled`. */
export function quotaStoppedOutcome(
  pendingReason: string | null,
  c: { status: FinishedAttemptStatus; failureReason: FailureReason | null },
): { status: FinishedAttemptStatus; failureReason: FailureReason | null } {
  return pendingReason === 'quota_exceeded' && c.status === 'canceled' ? { status: 'failed', failureReason: 'quota_exceeded' } : { status: c.status, failureReason: c.failureReason };
}

/**
 * Releases the reservation of a pending attempt whose offer lapsed or was taken back (its agent
 * lost its session): the minutes return to the project at once, not at the next offer.
 */
export async function releaseLapsedIn(f: FleetTx, attemptId: number, at: EpochMs): Promise<boolean> {
  const a = await f.tx.get<{ project_id: number | string }>(
    "SELECT project_id FROM attempts WHERE id = ? AND status = 'pending' AND reserved_until IS NOT NULL AND (offered_until IS NULL OR offered_until < ?)" +
      f.db.lockClause('skip'),
    [attemptId, at],
  );
  if (!a) return false;
  await releaseIn(f, attemptId, Number(a.project_id), (n) => `release:${attemptId}:${n}`, at);
  await f.tx.run('UPDATE attempts SET reserved_until = NULL WHERE id = ?', [attemptId]);
  return true;
}

/**
 * The sweep's share (every instance, every second): pending attempts holding a lapsed offer's
 * reservation, and running attempts of hard-limited projects whose reservation ran out.
 */
export async function reservationsDue(db: SqlExecutor, at: EpochMs): Promise<{ lapsed: number[]; runOut: number[] }> {
  const lapsed = await db.all<{ id: number | string }>(
    "SELECT id FROM attempts WHERE status = 'pending' AND reserved_until IS NOT NULL AND (offered_until IS NULL OR offered_until < ?) LIMIT 100",
    [at],
  );
  const runOut = await db.all<{ id: number | string }>(
    "SELECT a.id FROM attempts a JOIN projects p ON p.id = a.project_id WHERE a.status = 'running' AND a.reserved_until < ? AND a.cancel_requested_at IS NULL " +
      'AND p.quota_hard_limit = 1 AND p.monthly_minutes IS NOT NULL LIMIT 100',
    [at],
  );
  return { lapsed: lapsed.map((r) => Number(r.id)), runOut: runOut.map((r) => Number(r.id)) };
}
