import type { Store } from '../store.js';
import { SqlStore } from '../sql/sql-store.js';
import { SqliteDialect, type SqliteOptions } from './sqlite-dialect.js';

/** Opens (creating if needed) a SQLite store at `file`, or an in-memory one for `:memory:`. */
export async function openSqliteStore(file: string, options: SqliteOptions = {}): Promise<Store> {
  return SqlStore.open(new SqliteDialect(file, options));
}
