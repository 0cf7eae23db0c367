// The seam between the one SQL design (sql-store.ts) and a database. A dialect runs portable SQL
// written with `?` placeholders; PostgreSQL's dialect rewrites them to `$n`. Everything a second
// database needs lives behind this interface, so it is a second folder and not `if (pg)`.

export type DialectName = 'sqlite' | 'postgres';

/** Values the store binds: integers and epoch-ms as numbers, JSON as text. */
export type SqlValue = string | number | null;

export type SqlRow = Record<string, unknown>;

export interface RunResult {
  /** Rows the statement changed: how a checked state move learns whether it won. */
  changes: number;
}

export interface SqlExecutor {
  all<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface TransactionOptions {
  /**
   * The transaction only reads and must see one consistent snapshot of the database (PostgreSQL:
   * REPEATABLE READ READ ONLY). Without it a transaction is a read-write one.
   */
  readOnly?: boolean;
}

export interface SqlDialect extends SqlExecutor {
  readonly name: DialectName;
  /**
   * A statement run first in every migration transaction so that two processes opening one
   * database apply migrations one after the other (PostgreSQL: a transaction-scoped advisory
   * lock). Null where beginning the transaction already excludes other writers (SQLite's
   * `BEGIN IMMEDIATE`).
   */
  readonly migrationLockSql: string | null;
  /**
   * Runs `fn` in a transaction, commits if it resolves and rolls back if it throws. SQLite takes
   * the write lock up front (`BEGIN IMMEDIATE`); PostgreSQL runs it at READ COMMITTED on one
   * pooled connection, where conditional UPDATEs wait for each other's row locks and re-check
   * their WHERE clause. Inside `fn` use only `tx`: the dialect may wait for the transaction to
   * end, so calling it from `fn` can deadlock. `fn` may run again when the database aborts the
   * transaction for a serialization failure or a deadlock, so it must touch nothing but `tx`.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}
