// PostgreSQL through a `pg` pool: the store of a fleet, where several server instances share one
// database and PostgreSQL does the locking.
//
// Isolation: statements outside a transaction autocommit; read-write transactions run at READ
// COMMITTED, the level at which a conditional `UPDATE ... WHERE id = $1 AND status IN (...)` that
// finds the row locked by another transaction waits for it and then re-checks its WHERE clause on
// the committed row. That is exactly the state-move rule (of concurrent moves one wins, the others
// match nothing) and `createAttempt`'s numbering (the second increment sees the first). A stricter
// level would turn those waits into serialization errors for nothing. Read-only snapshots
// (`getPipeline`) run at REPEATABLE READ READ ONLY, which sees one snapshot and cannot fail.

import { createHash } from 'node:crypto';
import pg from 'pg';
import { GantryError, isGantryError } from '../../domain/errors.js';
import { sqlStateOf, type ListenHandlers, type Notifications, type QueryObserver, type RunResult, type SqlDialect, type SqlExecutor, type SqlRow, type SqlValue, type TransactionOptions } from '../sql/dialect.js';
import { toNumberedPlaceholders, withInlineParams } from './placeholders.js';

const INT8_OID = 20;
// BIGINT ids, epoch-ms timestamps and byte counts: pg returns int8 as a string because it can
// exceed 2^53; Gantry's never do (ids count rows, timestamps are ms until year 285616).
const parseInt8 = (v: string): number => Number(v);
// Only this pool's clients parse int8 as numbers; pg.types.setTypeParser would change it for
// every pg user in the process.
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

// SQLSTATEs after which the whole transaction may simply be run again.
const RETRYABLE = new Set(['40001' /* serialization_failure */, '40P01' /* deadlock_detected */]);
const MAX_TRIES = 5;

// Advisory lock keys are per database; the second key is the schema, so two Gantry installations
// in two schemas of one database (or two test schemas) do not wait for each other's migrations.
const MIGRATION_LOCK_CLASS = 0x47616e74; // "Gant"
const MIGRATION_LOCK_SQL = `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_CLASS}, hashtext(current_schema()))`;

const REWRITE_CACHE_MAX = 2_000;
// Statements with parameters are prepared once per connection and then only bound and run: a
// round trip without a parse and, after a few runs, without planning (PostgreSQL caches the
// plan). On the loopback that is about 40% of a simple statement's time, and every statement on
// the path from a job's dependency finishing to the job starting is one round trip. The store's
// statements are a small fixed set, except those with IN lists of varying length: past this many
// distinct texts new ones run unprepared, so no connection holds an unbounded set.
const PREPARED_MAX = 500;
const NOTIFY_BATCH = 50;

// LISTEN/NOTIFY channels belong to the database, not to a schema: two Gantry installations in
// two schemas of one database would hear each other's wake-ups, whose payloads are ids of their
// own tables. So a channel is scoped here, the one place that names them: `gantry_ready` is sent
// and listened to as `gantry_ready_<first 12 hex digits of SHA-256(schema)>` (always 13 more
// characters, whatever the schema's name, so within PostgreSQL's 63; 48 bits keep two schemas'
// names apart). The schema `public` keeps the bare name, which is what every instance used before
// the scoping: a fleet in `public` upgraded one instance at a time keeps hearing itself.
const CHANNEL = /^[a-z_][a-z0-9_]{0,49}$/;
const CURRENT_SCHEMA_SQL = 'SELECT current_schema() AS schema';

function assertChannel(channel: string): void {
  if (!CHANNEL.test(channel)) throw new GantryError('GANTRY_E_USAGE', `bad channel name ${channel}`);
}

function scopedChannel(channel: string, schema: string): string {
  assertChannel(channel);
  return schema === 'public' ? channel : `${channel}_${createHash('sha256').update(schema).digest('hex').slice(0, 12)}`;
}

/** current_schema(): the schema unqualified names resolve to, the first of the search_path that exists. */
function schemaOf(row: { schema: string | null } | undefined): string {
  if (!row?.schema) throw new GantryError('GANTRY_E_STORE', 'postgres: no schema of the search_path exists');
  return row.schema;
}

/** `SELECT pg_notify(...), ...;` statements for `messages`, literals inlined (run by the simple protocol, with COMMIT). */
function notifyScript(messages: readonly (readonly [string, string])[]): string {
  let sql = '';
  for (let i = 0; i < messages.length; i += NOTIFY_BATCH) {
    const batch = messages.slice(i, i + NOTIFY_BATCH);
    sql += `SELECT ${batch.map(([c, p]) => `pg_notify(${pg.escapeLiteral(c)}, ${pg.escapeLiteral(p)})`).join(', ')}; `;
  }
  return sql;
}

function storeError(e: unknown, sql?: string): Error {
  if (isGantryError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string } | null)?.code;
  const err = new GantryError('GANTRY_E_STORE', `postgres: ${msg}${code ? ` (${code})` : ''}${sql ? ` in: ${sql.slice(0, 120)}` : ''}`);
  Object.defineProperty(err, 'cause', { value: e });
  return err;
}

export interface PostgresOptions {
  /**
   * The schema Gantry's tables live in (must exist); the connection's `search_path` is set to it.
   * Default: the server's search_path (normally `public`).
   */
  schema?: string;
  /** Connections in the pool. Default 10. */
  maxConnections?: number;
  /** How long to wait for a connection to the server (ms). Default 10 s. */
  connectTimeoutMs?: number;
}

type Queryable = pg.Pool | pg.PoolClient;

export class PostgresDialect implements SqlDialect {
  readonly name = 'postgres' as const;
  readonly durableWriters = 4;
  readonly migrationLockSql = MIGRATION_LOCK_SQL;
  private readonly pool: pg.Pool;
  private readonly config: pg.PoolConfig;
  // The `$n` text of each statement, rewritten once, and its prepared statement's name (if any).
  private readonly rewritten = new Map<string, { text: string; name: string | undefined }>();
  private prepared = 0;
  private closed = false;
  /** current_schema(), asked once: what notification channels are scoped by. */
  private schema: string | null = null;

  constructor(url: string, options: PostgresOptions = {}) {
    const config: pg.PoolConfig = {
      connectionString: url,
      types: TYPES,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      // The driver closes a connection idle for 10 s by default; the next burst then waits for a
      // new one (a handshake, and its statements prepared again: milliseconds on the dispatch
      // path). A server keeps its few connections for minutes instead.
      idleTimeoutMillis: 300_000,
    };
    if (options.schema !== undefined) {
      if (!/^[A-Za-z_][A-Za-z_0-9]*$/.test(options.schema)) {
        throw new GantryError('GANTRY_E_USAGE', `schema "${options.schema}" is not a plain identifier`);
      }
      config.options = `-c search_path=${options.schema}`;
    }
    this.config = config;
    this.pool = new pg.Pool(config);
    // An idle connection that dies (server restart, network) is dropped by the pool; without a
    // listener the 'error' event would crash the process. The next query opens a new connection.
    this.pool.on('error', () => undefined);
  }

  private statement(sql: string): { text: string; name: string | undefined } {
    let t = this.rewritten.get(sql);
    if (t === undefined) {
      // A name, once given to a text, is never given to another (the driver refuses that), so
      // a cleared cache goes on counting.
      const name = this.prepared < PREPARED_MAX && sql.includes('?') ? `gantry_${++this.prepared}` : undefined;
      t = { text: toNumberedPlaceholders(sql), name };
      if (this.rewritten.size >= REWRITE_CACHE_MAX) this.rewritten.clear();
      this.rewritten.set(sql, t);
    }
    return t;
  }

  // A transaction's own connection is not checked: a transaction that began before close() may
  // finish (close waits for it), as on SQLite.
  private observer: QueryObserver | null = null;

  observeQueries(observer: QueryObserver): void {
    this.observer = observer;
  }

  private async query(on: Queryable, sql: string, params?: readonly SqlValue[]): Promise<pg.QueryResult> {
    if (on === this.pool && this.closed) throw new GantryError('GANTRY_E_STORE', 'the store is closed');
    const t0 = performance.now();
    try {
      const { text, name } = this.statement(sql);
      // Without parameters: the simple protocol, which also runs `BEGIN; SET LOCAL ...` as one.
      if (params === undefined || params.length === 0) return await on.query(text);
      return await on.query({ text, name, values: params as SqlValue[] });
    } catch (e) {
      throw storeError(e, sql);
    } finally {
      // The round trip and the wait for a pooled connection included: what the caller waited.
      this.observer?.((performance.now() - t0) / 1000);
    }
  }

  /**
   * An executor on `on`. With `opening`, a transaction whose BEGIN has not been sent yet: it goes
   * with the first statement, in one round trip (openWith).
   */
  private executor(on: Queryable, opening?: { begin: string | null }): SqlExecutor {
    const query = (sql: string, params?: readonly SqlValue[]) =>
      opening?.begin ? this.openWith(on as pg.PoolClient, opening, sql, params) : this.query(on, sql, params);
    return {
      all: async <T>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows as T[],
      get: async <T>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows[0] as T | undefined,
      run: async (sql: string, params?: readonly SqlValue[]): Promise<RunResult> => ({
        changes: (await query(sql, params)).rowCount ?? 0,
      }),
      exec: async (sql: string) => {
        if (on === this.pool && this.closed) throw new GantryError('GANTRY_E_STORE', 'the store is closed');
        try {
          // No parameters: the simple protocol, which runs a script of several statements.
          if (opening?.begin) await this.openWith(on as pg.PoolClient, opening, sql);
          else await on.query(sql);
        } catch (e) {
          throw storeError(e, sql);
        }
      },
    };
  }

  /**
   * A transaction's first statement, sent after its BEGIN in one simple-protocol script with the
   * parameters written in as literals: every transaction's first round trip saved (on the path
   * from a job's dependency finishing to the job starting: the completion's, the take's). The
   * statement is then planned afresh, not prepared, which costs less than the round trip. One
   * whose parameters cannot be literals (a Buffer) goes after a BEGIN of its own.
   */
  private async openWith(client: pg.PoolClient, opening: { begin: string | null }, sql: string, params?: readonly SqlValue[]): Promise<pg.QueryResult> {
    const begin = opening.begin!;
    opening.begin = null;
    const inlined = params === undefined || params.length === 0 ? sql : withInlineParams(sql, params);
    if (inlined === null) {
      await this.query(client, begin);
      return this.query(client, sql, params);
    }
    const t0 = performance.now();
    try {
      const results = (await client.query(`${begin}; ${inlined}`)) as unknown as pg.QueryResult[];
      return results[results.length - 1]!;
    } catch (e) {
      throw storeError(e, sql);
    } finally {
      this.observer?.((performance.now() - t0) / 1000);
    }
  }

  async all<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return (await this.query(this.pool, sql, params)).rows as T[];
  }
  async get<T = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return (await this.query(this.pool, sql, params)).rows[0] as T | undefined;
  }
  async run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    return { changes: (await this.query(this.pool, sql, params)).rowCount ?? 0 };
  }
  exec(sql: string): Promise<void> {
    return this.executor(this.pool).exec(sql);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    // The relaxed commit is set in the same round trip as BEGIN (the simple protocol runs both).
    const begin = options.readOnly
      ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'
      : options.relaxed
        ? 'BEGIN; SET LOCAL synchronous_commit = off'
        : 'BEGIN';
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transactionOnce(fn, begin);
      } catch (e) {
        const state = sqlStateOf(e);
        if (state === undefined || !RETRYABLE.has(state) || attempt >= MAX_TRIES) throw e;
        // Two transactions collided and the database aborted one: let them drift apart, run again.
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      }
    }
  }

  private async transactionOnce<T>(fn: (tx: SqlExecutor) => Promise<T>, begin: string): Promise<T> {
    if (this.closed) throw new GantryError('GANTRY_E_STORE', 'the store is closed');
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw storeError(e);
    }
    let broken: Error | undefined;
    // BEGIN goes with the transaction's first statement (openWith).
    const opening = { begin: begin as string | null };
    try {
      try {
        const tx = this.executor(client, opening);
        const announced: (readonly [string, string])[] = [];
        this.announcements.set(tx, announced);
        const last: string[] = [];
        this.lastStatements.set(tx, last);
        const result = await fn(tx);
        // The notifications and atCommit()'s statements go with the COMMIT, in its round trip. A
        // script of literals: not through query(), whose placeholders and statement cache are for
        // parameterized texts. A transaction that ran no statement has nothing to commit, unless
        // atCommit() gave it one.
        const writes = last.map((sql) => `${sql}; `).join('');
        const begin = opening.begin !== null && writes ? `${opening.begin}; ` : '';
        const end = opening.begin === null || writes ? 'COMMIT' : '';
        // Begun by this script: a failure in it leaves a transaction to roll back.
        if (begin) opening.begin = null;
        const script = `${begin}${notifyScript(announced)}${writes}${end}`;
        if (script) await client.query(script).catch((e: unknown) => Promise.reject(storeError(e, 'COMMIT')));
        return result;
      } catch (e) {
        try {
          if (opening.begin === null) await client.query('ROLLBACK');
        } catch (re) {
          // The connection is unusable: the pool must not hand it out again.
          broken = re instanceof Error ? re : new Error(String(re));
        }
        throw e;
      }
    } finally {
      client.release(broken);
    }
  }

  lockClause(kind: 'wait' | 'skip'): string {
    return kind === 'skip' ? ' FOR UPDATE SKIP LOCKED' : ' FOR UPDATE';
  }

  /** atCommit()'s statements, literals written in, by the executor of their transaction. */
  private readonly lastStatements = new WeakMap<SqlExecutor, string[]>();

  async atCommit(tx: SqlExecutor, sql: string, params: readonly SqlValue[]): Promise<void> {
    const last = this.lastStatements.get(tx);
    const inlined = withInlineParams(sql, params);
    if (!last || inlined === null) await tx.run(sql, params);
    else last.push(inlined);
  }

  async holdLock(tx: SqlExecutor, name: string): Promise<void> {
    await tx.get('SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext(?))', [name]);
  }

  async channelName(channel: string): Promise<string> {
    return scopedChannel(channel, await this.schemaVia(this));
  }

  /** current_schema(), asked once, through `on` (a transaction's own connection, or the pool). */
  private async schemaVia(on: SqlExecutor): Promise<string> {
    // A server learns the schema when it starts listening; otherwise the first use asks.
    this.schema ??= schemaOf(await on.get<{ schema: string | null }>(CURRENT_SCHEMA_SQL));
    return this.schema;
  }

  /** Notifications a transaction announced, by its executor, sent with its COMMIT. */
  private readonly announcements = new WeakMap<SqlExecutor, (readonly [string, string])[]>();

  async notify(tx: SqlExecutor, messages: readonly (readonly [string, string])[]): Promise<void> {
    if (messages.length === 0) return;
    const schema = await this.schemaVia(tx);
    const scoped = messages.map(([channel, payload]) => [scopedChannel(channel, schema), payload] as const);
    // Delivered when (and only if) the transaction commits, so they may as well be sent with the
    // COMMIT: one round trip fewer on every transaction that announces something, which is every
    // one on the path from a job's dependency finishing to the job starting, and every log append.
    const announced = this.announcements.get(tx);
    if (announced) announced.push(...scoped);
    else await this.pool.query(notifyScript(scoped)).catch((e: unknown) => Promise.reject(storeError(e, 'pg_notify')));
  }

  async listen(channels: readonly string[], handlers: ListenHandlers): Promise<Notifications | null> {
    for (const c of channels) assertChannel(c);
    let stopped = false;
    let client: pg.Client | null = null;
    let timer: NodeJS.Timeout | null = null;
    let failures = 0;
    // LISTEN needs a session of its own for as long as it listens, so it is a Client outside the
    // pool. When it drops, it is reopened with backoff and the caller told that wake-ups may have
    // been missed meanwhile.
    const open = async (first: boolean): Promise<void> => {
      if (stopped) return;
      const c = new pg.Client({ ...this.config, types: TYPES });
      // Scoped name -> the caller's name; anything else on this connection is not ours.
      const logical = new Map<string, string>();
      c.on('notification', (n) => {
        const channel = logical.get(n.channel);
        if (channel !== undefined) handlers.notify(channel, n.payload ?? '');
      });
      c.on('error', () => undefined);
      c.on('end', () => {
        if (client === c) client = null;
        if (!stopped) schedule();
      });
      try {
        await c.connect();
        const schema = schemaOf((await c.query<{ schema: string | null }>(CURRENT_SCHEMA_SQL)).rows[0]);
        this.schema = schema;
        for (const ch of channels) logical.set(scopedChannel(ch, schema), ch);
        for (const scoped of logical.keys()) await c.query(`LISTEN ${scoped}`);
      } catch (e) {
        c.removeAllListeners('end');
        await c.end().catch(() => undefined);
        if (first) throw storeError(e);
        schedule();
        return;
      }
      if (stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      client = c;
      failures = 0;
      if (!first) handlers.reconnected();
    };
    const schedule = () => {
      if (stopped || timer) return;
      const wait = Math.min(5_000, 100 * 2 ** failures++);
      timer = setTimeout(() => {
        timer = null;
        void open(false);
      }, wait);
      timer.unref();
    };
    await open(true);
    return {
      close: async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        const c = client;
        client = null;
        await c?.end().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Waits for checked-out connections to come back, so a running transaction finishes first.
    await this.pool.end();
  }
}
