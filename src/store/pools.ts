// Pools' prices (docs/RUNNING.md, "Pools and fair share"): the cost factor an admin gives a pool
// of agents. A pool exists as soon as an agent names it (`agents.pool`); it has a row here only
// once priced, and until then costs DEFAULT_COST_FACTOR_MILLI (src/domain/pools.ts).

import type { AuditFor } from './audit.js';
import type { EpochMs } from './store.js';

export interface PoolPrice {
  name: string;
  /** The cost factor in thousandths (1000: a compute minute counts as one). */
  costFactorMilli: number;
  updatedAt: EpochMs;
}

export interface PoolStore {
  /** Every priced pool, by name. */
  listPrices(): Promise<PoolPrice[]>;
  /** Prices a pool (its row made or replaced); the row as stored. */
  setPrice(name: string, costFactorMilli: number, at: EpochMs, audit?: AuditFor<PoolPrice>): Promise<PoolPrice>;
}
