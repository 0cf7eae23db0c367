// Compute minutes (issue 18; docs/RUNNING.md, "Compute minutes and quotas"): the arithmetic of the
// ledger, pure so that every rule is unit-tested apart from SQL. Amounts are integer compute
// milliseconds (wall-clock milliseconds times the pool's factor), so that sums are exact on both
// stores; minutes appear only at the API's edge.
//
// A balance is never stored: it is derived here from the sums of a project's entries per month
// (src/store/sql/fleet/ledger.ts reads them). The monthly allowance is spent first, then grants,
// which do not expire with the month (GitLab's order for its additional minutes).

import { FACTOR_SCALE } from './pools.js';

export const MS_PER_MINUTE = 60_000;

/** A UTC month, `YYYY-MM`: the month of an entry is the month of its `created_at`. */
export type Month = string;

export const MONTH_PATTERN = /^[0-9]{4}-(0[1-9]|1[0-2])$/;

export function monthOf(at: number): Month {
  return new Date(at).toISOString().slice(0, 7);
}

/** The first millisecond of `month` (UTC). */
export function monthStart(month: Month): number {
  const [y, m] = month.split('-').map(Number);
  return Date.UTC(y!, m! - 1, 1);
}

/**
 * Whether the months before `at`'s are closed to new entries: a transaction that read the clock
 * just before midnight may commit just after, and instances' clocks differ by up to a second, so
 * a month stays open a minute past its end. Sums of closed months never change (entries are dated
 * when written), so they may be kept.
 */
export function pastMonthsClosed(at: number): boolean {
  return at >= monthStart(monthOf(at)) + 60_000;
}

/** What an attempt of `durationMs` costs at a factor of `factorMilli` thousandths, in compute ms. */
export function computeMs(durationMs: number, factorMilli: number): number {
  return Math.round((Math.max(0, durationMs) * factorMilli) / FACTOR_SCALE);
}

/** How much wall-clock time `amountMs` of compute buys at `factorMilli` (a free pool: no limit). */
export function wallMsFor(amountMs: number, factorMilli: number): number {
  if (factorMilli <= 0) return Number.POSITIVE_INFINITY;
  return Math.floor((amountMs * FACTOR_SCALE) / factorMilli);
}

/** Compute ms as minutes with at most three decimals: how the API shows them. */
export function minutesOf(ms: number): number {
  return Math.round(ms / 60) / 1000;
}

/** Minutes as whole compute ms: how the API's minutes are kept. */
export function msOfMinutes(minutes: number): number {
  return Math.round(minutes * MS_PER_MINUTE);
}

/**
 * The sums of one month's entries of one project, by kind. `allowance` is null when the month
 * has no allowance entry: the project had no quota when it was needed (an unlimited month).
 */
export interface MonthSums {
  month: Month;
  allowance: number | null;
  adjustment: number;
  grant: number;
  consume: number;
  reserve: number;
  release: number;
}

export function emptyMonth(month: Month): MonthSums {
  return { month, allowance: null, adjustment: 0, grant: 0, consume: 0, reserve: 0, release: 0 };
}

/** A project's balance in one month, every amount in compute ms. */
export interface Balance {
  month: Month;
  /** The month's allowance with its adjustments; null: unlimited. */
  limitMs: number | null;
  /** What grants offer this month: what they had left at its start, plus those given during it. */
  grantsMs: number;
  consumedMs: number;
  /** Reserved for running (or offered) attempts and not yet released, as of the month's end or now. */
  reservedMs: number;
  /** What may still be reserved: limit + grants - consumed - reserved; null: unlimited. */
  availableMs: number | null;
}

/**
 * The balance of `month` from the sums of every month up to it (any order; later months are
 * ignored). The allowance is spent first: a month's consumption beyond its limit comes out of the
 * grants, whose rest carries into the next month; an overrun beyond both is not carried as a
 * debt (the next month starts from its own allowance), and a month without a limit (no quota
 * then) takes nothing from the grants. Reservations count against `month` whenever they were
 * made, until released.
 *
 * `currentLimitMs`, for the month under way: the allowance it gets from the project's quota now
 * (null: the project has no quota, the month is unlimited whatever its entries), used in place
 * of an allowance entry not yet written.
 */
export function balanceOf(history: readonly MonthSums[], month: Month, currentLimitMs?: number | null): Balance {
  const months = history.filter((m) => m.month <= month).sort((a, b) => (a.month < b.month ? -1 : a.month > b.month ? 1 : 0));
  let grantsLeft = 0;
  let reserved = 0;
  for (const m of months) {
    if (m.month === month) break;
    reserved += m.reserve - m.release;
    const limit = limitOf(m);
    const overflow = limit === null ? 0 : Math.max(0, m.consume - limit);
    grantsLeft = Math.max(0, grantsLeft + m.grant - overflow);
  }
  const cur = months.find((m) => m.month === month) ?? emptyMonth(month);
  reserved += cur.reserve - cur.release;
  let limitMs = limitOf(cur);
  if (currentLimitMs === null) limitMs = null;
  else if (currentLimitMs !== undefined && cur.allowance === null) limitMs = currentLimitMs + cur.adjustment;
  const grantsMs = grantsLeft + cur.grant;
  return {
    month,
    limitMs,
    grantsMs,
    consumedMs: cur.consume,
    reservedMs: reserved,
    availableMs: limitMs === null ? null : limitMs + grantsMs - cur.consume - reserved,
  };
}

function limitOf(m: MonthSums): number | null {
  return m.allowance === null ? null : m.allowance + m.adjustment;
}

/**
 * What to reserve for an attempt at its offer or a renewal: `wallMs` of running at the pool's
 * factor, or only what is left when less (a hard limit; `capMs` null: no cap, a soft limit's
 * renewal). The answer's `wallMs` is how much running the amount covers.
 */
export function sliceOf(wallMs: number, factorMilli: number, capMs: number | null): { amountMs: number; wallMs: number } {
  const full = computeMs(wallMs, factorMilli);
  const amountMs = capMs === null ? full : Math.max(0, Math.min(full, capMs));
  return { amountMs, wallMs: amountMs === full ? wallMs : wallMsFor(amountMs, factorMilli) };
}
