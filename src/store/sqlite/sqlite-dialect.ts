// SQLite through better-sqlite3: the embedded store of `gantry run` and a single-machine server.
//
// Durability: WAL with synchronous=NORMAL. A commit appends to the WAL without an fsync; the WAL
// is fsynced at checkpoints. Every committed transaction survives a crash of the process (the WAL
// is in the OS cache and is replayed on open), which is the crash a CI orchestrator sees: killed,
// OOM, a panic. Only an OS crash or power loss can lose the last transactions (never corrupt the
// database). FULL would fsync on every commit and make each state move cost a disk flush
// (milliseconds instead of microseconds) for a 202-job pipeline that moves each job several times.
//
// A transaction that must be durable (a log append, a webhook delivery: their 2xx tells the sender
// it may forget the bytes) commits the same way and then waits for an fdatasync of the WAL file
// that started after its commit, run in libuv's thread pool. The WAL holds every committed frame,
// and what a checkpoint has already moved out of it into the database file was fsynced there
// first, so after that sync the commit survives a power loss as with synchronous = FULL. Off the
// event loop, and shared: every durable commit made while one sync runs waits for the next one,
// so the server keeps serving (and batching) while the disk flushes, and a burst of commits costs
// one or two syncs. (FULL fsyncs inside COMMIT, blocking the one thread that runs everything:
// with 100 jobs uploading, the server spent half its time there, one fsync per upload, since no
// upload could even arrive to share a commit while the loop was blocked.)

import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { GantryError, isGantryError } from '../../domain/errors.js';
import type { ListenHandlers, Notifications, QueryObserver, RunResult, SqlDialect, SqlExecutor, SqlRow, SqlValue, TransactionOptions } from '../sql/dialect.js';
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
  /** Makes a file's written data durable (fdatasync); tests replace it to watch the syncs. */
  syncFile?: (file: string) => Promise<void>;
  /**
   * Checkpoint the WAL from a worker thread with a connection of its own, every this many ms,
   * instead of in the committing connection every 1,000 pages (the server: a checkpoint copies
   * megabytes and fsyncs twice, on the event loop, every few seconds of busy logs). The writer
   * still checkpoints itself past 16,384 pages (64 MiB), which keeps the WAL bounded and lets it
   * start over from its beginning.
   */
  backgroundCheckpointMs?: number;
}

/**
 * fdatasync of a file through a descriptor kept open: opening and closing it for every sync cost
 * two more trips to the thread pool. The WAL stays the same file while this connection is open:
 * SQLite removes it only when the last connection closes (this one: `close` stops the
 * checkpointer's first).
 */
function keptOpenSync(): { sync(file: string): Promise<void>; close(): void } {
  let fd: number | null = null;
  let closed = false;
  return {
    async sync(file) {
      let d = fd;
      if (d === null) {
        try {
          d = await new Promise<number>((resolve, reject) => fs.open(file, 'r', (e, x) => (e ? reject(e) : resolve(x))));
        } catch (e) {
          // No WAL (yet, or any more): nothing committed is waiting in one.
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw e;
        }
        if (!closed) fd = d;
      }
      const x = d;
      try {
        await new Promise<void>((resolve, reject) => fs.fdatasync(x, (e) => (e ? reject(e) : resolve())));
      } finally {
        // A sync after close (a commit made just before it) keeps no descriptor.
        if (x !== fd) fs.close(x, () => undefined);
      }
    },
    close() {
      closed = true;
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    },
  };
}

export class SqliteDialect implements SqlDialect {
  readonly name = 'sqlite' as const;
  // BEGIN IMMEDIATE takes the database's write lock: migrations of two processes already take turns.
  readonly durableWriters = 2;
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
  /** The WAL file, synced for durable commits; null when not in WAL mode (the commit syncs then). */
  private readonly wal: string | null;
  private readonly syncFile: (file: string) => Promise<void>;
  private readonly closeSync: () => void;
  /** The WAL sync under way, and the one that will start after it (shared by its waiters). */
  private syncing: Promise<void> | null = null;
  private nextSync: Promise<void> | null = null;
  /** WAL syncs run (for tests and metrics). */
  walSyncs = 0;
  private checkpointer: Worker | null = null;
  // Statements issued from inside the transaction callback bypass the lock (they own it).
  private readonly tx: SqlExecutor;

  constructor(file: string, options: SqliteOptions = {}) {
    const memory = file === ':memory:';
    this.memory = memory;
    if (!memory) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    let mode = 'memory';
    try {
      this.db = new Database(file);
      this.db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      if (!memory) mode = String(this.db.pragma('journal_mode = WAL', { simple: true })).toLowerCase();
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
    } catch (e) {
      throw storeError(e);
    }
    this.wal = mode === 'wal' ? `${path.resolve(file)}-wal` : null;
    const kept = options.syncFile ? null : keptOpenSync();
    this.syncFile = options.syncFile ?? kept!.sync;
    this.closeSync = kept?.close ?? (() => undefined);
    if (this.wal !== null && options.backgroundCheckpointMs !== undefined) {
      this.db.pragma('wal_autocheckpoint = 16384');
      this.checkpointer = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
        workerData: { file: path.resolve(file), everyMs: options.backgroundCheckpointMs },
      });
      // A broken worker costs only its checkpoints: the writer's own still bound the WAL.
      this.checkpointer.on('error', () => undefined);
      this.checkpointer.unref();
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

  private observer: QueryObserver | null = null;

  observeQueries(observer: QueryObserver): void {
    this.observer = observer;
  }

  /** Runs one statement, timed when someone observes (SQLite answers in microseconds: the timing is only taken then). */
  private timed<T>(sql: string, fn: () => T): T {
    const t0 = this.observer ? performance.now() : 0;
    try {
      return fn();
    } catch (e) {
      throw storeError(e, sql);
    } finally {
      this.observer?.((performance.now() - t0) / 1000);
    }
  }

  private allNow<T>(sql: string, params?: readonly SqlValue[]): T[] {
    const st = this.prepare(sql);
    return this.timed(sql, () => (params ? st.all(params) : st.all()) as T[]);
  }
  private getNow<T>(sql: string, params?: readonly SqlValue[]): T | undefined {
    const st = this.prepare(sql);
    return this.timed(sql, () => (params ? st.get(params) : st.get()) as T | undefined);
  }
  private runNow(sql: string, params?: readonly SqlValue[]): RunResult {
    const st = this.prepare(sql);
    return this.timed(sql, () => ({ changes: (params ? st.run(params) : st.run()).changes }));
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
    const durable = options.durable === true && !this.memory;
    const result = await this.transactionNow(fn, durable && this.wal === null);
    if (durable && this.wal !== null) await this.walSynced();
    return result;
  }

  /**
   * Resolves once an fdatasync of the WAL that started after this call has finished: a sync
   * already running may have started before the caller's commit, so callers arriving meanwhile
   * share the next one.
   */
  private walSynced(): Promise<void> {
    if (this.syncing === null) {
      this.walSyncs++;
      const run = this.syncFile(this.wal!).catch((e: unknown) => {
        throw storeError(e, 'fdatasync of the WAL');
      });
      this.syncing = run.finally(() => {
        this.syncing = null;
      });
      return this.syncing;
    }
    this.nextSync ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.nextSync = null;
        return this.walSynced();
      });
    return this.nextSync;
  }

  /** `full`: the commit itself is synced (synchronous = FULL), for a database not in WAL mode. */
  private async transactionNow<T>(fn: (tx: SqlExecutor) => Promise<T>, full: boolean): Promise<T> {
    await this.mutex.lock();
    try {
      if (this.closed) throw new GantryError('GANTRY_E_STORE', 'the store is closed');
      // Under the one-connection lock no other transaction commits between the two pragmas, so
      // FULL applies to this commit alone.
      if (full) this.db.pragma('synchronous = FULL');
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
      if (full && !this.closed) this.db.pragma('synchronous = NORMAL');
      this.mutex.unlock();
    }
  }

  lockClause(_kind: 'wait' | 'skip'): string {
    return '';
  }

  async holdLock(_tx: SqlExecutor, _name: string): Promise<void> {}

  async atCommit(tx: SqlExecutor, sql: string, params: readonly SqlValue[]): Promise<void> {
    await tx.run(sql, params);
  }

  async notify(_tx: SqlExecutor, _messages: readonly (readonly [string, string])[]): Promise<void> {}

  async channelName(channel: string): Promise<string> {
    return channel;
  }

  async listen(_channels: readonly string[], _handlers: ListenHandlers): Promise<Notifications | null> {
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // The checkpointer's connection goes first, so this one is the last and its close checkpoints
    // the whole WAL and removes it.
    const worker = this.checkpointer;
    this.checkpointer = null;
    if (worker) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => void worker.terminate().then(() => resolve()), 5_000);
        worker.once('message', () => {
          clearTimeout(t);
          void worker.terminate().then(() => resolve());
        });
        worker.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        worker.postMessage('stop');
      });
    }
    // Let a running transaction finish rather than closing the connection under it.
    await this.mutex.lock();
    try {
      this.closed = true;
      this.statements.clear();
      this.db.close();
    } finally {
      this.mutex.unlock();
    }
    // A sync still running uses the descriptor: it finishes first.
    await Promise.allSettled([this.syncing, this.nextSync]);
    this.closeSync();
  }
}
