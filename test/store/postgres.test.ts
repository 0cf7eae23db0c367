// The PostgreSQL store against a real server: the contract suite every Store passes, and what a
// fleet adds to it (several server instances, each with its own pool, on one database). Every
// store lives in a schema of its own, created for it and dropped at the end, so test files running
// in parallel never meet and nothing is left behind.
//
// GANTRY_TEST_PG names the server (default postgres://postgres@127.0.0.1:5432/test). When it is
// unreachable the suite is skipped with the reason printed, except in CI (CI=true), where it fails.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { asJobId } from '../../src/domain/ids.js';
import { isGantryError } from '../../src/domain/errors.js';
import { openStore } from '../../src/store/open.js';
import { toNumberedPlaceholders, withInlineParams } from '../../src/store/postgres/placeholders.js';
import { PostgresDialect } from '../../src/store/postgres/postgres-dialect.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { applyMigrations } from '../../src/store/sql/migrate.js';
import { MIGRATIONS } from '../../src/store/sql/migrations.js';
import type { Store } from '../../src/store/store.js';
import { compiledJob, runStoreContract } from './store-contract.js';
import { runIsolationContract } from './isolation-contract.js';
import { runUsersContract } from './users-contract.js';
import { runAuditContract } from './audit-contract.js';
import { runFairShareContract } from './fair-share-contract.js';
import { PG_URL, testPostgres } from '../helpers/postgres.js';


describe('postgres placeholders', () => {
  it('? becomes $1..$n in order', () => {
    assert.equal(
      toNumberedPlaceholders('UPDATE t SET a = ?, b = COALESCE(b, ?) WHERE id = ? AND s IN (\'x\', \'y\')'),
      "UPDATE t SET a = $1, b = COALESCE(b, $2) WHERE id = $3 AND s IN ('x', 'y')",
    );
  });

  it('a ? inside a string literal, a quoted identifier, a comment or a dollar quote is left alone', () => {
    assert.equal(
      toNumberedPlaceholders(`SELECT '?', 'it''s ?', "col?", ? -- why?\n, /* ? */ ?, $$ ? $$, $tag$ ? $tag$, ?`),
      `SELECT '?', 'it''s ?', "col?", $1 -- why?\n, /* ? */ $2, $$ ? $$, $tag$ ? $tag$, $3`,
    );
  });

  it('a statement without placeholders is returned unchanged', () => {
    const sql = 'SELECT 1';
    assert.equal(toNumberedPlaceholders(sql), sql);
  });

  it('parameters written in as literals: strings quoted and escaped, negatives parenthesized, NULL; never inside literals or comments', () => {
    assert.equal(
      withInlineParams(`SELECT a -?, '?', ? -- ?\n, ?, ?, ?, ?`, [5, "it's", -3, null, 'back\\slash', 1.5]),
      // A positive number after a minus stays as it is; a negative one is parenthesized (no `--`).
      `SELECT a -5, '?', 'it''s' -- ?\n, (-3), NULL,  E'back\\\\slash', 1.5`,
    );
    assert.equal(withInlineParams('SELECT a -?', [-1]), 'SELECT a -(-1)');
  });

  it('a statement whose parameters cannot be literals (a Buffer, a non-finite number, a count that does not match) is not inlined', () => {
    assert.equal(withInlineParams('SELECT ?', [Buffer.from('x')]), null);
    assert.equal(withInlineParams('SELECT ?', [Number.NaN]), null);
    assert.equal(withInlineParams('SELECT ?, ?', [1]), null);
    assert.equal(withInlineParams('SELECT ?', [1, 2]), null);
  });
});

const postgres = await testPostgres('the PostgreSQL store');
if (postgres) {
  const { admin, freshSchema } = postgres;

  const schemaOf = new WeakMap<Store, string>();
  async function openIn(schema: string): Promise<Store> {
    const store = await openPostgresStore(PG_URL, { schema });
    schemaOf.set(store, schema);
    return store;
  }

  runStoreContract('postgres', async () => openIn(await freshSchema()), {
    reopen: (old) => openIn(schemaOf.get(old)!),
  });
  runIsolationContract('postgres', async () => openIn(await freshSchema()));
  runUsersContract('postgres', async () => openIn(await freshSchema()));
  runAuditContract('postgres', async () => openIn(await freshSchema()));
  runFairShareContract('postgres', async () => openIn(await freshSchema()), { twin: (store) => openIn(schemaOf.get(store)!) });

  describe('postgres store', () => {
    const opened: Array<{ close(): Promise<void> }> = [];
    after(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    /** Two server instances (two pools) on one fresh database schema. */
    async function twoInstances(): Promise<[Store, Store]> {
      const schema = await freshSchema();
      const a = await openIn(schema);
      const b = await openIn(schema);
      opened.push(a, b);
      return [a, b];
    }
    async function pipelineOf(store: Store, jobs = 1) {
      const project = await store.ensureProject('fleet', 'https://git.example/fleet.git', 1);
      return store.createPipeline({
        projectId: project.id, ref: 'main', sha: 'f'.repeat(40), source: 'push', variables: {}, fileVariables: {},
        pipelineFile: '.gantry.yml', createdAt: 1, jobs: Array.from({ length: jobs }, (_, i) => compiledJob(`j${i}`)),
      });
    }

    it('openStore opens a postgres:// URL, and its options parameter can choose the schema', async () => {
      const schema = await freshSchema();
      const store = await openStore(`${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`);
      opened.push(store);
      assert.equal(store.dialect, 'postgres');
      await store.ensureProject('by-url', '/x', 1);
      const { rows } = await admin.query(`SELECT name FROM ${schema}.projects`);
      assert.deepEqual(rows, [{ name: 'by-url' }]);
    });

    it('of concurrent moves of one job from two server instances, exactly one wins', async () => {
      const [a, b] = await twoInstances();
      for (let round = 0; round < 5; round++) {
        const { jobs } = await pipelineOf(a);
        const id = jobs[0]!.id;
        assert.equal(await b.moveJob(id, 'pending', { at: 1 }), true);
        const starts = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).moveJob(id, 'running', { at: 100 + i })),
        );
        assert.equal(starts.filter(Boolean).length, 1);
        const ends = await Promise.all(
          (['success', 'failed', 'canceled', 'timed_out'] as const).flatMap((to, k) =>
            Array.from({ length: 6 }, (_, i) => ((i + k) % 2 ? a : b).moveJob(id, to, { at: 500, exitCode: 1 })),
          ),
        );
        assert.equal(ends.filter(Boolean).length, 1);
        const job = (await a.getPipeline(jobs[0]!.pipelineId))!.jobs[0]!;
        assert.equal(job.startedAt, 100 + starts.indexOf(true));
        assert.equal(job.finishedAt, 500);
      }
    });

    it('createAttempt from two server instances at once gives numbers 1 and 2, never twice the same', async () => {
      const [a, b] = await twoInstances();
      const { jobs } = await pipelineOf(a, 10);
      for (const j of jobs) await a.moveJob(j.id, 'pending', { at: 1 });
      for (const j of jobs) {
        const pair = await Promise.all([a.createAttempt(j.id, 2), b.createAttempt(j.id, 3)]);
        assert.deepEqual(pair.map((x) => x.number).sort(), [1, 2]);
      }
      const many = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).createAttempt(jobs[0]!.id, 10 + i)));
      assert.deepEqual(
        many.map((x) => x.number).sort((x, y) => x - y),
        Array.from({ length: 16 }, (_, i) => i + 3),
      );
      assert.equal((await b.getPipeline(jobs[0]!.pipelineId))!.jobs[0]!.attemptCount, 18);
    });

    it('a relaxed transaction commits without waiting for the disk, the others wait, and both are seen at once', async () => {
      const schema = await freshSchema();
      const d = new PostgresDialect(PG_URL, { schema });
      try {
        await d.exec('CREATE TABLE relaxed_probe (id INTEGER PRIMARY KEY)');
        const inRelaxed = await d.transaction(async (tx) => {
          await tx.run('INSERT INTO relaxed_probe (id) VALUES (1)');
          return (await tx.get<{ synchronous_commit: string }>('SHOW synchronous_commit'))!.synchronous_commit;
        }, { relaxed: true });
        const inPlain = await d.transaction(async (tx) => (await tx.get<{ synchronous_commit: string }>('SHOW synchronous_commit'))!.synchronous_commit);
        assert.equal(inRelaxed, 'off');
        // SET LOCAL ends with the transaction: the connection goes back to the pool as it was.
        assert.equal(inPlain, 'on');
        assert.deepEqual(await d.all('SELECT id FROM relaxed_probe'), [{ id: 1 }]);
      } finally {
        await d.close();
      }
    });

    it('all of a transaction\'s notifications are delivered, in order, only when it commits', async () => {
      const schema = await freshSchema();
      const d = new PostgresDialect(PG_URL, { schema });
      const got: string[] = [];
      const listening = await d.listen(['gantry_probe'], { notify: (_c, p) => got.push(p), reconnected: () => undefined });
      try {
        const messages = Array.from({ length: 120 }, (_, i) => ['gantry_probe', `m${i}`] as const);
        await d.transaction(async (tx) => d.notify(tx, messages.slice(0, 3)));
        await assert.rejects(
          d.transaction(async (tx) => {
            await d.notify(tx, [['gantry_probe', 'rolled back']]);
            throw new Error('abort');
          }),
        );
        await d.transaction(async (tx) => d.notify(tx, messages.slice(3)));
        const deadline = Date.now() + 5_000;
        while (got.length < 120 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(got, messages.map((m) => m[1]));
      } finally {
        await listening?.close();
        await d.close();
      }
    });

    it('notifications stay in their schema: a second store on the same schema hears them, a store in another schema of the database does not', async () => {
      const [x, y] = [await freshSchema(), await freshSchema()];
      const [x1, x2, y1, y2] = [await openIn(x), await openIn(x), await openIn(y), await openIn(y)];
      opened.push(x1, x2, y1, y2);
      const heard = (store: Store) => {
        const ids: number[] = [];
        store.fleet.events.on('pipeline', (id) => ids.push(id));
        return ids;
      };
      // x2 and y1 do nothing themselves: what they hear came through LISTEN.
      const [onX2, onY1] = [heard(x2), heard(y1)];
      await x2.fleet.listen();
      await y1.fleet.listen();
      const fleetPipeline = async (store: Store) => {
        const project = await store.ensureProject('scoped', 'https://git.example/scoped.git', 1);
        return (await store.createPipeline({
          projectId: project.id, ref: 'main', sha: 'f'.repeat(40), source: 'push', variables: {}, fileVariables: {},
          pipelineFile: '.gantry.yml', createdAt: 1, runsOn: 'fleet', jobs: [compiledJob('j')],
        })).pipeline.id;
      };
      // Ids never shared by the two schemas, so what is heard tells where it came from: x 1 and 3, y 2.
      const [x1st, , x3rd] = [await fleetPipeline(x1), await fleetPipeline(x1), await fleetPipeline(x1)];
      await fleetPipeline(y2);
      const y2nd = await fleetPipeline(y2);
      assert.deepEqual([x1st, y2nd, x3rd], [1, 2, 3]);
      const settings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };
      // One database delivers notifications in commit order: once a listener has heard a later
      // commit, it has heard (or will never hear) every earlier one.
      await x1.fleet.startPipeline(x1st, 10, settings);
      await y2.fleet.startPipeline(y2nd, 10, settings);
      await x1.fleet.startPipeline(x3rd, 10, settings);
      const deadline = Date.now() + 10_000;
      while (!(onX2.includes(x3rd) && onY1.includes(y2nd)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(onX2, [x1st, x3rd], 'the same schema hears both of its own, and not the other schema\'s between them');
      assert.deepEqual(onY1, [y2nd], 'the other schema hears only its own, not the one committed before it');
    });

    it('a channel is named <name>_<12 hex digits of SHA-256(schema)>, or <name> alone in public, as STORE.md gives it in SQL', async () => {
      const expectedSql = "SELECT CASE current_schema() WHEN 'public' THEN 'gantry_scope_probe' " +
        "ELSE 'gantry_scope_probe_' || left(encode(sha256(convert_to(current_schema(), 'UTF8')), 'hex'), 12) END AS channel, current_schema() AS schema";
      for (const schema of [await freshSchema(), undefined]) {
        const raw = new pg.Client({ connectionString: PG_URL, ...(schema ? { options: `-c search_path=${schema}` } : {}) });
        await raw.connect();
        const d = new PostgresDialect(PG_URL, schema ? { schema } : {});
        try {
          const { channel, schema: current } = (await raw.query<{ channel: string; schema: string }>(expectedSql)).rows[0]!;
          assert.equal(current, schema ?? 'public');
          const got: string[] = [];
          raw.on('notification', (n) => got.push(`${n.channel} ${n.payload}`));
          await raw.query(`LISTEN ${channel}`);
          await d.transaction(async (tx) => d.notify(tx, [['gantry_scope_probe', 'hello']]));
          const deadline = Date.now() + 5_000;
          while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          assert.deepEqual(got, [`${channel} hello`]);
          assert.ok(channel.length <= 63);
        } finally {
          await d.close();
          await raw.end();
        }
      }
    });

    it('two instances migrating one empty database at once apply each migration exactly once', async () => {
      for (let round = 0; round < 3; round++) {
        const schema = await freshSchema();
        const dialects = Array.from({ length: 4 }, () => new PostgresDialect(PG_URL, { schema }));
        try {
          const results = await Promise.all(dialects.map((d) => applyMigrations(d)));
          assert.deepEqual(results.flatMap((r) => r.applied).sort((x, y) => x - y), MIGRATIONS.map((m) => m.id));
        } finally {
          for (const d of dialects) await d.close();
        }
        const { rows } = await admin.query(`SELECT id FROM ${schema}.schema_migrations ORDER BY id`);
        assert.deepEqual(rows, MIGRATIONS.map((m) => ({ id: m.id })));
      }
      // And two stores opening together both work.
      const schema = await freshSchema();
      const [a, b] = await Promise.all([openIn(schema), openIn(schema)]);
      opened.push(a, b);
      await a.ensureProject('p', '/p', 1);
      assert.equal((await b.listProjects()).length, 1);
    });

    it('BIGINT values come back as exact numbers, and only this store parses int8 that way', async () => {
      const [store] = await twoInstances();
      const now = 1_750_000_123_456;
      const { jobs } = await pipelineOf(store);
      await store.moveJob(jobs[0]!.id, 'pending', { at: now });
      const att = await store.createAttempt(jobs[0]!.id, now);
      await store.startAttempt(att.id, 'agent', now + 1, now + 60_000);
      await store.recordLogBytes(att.id, 5_000_000_000);
      const got = await store.getAttempt(att.id);
      assert.deepEqual([got!.queuedAt, got!.startedAt, got!.leaseExpiresAt, got!.logBytes], [now, now + 1, now + 60_000, 5_000_000_000]);
      assert.equal(typeof got!.id, 'number');
      // The process-wide default is untouched: other pg users still get strings.
      assert.equal(pg.types.getTypeParser(20)('123'), '123');
      const { rows } = await admin.query('SELECT 9007199254740993::bigint AS v');
      assert.equal(rows[0].v, '9007199254740993');
    });

    it("atCommit's statement runs with the COMMIT: unseen before it, never on a rollback, and alone it still commits", async () => {
      const d = new PostgresDialect(PG_URL, { schema: await freshSchema() });
      opened.push(d);
      await d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BIGINT)');
      await d.run('INSERT INTO t (id, v) VALUES (1, 0)');
      await d.transaction(async (tx) => {
        await tx.run('UPDATE t SET v = v + 1 WHERE id = 1');
        await d.atCommit(tx, 'UPDATE t SET v = v * ? WHERE id = ?', [10, 1]);
        assert.deepEqual(await tx.get('SELECT v FROM t WHERE id = 1'), { v: 1 }, 'not run yet');
      });
      assert.deepEqual(await d.get('SELECT v FROM t WHERE id = 1'), { v: 10 });
      await assert.rejects(
        d.transaction(async (tx) => {
          await d.atCommit(tx, 'UPDATE t SET v = ? WHERE id = 1', [-5]);
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.deepEqual(await d.get('SELECT v FROM t WHERE id = 1'), { v: 10 });
      // A transaction whose only statement is atCommit's: begun and committed in one script.
      await d.transaction(async (tx) => d.atCommit(tx, 'INSERT INTO t (id, v) VALUES (?, ?)', [2, 7]));
      assert.deepEqual(await d.all('SELECT id, v FROM t ORDER BY id'), [{ id: 1, v: 10 }, { id: 2, v: 7 }]);
      // A failure in it fails the commit, and the transaction's other writes with it.
      await assert.rejects(
        d.transaction(async (tx) => {
          await tx.run('UPDATE t SET v = 99 WHERE id = 2');
          await d.atCommit(tx, 'INSERT INTO t (id, v) VALUES (?, ?)', [1, 0]);
        }),
        (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_STORE',
      );
      assert.deepEqual(await d.all('SELECT id, v FROM t ORDER BY id'), [{ id: 1, v: 10 }, { id: 2, v: 7 }]);
    });

    it('a read-only transaction refuses writes', async () => {
      const d = new PostgresDialect(PG_URL, { schema: await freshSchema() });
      opened.push(d);
      await d.exec('CREATE TABLE t (v BIGINT)');
      await assert.rejects(
        d.transaction(async (tx) => tx.run('INSERT INTO t (v) VALUES (?)', [1]), { readOnly: true }),
        /read-only/,
      );
      assert.deepEqual(await d.all('SELECT v FROM t'), []);
    });

    it('a transaction aborted for a serialization failure runs again, other failures do not', async () => {
      const d = new PostgresDialect(PG_URL, { schema: await freshSchema() });
      opened.push(d);
      await d.exec('CREATE TABLE t (v BIGINT)');
      let calls = 0;
      await d.transaction(async (tx) => {
        calls++;
        await tx.run('INSERT INTO t (v) VALUES (?)', [calls]);
        if (calls === 1) await tx.exec("DO $$ BEGIN RAISE EXCEPTION 'collided' USING ERRCODE = '40001'; END $$");
      });
      assert.equal(calls, 2);
      assert.deepEqual(await d.all('SELECT v FROM t'), [{ v: 2 }]);
      calls = 0;
      await assert.rejects(
        d.transaction(async (tx) => {
          calls++;
          await tx.exec("DO $$ BEGIN RAISE EXCEPTION 'nope' USING ERRCODE = '23505'; END $$");
        }),
        /nope/,
      );
      assert.equal(calls, 1);
    });

    it('closing lets a running transaction finish and refuses new work', async () => {
      const schema = await freshSchema();
      const d = new PostgresDialect(PG_URL, { schema });
      await d.exec('CREATE TABLE t (v BIGINT)');
      let closing: Promise<void> | undefined;
      await d.transaction(async (tx) => {
        await tx.run('INSERT INTO t (v) VALUES (?)', [1]);
        closing = d.close();
        await new Promise((r) => setTimeout(r, 10));
        await tx.run('INSERT INTO t (v) VALUES (?)', [2]);
      });
      await closing;
      await assert.rejects(d.all('SELECT v FROM t'), /closed/);
      await assert.rejects(d.transaction(async () => undefined), /closed/);
      const { rows } = await admin.query(`SELECT v FROM ${schema}.t ORDER BY v`);
      assert.deepEqual(rows, [{ v: '1' }, { v: '2' }]);
    });

    it('text and JSON round-trip exactly, ? in a value included', async () => {
      const [store] = await twoInstances();
      const project = await store.ensureProject("what's ? up — ünï 🚀", 'file:///a b?c=d', 1);
      assert.deepEqual(await store.getProject(project.name), project);
      const spec = compiledJob('job ?', 0, { script: ["echo '?' \"$1\" \\\\ \\u0000"], variables: { '?': '$$?' } });
      const { pipeline } = await store.createPipeline({
        projectId: project.id, ref: 'refs/heads/a?b', sha: 's', source: 'push', variables: { Q: '?', NUL: '\u0000' },
        fileVariables: {}, pipelineFile: '.gantry.yml', createdAt: 1, jobs: [spec],
      });
      const read = await store.getPipeline(pipeline.id);
      assert.deepEqual(read!.jobs[0]!.spec, spec);
      assert.deepEqual(read!.pipeline.variables, { Q: '?', NUL: '\u0000' });
      assert.equal(read!.pipeline.ref, 'refs/heads/a?b');
      assert.equal(await store.moveJob(asJobId(read!.jobs[0]!.id), 'pending', { at: 2 }), true);
    });
  });
}
