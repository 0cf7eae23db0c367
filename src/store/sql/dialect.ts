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

export interface SqlDialect extends SqlExecutor {
  readonly name: DialectName;
  /**
   * Runs `fn` in a transaction that takes the write lock up front (SQLite `BEGIN IMMEDIATE`),
   * commits if it resolves and rolls back if it throws. Inside `fn` use only `tx`: the dialect
   * itself waits for the transaction to end, so calling it from `fn` would deadlock.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
