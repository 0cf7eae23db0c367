// The seam between the one SQL design (sql-store.ts) and a database. A dialect runs portable SQL
// written with `?` placeholders; PostgreSQL's dialect rewrites them to `$n`. Everything a second
// database needs lives behind this interface, so it is a second folder and not `if (pg)`.

export type DialectName = 'sqlite' | 'postgres';

/** Values the store binds: integers and epoch-ms as numbers, JSON as text, log bytes as a Buffer. */
export type SqlValue = string | number | null | Buffer;

export type SqlRow = Record<string, unknown>;

/** The SQLSTATE of a database error, which the dialects keep as the `cause` of the GantryError they throw. */
export function sqlStateOf(e: unknown): string | undefined {
  const cause = (e as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

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
  /**
   * The commit must be on disk before `transaction` resolves, whatever the store's usual
   * durability (SQLite: it waits for an fdatasync of the WAL begun after the commit, shared with
   * the other durable commits of that moment). Log appends use it: the agent drops acknowledged
   * bytes from its spool.
   */
  durable?: boolean;
  /**
   * The commit may be lost in a crash of the database (PostgreSQL: `synchronous_commit = off`, so
   * it does not wait for the disk; it is still seen by every other transaction at once, and any
   * later durable commit makes it durable too). Only for writes whose loss the protocol already
   * survives, such as an offer. Nothing changes on SQLite, whose usual commits are of this kind.
   */
  relaxed?: boolean;
}

/** Cross-instance wake-ups (PostgreSQL LISTEN/NOTIFY); nothing on a single-instance store. */
export interface Notifications {
  /** Stops listening. */
  close(): Promise<void>;
}

export interface ListenHandlers {
  notify(channel: string, payload: string): void;
  /** The listening connection was (re)opened: notifications may have been missed meanwhile. */
  reconnected(): void;
}

/** Told how long each statement took, in seconds (the server's gantry_store_query_seconds). */
export type QueryObserver = (seconds: number) => void;

export interface SqlDialect extends SqlExecutor {
  readonly name: DialectName;
  /** Times every statement from now on (one observer: the last set wins). */
  observeQueries(observer: QueryObserver): void;
  /**
   * A statement run first in every migration transaction so that two processes opening one
   * database apply migrations one after the other (PostgreSQL: a transaction-scoped advisory
   * lock). Null where beginning the transaction already excludes other writers (SQLite's
   * `BEGIN IMMEDIATE`).
   */
  readonly migrationLockSql: string | null;
  /**
   * How many durable write transactions are worth having under way at once (the log appends'
   * group commits): PostgreSQL runs them side by side on its pool (row locks order those that
   * meet) and each waits mostly on round trips and the WAL flush; SQLite runs one at a time, but
   * a second can commit while the first waits for its WAL sync.
   */
  readonly durableWriters: number;
  /**
   * Runs `fn` in a transaction, commits if it resolves and rolls back if it throws. SQLite takes
   * the write lock up front (`BEGIN IMMEDIATE`); PostgreSQL runs it at READ COMMITTED on one
   * pooled connection, where conditional UPDATEs wait for each other's row locks and re-check
   * their WHERE clause. Inside `fn` use only `tx`: the dialect may wait for the transaction to
   * end, so calling it from `fn` can deadlock. `fn` may run again when the database aborts the
   * transaction for a serialization failure or a deadlock, so it must touch nothing but `tx`.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Appended to a SELECT that picks rows to change: `FOR UPDATE` (wait for the row) or
   * `FOR UPDATE SKIP LOCKED` (leave rows another transaction holds to it). Empty on SQLite, where
   * a write transaction is already alone.
   */
  lockClause(kind: 'wait' | 'skip'): string;
  /**
   * Holds a lock named `name` (within this schema) until `tx` ends, for a decision that counts
   * rows no single row lock covers (PostgreSQL: a transaction-scoped advisory lock). Nothing on
   * SQLite, where a write transaction is already alone.
   */
  holdLock(tx: SqlExecutor, name: string): Promise<void>;
  /**
   * Runs `sql` as `tx`'s last statement, when it commits (PostgreSQL: in the COMMIT's own round
   * trip, its parameters written in as literals, so a row it locks is held only while the commit
   * runs, never across a round trip); at once on SQLite, where a statement costs no round trip and
   * a write transaction is alone. For a write whose outcome nothing in the transaction reads; its
   * failure fails the commit (a deadlock runs the transaction again, as any other).
   */
  atCommit(tx: SqlExecutor, sql: string, params: readonly SqlValue[]): Promise<void>;
  /**
   * Announces each `[channel, payload]` to every instance on this schema when `tx` commits
   * (PostgreSQL `pg_notify`, sent with the COMMIT in its round trip: each round trip is on the path
   * from a job's dependency finishing to the job starting; the dialect scopes the channel to the
   * schema, so callers name channels alike everywhere); nothing on SQLite, whose one instance emits
   * its own events after the commit.
   */
  notify(tx: SqlExecutor, messages: readonly (readonly [channel: string, payload: string])[]): Promise<void>;
  /**
   * The name `channel` has in the database, for a statement that calls `pg_notify` itself (one
   * that commits on its own, with no transaction to send notify()'s with); `channel` on SQLite.
   */
  channelName(channel: string): Promise<string>;
  /**
   * Listens on `channels` (of this schema, as `notify` scopes them) on a connection of its own,
   * reopened when it drops; handlers get the names as given here. Null on SQLite.
   */
  listen(channels: readonly string[], handlers: ListenHandlers): Promise<Notifications | null>;
  close(): Promise<void>;
}
