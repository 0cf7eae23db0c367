import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isGantryError } from '../../src/domain/errors.js';
import { defaultStoreUrl, openStore } from '../../src/store/open.js';
import { applyMigrations } from '../../src/store/sql/migrate.js';
import { MIGRATIONS } from '../../src/store/sql/migrations.js';
import { SqliteDialect } from '../../src/store/sqlite/sqlite-dialect.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { runStoreContract } from './store-contract.js';
import { runIsolationContract } from './isolation-contract.js';
import { runUsersContract } from './users-contract.js';
import { runAuditContract } from './audit-contract.js';
import { runFairShareContract } from './fair-share-contract.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-store-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const files = new WeakMap<Store, string>();
async function openFile(): Promise<Store> {
  const file = path.join(tmp, `contract-${n++}`, 'gantry.db');
  const store = await openSqliteStore(file);
  files.set(store, file);
  return store;
}
async function reopen(old: Store): Promise<Store> {
  const file = files.get(old)!;
  const store = await openSqliteStore(file);
  files.set(store, file);
  return store;
}

runStoreContract('sqlite file', openFile, { reopen });
runStoreContract('sqlite :memory:', () => openStore('sqlite::memory:'));
runIsolationContract('sqlite file', openFile);
runUsersContract('sqlite file', openFile);
runAuditContract('sqlite file', openFile);
runFairShareContract('sqlite file', openFile);

describe('sqlite store', () => {
  it('openStore creates the parent directories of a sqlite: path', async () => {
    const file = path.join(tmp, 'deep', 'er', 'g.db');
    const store = await openStore(`sqlite:${file}`);
    assert.equal(store.dialect, 'sqlite');
    await store.close();
    assert.ok(fs.existsSync(file));
  });

  it('the default store URL is gantry.db in the home directory', () => {
    assert.equal(defaultStoreUrl('/home/x/.local/share/gantry'), 'sqlite:/home/x/.local/share/gantry/gantry.db');
  });

  it('a URL of an unknown kind, or sqlite: without a path, is a usage error', async () => {
    await assert.rejects(openStore('mysql://h/db'), (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_USAGE');
    await assert.rejects(openStore('sqlite:'), (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_USAGE');
  });

  it('a file database is in WAL mode with foreign keys enforced', async () => {
    const file = path.join(tmp, 'pragmas.db');
    const dialect = new SqliteDialect(file);
    assert.deepEqual(await dialect.get('PRAGMA journal_mode'), { journal_mode: 'wal' });
    assert.deepEqual(await dialect.get('PRAGMA foreign_keys'), { foreign_keys: 1 });
    assert.deepEqual(await dialect.get('PRAGMA synchronous'), { synchronous: 1 });
    await dialect.close();
  });

  it('migrations are recorded once and reopening applies none', async () => {
    const file = path.join(tmp, 'migrations.db');
    const d1 = new SqliteDialect(file);
    assert.deepEqual(await applyMigrations(d1), { applied: MIGRATIONS.map((m) => m.id) });
    assert.deepEqual(await applyMigrations(d1), { applied: [] });
    await d1.close();
    const d2 = new SqliteDialect(file);
    assert.deepEqual(await applyMigrations(d2), { applied: [] });
    assert.deepEqual(await d2.all('SELECT id FROM schema_migrations ORDER BY id'), MIGRATIONS.map((m) => ({ id: m.id })));
    await d2.close();
  });

  it('a database written by a newer Gantry is refused with a clear error', async () => {
    const file = path.join(tmp, 'newer.db');
    await (await openSqliteStore(file)).close();
    const raw = new Database(file);
    raw.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(999, 'from the future', 1);
    raw.close();
    await assert.rejects(
      openSqliteStore(file),
      (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_STORE_TOO_NEW' && /999/.test(e.message),
    );
  });

  it('a statement issued while a transaction awaits is not swallowed by its rollback', async () => {
    const d = new SqliteDialect(':memory:');
    await d.exec('CREATE TABLE t (v INTEGER)');
    let outside: Promise<unknown> | undefined;
    await assert.rejects(
      d.transaction(async (tx) => {
        await tx.run('INSERT INTO t (v) VALUES (?)', [1]);
        outside = d.run('INSERT INTO t (v) VALUES (?)', [2]);
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('boom');
      }),
      /boom/,
    );
    await outside;
    assert.deepEqual(await d.all('SELECT v FROM t'), [{ v: 2 }]);
    await d.close();
  });

  it('a durable transaction resolves only after a WAL sync that began after its commit, and syncs are shared', async () => {
    const file = path.join(tmp, 'durable.db');
    // Syncs the test releases by hand, each recorded with the rows committed when it began.
    const syncs: { rows: number; release(): void }[] = [];
    let raw: Database.Database | null = null;
    const d = new SqliteDialect(file, {
      syncFile: async (f) => {
        assert.equal(f, `${path.resolve(file)}-wal`);
        assert.ok(fs.existsSync(f));
        const rows = (raw!.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;
        await new Promise<void>((release) => syncs.push({ rows, release }));
      },
    });
    await d.exec('CREATE TABLE t (v INTEGER)');
    raw = new Database(file, { readonly: true });
    const done: number[] = [];
    const write = (v: number) => d.transaction(async (tx) => void (await tx.run('INSERT INTO t (v) VALUES (?)', [v])), { durable: true }).then(() => done.push(v));
    const first = write(1);
    await waitFor(() => syncs.length === 1);
    // Committed while the first sync runs: they wait for the next one, which they share.
    const more = [write(2), write(3), write(4)];
    await waitFor(async () => (await d.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n === 4);
    assert.deepEqual(done, [], 'nothing is acknowledged before its sync');
    // Other transactions go on while a sync runs.
    assert.deepEqual(await d.transaction(async (tx) => tx.get('SELECT COUNT(*) AS n FROM t')), { n: 4 });
    syncs[0]!.release();
    await first;
    assert.deepEqual(done, [1]);
    await waitFor(() => syncs.length === 2);
    assert.equal(syncs[1]!.rows, 4, 'the second sync began after the three commits');
    assert.deepEqual(done, [1]);
    syncs[1]!.release();
    await Promise.all(more);
    assert.deepEqual(done.sort(), [1, 2, 3, 4]);
    assert.equal(syncs.length, 2);
    assert.equal(d.walSyncs, 2);
    // A transaction that is not durable waits for no sync.
    await d.transaction(async (tx) => void (await tx.run('INSERT INTO t (v) VALUES (5)')));
    assert.equal(syncs.length, 2);
    raw.close();
    await d.close();
  });

  it('a failed WAL sync fails the durable transactions waiting for it, and the next one syncs again', async () => {
    const file = path.join(tmp, 'sync-fails.db');
    let fail = true;
    const d = new SqliteDialect(file, {
      syncFile: async () => {
        if (fail) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      },
    });
    await d.exec('CREATE TABLE t (v INTEGER)');
    await assert.rejects(
      d.transaction(async (tx) => void (await tx.run('INSERT INTO t (v) VALUES (1)')), { durable: true }),
      (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_STORE' && /fdatasync/.test(e.message),
    );
    fail = false;
    await d.transaction(async (tx) => void (await tx.run('INSERT INTO t (v) VALUES (2)')), { durable: true });
    assert.equal(d.walSyncs, 2);
    await d.close();
  });

  it('with background checkpoints a worker thread moves the WAL into the database file, and close leaves no WAL behind', async () => {
    const file = path.join(tmp, 'checkpoints.db');
    const d = new SqliteDialect(file, { backgroundCheckpointMs: 20 });
    await d.exec('CREATE TABLE t (v BLOB)');
    const before = fs.statSync(file).size;
    // 4 MB: past the 1,000 pages a writer would checkpoint at by itself, short of the 16,384 it does now.
    for (let i = 0; i < 64; i++) await d.transaction(async (tx) => void (await tx.run('INSERT INTO t (v) VALUES (?)', [Buffer.alloc(64 * 1024, i)])));
    await waitFor(() => fs.statSync(file).size > before + 4_000_000, 10_000);
    assert.deepEqual(await d.get('PRAGMA wal_autocheckpoint'), { wal_autocheckpoint: 16384 });
    await d.close();
    assert.equal(fs.existsSync(`${file}-wal`), false);
    const again = new Database(file, { readonly: true });
    assert.deepEqual(again.prepare('SELECT COUNT(*) AS n FROM t').get(), { n: 64 });
    again.close();
  });

  it('transactions from many callers run one after the other', async () => {
    const d = new SqliteDialect(':memory:');
    await d.exec('CREATE TABLE c (n INTEGER NOT NULL)');
    await d.run('INSERT INTO c (n) VALUES (0)');
    await Promise.all(
      Array.from({ length: 40 }, () =>
        d.transaction(async (tx) => {
          const row = await tx.get<{ n: number }>('SELECT n FROM c');
          await new Promise((r) => setImmediate(r));
          await tx.run('UPDATE c SET n = ?', [row!.n + 1]);
        }),
      ),
    );
    assert.deepEqual(await d.get('SELECT n FROM c'), { n: 40 });
    await d.close();
  });
});

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
