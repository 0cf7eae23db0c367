// SQLite through better-sqlite3: the embedded store of `gantry run` and a single-machine server.
//
// Durability: WAL with synchronous=NORMAL. A commit appends to the WAL without an fsync; the WAL
// is fsynced at checkpoints. Every committed transaction survives a crash of the process (the WAL
// is in the OS cache and is replayed on open), which is the crash a CI orchestrator sees: killed,
// OOM, a panic. Only an OS crash or power loss can lose the last transactions (never corrupt the
// database). FULL would fsync on every commit and make each state move cost a disk flush
// (milliseconds instead of microseconds) for a 202-job pipeline that moves each job several times.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GantryError, isGantryError } from '../../domain/errors.js';
import type { ListenHandlers, Notifications, RunResult, SqlDialect, SqlExecutor, SqlRow, SqlValue, TransactionOptions } from '../sql/dialect.js';
import { AsyncMutex } from './mutex.js';

type Statement = Database.Statement<unknown[], unknown>;

function storeError(e: unknown, sql?: string): Error {
  if (isGantryError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string } | null)?.code;
  return new GantryError('GANTRY_E_STORE', `sqlite: ${msg}${code ? ` (${code})` : ''}${sql ? ` in: ${sql.slice(0, 120)}` : ''}`);
}

export interface SqliteOptions {
  /** How long a statement waits for another process's write lock before failing (ms). */
  busyTimeoutMs?: number;
}

export class SqliteDialect implements SqlDialect {
  readonly name = 'sqlite' as const;
  // BEGIN IMMEDIATE takes the database's write lock: migrations of two processes already take turns.
  readonly migrationLockSql = null;
  private readonly db: Database.Database;
  // Prepared once per SQL text: preparing costs more than running a small UPDATE.
  private readonly statements = new Map<string, Statement>();
  private readonly mutex = new AsyncMutex();
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private closed = false;
  private readonly memory: boolean;
  // Statements issued from inside the transaction callback bypass the lock (they own it).
  private readonly tx: SqlExecutor;

  constructor(file: string, options: SqliteOptions = {}) {
    const memory = file === ':memory:';
    this.memory = memory;
    if (!memory) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    try {
      this.db = new Database(file);
      this.db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      if (!memory) this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
    } catch (e) {
      throw storeError(e);
    }
    this.begin = this.db.prepare('BEGIN IMMEDIATE');
    this.commit = this.db.prepare('COMMIT');
    this.rollback = this.db.prepare('ROLLBACK');
    this.tx = {
      all: async (sql, params) => this.allNow(sql, params),
      get: async (sql, params) => this.getNow(sql, params),
      run: async (sql, params) => this.runNow(sql, params),
      exec: async (sql) => this.execNow(sql),
    } as SqlExecutor;
  }

  private prepare(sql: string): Statement {
    let st = this.statements.get(sql);
    if (st === undefined) {
      if (this.closed) throw new GantryError('GANTRY_E_STORE', 'the store is closed');
      try {
        st = this.db.prepare(sql) as Statement;
      } catch (e) {
        throw storeError(e, sql);
      }
      this.statements.set(sql, st);
    }
    return st;
  }

  private allNow<T>(sql: string, params?: readonly SqlValue[]): T[] {
    const st = this.prepare(sql);
    try {
      return (params ? st.all(params) : st.all()) as T[];
    } catch (e) {
      throw storeError(e, sql);
    }
  }
  private getNow<T>(sql: string, params?: readonly SqlValue[]): T | undefined {
    const st = this.prepare(sql);
    try {
      return (params ? st.get(params) : st.get()) as T | undefined;
    } catch (e) {
      throw storeError(e, sql);
    }
  }
  private runNow(sql: string, params?: readonly SqlValue[]): RunResult {
    const st = this.prepare(sql);
    try {
      const r = params ? st.run(params) : st.run();
      return { changes: r.changes };
    } catch (e) {
      throw storeError(e, sql);
    }
  }
  private execNow(sql: string): void {
    if (this.closed) throw new GantryError('GANTRY_E_STORE', 'the store is closed');
    try {
      this.db.exec(sql);
    } catch (e) {
      throw storeError(e, sql);
    }
  }

  // Outside a transaction a statement runs at once when nobody holds the lock (the common case,
  // no queueing cost) and otherwise waits its turn.
  private async locked<T>(fn: () => T): Promise<T> {
    if (!this.mutex.locked) return fn();
    await this.mutex.lock();
    try {
      return fn();
    } finally {
      this.mutex.unlock();
    }
  }

  all<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.locked(() => this.allNow<T>(sql, params));
  }
  get<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.locked(() => this.getNow<T>(sql, params));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    return this.locked(() => this.runNow(sql, params));
  }
  exec(sql: string): Promise<void> {
    return this.locked(() => this.execNow(sql));
  }

  // A read-only snapshot needs nothing more here: BEGIN IMMEDIATE makes the transaction the
  // database's only writer, so nothing it reads can change under it.
  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    await this.mutex.lock();
    // Under the one-connection lock no other transaction commits between the two pragmas, so
    // FULL applies to this commit alone.
    const durable = options.durable === true && !this.memory;
    try {
      if (this.closed) throw new GantryError('GANTRY_E_STORE', 'the store is closed');
      if (durable) this.db.pragma('synchronous = FULL');
      try {
        this.begin.run();
      } catch (e) {
        throw storeError(e, 'BEGIN IMMEDIATE');
      }
      let result: T;
      try {
        result = await fn(this.tx);
      } catch (e) {
        if (this.db.inTransaction) this.rollback.run();
        throw e;
      }
      try {
        this.commit.run();
      } catch (e) {
        if (this.db.inTransaction) this.rollback.run();
        throw storeError(e, 'COMMIT');
      }
      return result;
    } finally {
      if (durable && !this.closed) this.db.pragma('synchronous = NORMAL');
      this.mutex.unlock();
    }
  }

  lockClause(_kind: 'wait' | 'skip'): string {
    return '';
  }

  async holdLock(_tx: SqlExecutor, _name: string): Promise<void> {}

  async notify(_tx: SqlExecutor, _messages: readonly (readonly [string, string])[]): Promise<void> {}

  async listen(_channels: readonly string[], _handlers: ListenHandlers): Promise<Notifications | null> {
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let a running transaction finish rather than closing the connection under it.
    await this.mutex.lock();
    try {
      this.closed = true;
      this.statements.clear();
      this.db.close();
    } finally {
      this.mutex.unlock();
    }
  }
}
