// Compute minutes as the store answers them (docs/API.md, "Compute minutes"): a project's quota
// and grants, its usage in a month, the lines billing reads. Amounts are compute milliseconds
// (src/domain/compute-minutes.ts); the routes turn them into minutes. The writes are fleet
// transactions (src/store/fleet.ts): a quota or a grant wakes the agents waiting for the
// project's jobs in the same commit.

import type { ProjectId } from '../domain/ids.js';
import type { Month } from '../domain/compute-minutes.js';
import type { EpochMs } from './store.js';

export interface Quota {
  /** Whole minutes a month; null: unlimited (no balance is checked, usage is still counted). */
  monthlyMinutes: number | null;
  /** A running job of a project that ran out is stopped (`quota_exceeded`) after its slice; else it finishes. */
  hardLimit: boolean;
}

export interface Grant {
  id: number;
  amountMs: number;
  reason: string;
  /** Who gave it (`user:NAME`, `admin-token:ID`, ...). */
  actor: string | null;
  at: EpochMs;
}

export interface QuotaView extends Quota {
  /** The project's grants, newest first (at most 100). */
  grants: Grant[];
}

export type GrantResult =
  | { kind: 'created' | 'existing'; grant: Grant }
  /** The idempotency key was used for another grant (other minutes or reason). */
  | { kind: 'mismatch'; grant: Grant }
  | { kind: 'no-project' };

export interface PoolUsage {
  amountMs: number;
  /** Wall-clock milliseconds the attempts ran. */
  durationMs: number;
}

/** A project's balance in a month and what it consumed where. */
export interface Usage {
  month: Month;
  /** The month's allowance (with its adjustments); null: unlimited. */
  limitMs: number | null;
  /** What grants offer in the month: left from earlier months plus given during it. */
  grantsMs: number;
  consumedMs: number;
  /** Held for running attempts: now for the current month, at its end for a past one. */
  reservedMs: number;
  /** limit + grants - consumed - reserved; null: unlimited. */
  availableMs: number | null;
  byPool: Record<string, PoolUsage>;
}

export interface ProjectUsage extends Usage {
  projectId: ProjectId;
  project: string;
}

/** One attempt's consumption: a line of the billing CSV. */
export interface UsageLine {
  projectId: ProjectId;
  project: string;
  pipelineId: number | null;
  jobId: number | null;
  attempt: number | null;
  pool: string;
  factorMilli: number;
  durationMs: number;
  amountMs: number;
  at: EpochMs;
}

/** What one pool consumed on one UTC day. */
export interface DayUsage {
  /** YYYY-MM-DD, UTC: the day the attempts ended (as the month of an entry is). */
  day: string;
  pool: string;
  amountMs: number;
}

/** Consumed compute ms of all time by project and pool (the Prometheus counter). */
export interface ConsumedTotal {
  project: string;
  pool: string;
  amountMs: number;
}
