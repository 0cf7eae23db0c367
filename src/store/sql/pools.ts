// Pools' prices (src/store/pools.ts) over any SqlDialect.

import type { AuditFor } from '../audit.js';
import type { PoolPrice, PoolStore } from '../pools.js';
import type { EpochMs } from '../store.js';
import { audited } from './audit.js';
import type { SqlDialect } from './dialect.js';
import { num } from './rows.js';

interface PoolRow {
  name: string;
  cost_factor_milli: number | string;
  updated_at: number | string;
}

const toPrice = (r: PoolRow): PoolPrice => ({ name: r.name, costFactorMilli: num(r.cost_factor_milli), updatedAt: num(r.updated_at) });

export class SqlPoolStore implements PoolStore {
  constructor(private readonly db: SqlDialect) {}

  async listPrices(): Promise<PoolPrice[]> {
    return (await this.db.all<PoolRow>('SELECT name, cost_factor_milli, updated_at FROM pools ORDER BY name')).map(toPrice);
  }

  setPrice(name: string, costFactorMilli: number, at: EpochMs, audit?: AuditFor<PoolPrice>): Promise<PoolPrice> {
    // One statement: two admins pricing a new pool at once both land, the later one last.
    return audited(this.db, audit, async (x) =>
      toPrice(
        (await x.get<PoolRow>(
          'INSERT INTO pools (name, cost_factor_milli, updated_at) VALUES (?, ?, ?) ' +
            'ON CONFLICT (name) DO UPDATE SET cost_factor_milli = excluded.cost_factor_milli, updated_at = excluded.updated_at ' +
            'RETURNING name, cost_factor_milli, updated_at',
          [name, costFactorMilli, at],
        ))!,
      ),
    );
  }
}
