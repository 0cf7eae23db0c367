import type { Store } from '../store.js';
import { SqlStore } from '../sql/sql-store.js';
import { PostgresDialect, type PostgresOptions } from './postgres-dialect.js';

/** Opens the store in the PostgreSQL database at `url` (`postgres://user@host:port/db`), migrating it. */
export async function openPostgresStore(url: string, options: PostgresOptions = {}): Promise<Store> {
  return SqlStore.open(new PostgresDialect(url, options));
}
