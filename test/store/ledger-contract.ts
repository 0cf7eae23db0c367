// The compute ledger through the fleet store, on each database (ledger-sqlite.test.ts,
// ledger-postgres.test.ts): what an offer reserves, a renewal extends and an end consumes and
// releases, each written once whatever is reported twice, and a balance that is only ever a sum of
// entries. The entries are read back with SQL of the test's own.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AttemptId } from '../../src/domain/ids.js';
import type { Agent, SchedulerSettings } from '../../src/store/fleet.js';
import type { SqlDialect } from '../../src/store/sql/dialect.js';
import { setPoolPriceIn } from '../../src/store/sql/fleet/ledger.js';
import type { Store } from '../../src/store/store.js';
import { compiledJob, newPipeline } from './store-contract.js';

const SETTINGS: SchedulerSettings = { leaseMs: 2_000, offerTtlMs: 2_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 1_000 };
/** 10 May 2024, 00:00 UTC: the tests' clock starts here. */
const T0 = Date.UTC(2024, 4, 10);
const MIN = 60_000;

export interface LedgerWorld {
  store: Store;
  /** The same database, for reading entries (and pricing pools) behind the store's back. */
  db: SqlDialect;
}

interface EntryRow {
  kind: string;
  amount: number;
  key: string;
  attempt: number | null;
}

export function runLedgerContract(label: string, open: () => Promise<LedgerWorld>, second?: (first: LedgerWorld) => Promise<Store>): void {
  describe(`the compute ledger: ${label}`, () => {
    async function entries(db: SqlDialect, attemptId?: number): Promise<EntryRow[]> {
      const rows = await db.all<{ kind: string; amount_ms: number | string; idempotency_key: string; attempt_id: number | string | null }>(
        `SELECT kind, amount_ms, idempotency_key, attempt_id FROM compute_ledger${attemptId === undefined ? '' : ' WHERE attempt_id = ?'} ORDER BY id`,
        attemptId === undefined ? [] : [attemptId],
      );
      return rows.map((r) => ({ kind: r.kind, amount: Number(r.amount_ms), key: r.idempotency_key, attempt: r.attempt_id === null ? null : Number(r.attempt_id) }));
    }
    const short = (rows: EntryRow[]) => rows.map((e) => `${e.kind} ${e.amount}`);

    /** A project `name` with `jobs` pending jobs (and the quota, if given), and an agent. */
    async function world(
      w: LedgerWorld,
      opts: { name?: string; quota?: number | null; hard?: boolean; grantMs?: number; factorMilli?: number; jobs?: number; concurrency?: number } = {},
    ) {
      const { store, db } = w;
      const name = opts.name ?? 'q';
      const project = await store.ensureProject(name, `/src/${name}`, T0);
      if (opts.quota !== undefined) await store.fleet.setQuota(project.id, { monthlyMinutes: opts.quota, hardLimit: opts.hard ?? false }, 'test', T0);
      if (opts.grantMs) await store.fleet.grantMinutes(project.id, { amountMs: opts.grantMs, reason: 'to start with', key: `start-${name}` }, 'test', T0);
      if (opts.factorMilli !== undefined) await setPoolPriceIn(db, 'default', opts.factorMilli, T0);
      const jobs = Array.from({ length: opts.jobs ?? 1 }, (_, i) => compiledJob(`${name}-${i}`, 0));
      const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs, createdAt: T0 }));
      await store.fleet.startPipeline(pipeline.id, T0, SETTINGS);
      return { project, pipeline };
    }
    let agents = 0;
    async function agentOf(store: Store, concurrency = 4): Promise<Agent> {
      const n = ++agents;
      const agent = await store.fleet.registerAgent({ name: `box-${n}`, tags: [], concurrency, version: 't', platform: {} }, `agent-hash-${n}`, T0);
      await store.fleet.openSession(agent.id, `s-${n}`, agent, T0, SETTINGS);
      return agent;
    }
    async function offer(store: Store, agent: Agent, at: number, token: string): Promise<AttemptId | null> {
      const [o] = await store.fleet.takeAttempts(agent, 1, at, SETTINGS, [token]);
      return o ? o.attempt.id : null;
    }
    async function row(db: SqlDialect, id: number) {
      const r = await db.get<{ pool: string | null; cost_factor_milli: number | string | null; reserved_until: number | string | null; status: string; failure_reason: string | null }>(
        'SELECT pool, cost_factor_milli, reserved_until, status, failure_reason FROM attempts WHERE id = ?',
        [id],
      );
      return { ...r!, cost_factor_milli: r!.cost_factor_milli === null ? null : Number(r!.cost_factor_milli), reserved_until: r!.reserved_until === null ? null : Number(r!.reserved_until) };
    }
    const ok = { status: 'success' as const, exitCode: 0, failureReason: null, logEnd: 0 };

    it('an offer reserves a slice at the pool`s price, a renewal past it extends it, the end consumes the real duration and releases all it held', async () => {
      const w = await open();
      const { store, db } = w;
      const { project } = await world(w, { quota: 1, factorMilli: 1_500 });
      const agent = await agentOf(store);
      const id = (await offer(store, agent, T0 + 100, 'tok'))!;
      assert.deepEqual(await row(db, id), { pool: 'default', cost_factor_milli: 1_500, reserved_until: T0 + 2_100, status: 'pending', failure_reason: null });
      assert.equal((await store.fleet.startAttempt(agent.id, id, 'tok', 'box', T0 + 200, SETTINGS)).kind, 'ok');
      // A lease to T0 + 3 000 outruns the reservation: one more slice (a lease at 1.5).
      await store.fleet.renewLeases(agent.id, [{ id, tokenHash: 'tok' }], T0 + 1_000, SETTINGS.leaseMs);
      assert.equal((await row(db, id)).reserved_until, T0 + 4_100);
      await store.fleet.renewLeases(agent.id, [{ id, tokenHash: 'tok' }], T0 + 1_500, SETTINGS.leaseMs);
      assert.deepEqual(short(await entries(db, id)), ['reserve 3000', 'reserve 3000'], 'a renewal within the reservation reserves nothing');
      const held = await store.fleet.usage(project.id, '2024-05', T0 + 1_600);
      assert.deepEqual([held!.reservedMs, held!.consumedMs, held!.availableMs], [6_000, 0, MIN - 6_000]);
      assert.equal((await store.fleet.completeAttempt(id, 'tok', ok, T0 + 3_200, SETTINGS)).kind, 'ok');
      const mine = await entries(db, id);
      assert.deepEqual(
        mine.map((e) => [e.kind, e.amount, e.key]),
        [
          ['reserve', 3_000, `reserve:${id}:0`],
          ['reserve', 3_000, `reserve:${id}:1`],
          ['consume', 4_500, `consume:${id}`],
          ['release', 6_000, `release:${id}`],
        ],
        '3 s from start to end at a factor of 1.5',
      );
      const after = await store.fleet.usage(project.id, '2024-05', T0 + 4_000);
      assert.deepEqual(after, { month: '2024-05', limitMs: MIN, grantsMs: 0, consumedMs: 4_500, reservedMs: 0, availableMs: MIN - 4_500, byPool: { default: { amountMs: 4_500, durationMs: 3_000 } } });
      // A balance is a query: an entry written behind the store's back is in the next answer.
      await db.run("INSERT INTO compute_ledger (project_id, month, kind, amount_ms, idempotency_key, created_at) VALUES (?, '2024-05', 'grant', 500, 'behind', ?)", [project.id, T0]);
      assert.equal((await store.fleet.usage(project.id, '2024-05', T0 + 4_000))!.availableMs, MIN - 4_000);
    });

    it('a completion reported twice consumes once, and the sweep after it adds nothing', async () => {
      const w = await open();
      const { store, db } = w;
      await world(w, { quota: 1 });
      const agent = await agentOf(store);
      const id = (await offer(store, agent, T0, 'tok'))!;
      await store.fleet.startAttempt(agent.id, id, 'tok', 'box', T0 + 10, SETTINGS);
      assert.deepEqual(await store.fleet.completeAttempt(id, 'tok', ok, T0 + 510, SETTINGS), { kind: 'ok', duplicate: false, status: 'success', failureReason: null });
      const once = await entries(db);
      assert.deepEqual(await store.fleet.completeAttempt(id, 'tok', ok, T0 + 900, SETTINGS), { kind: 'ok', duplicate: true, status: 'success', failureReason: null });
      await store.fleet.sweep(T0 + 60_000, SETTINGS);
      assert.deepEqual(await entries(db), once);
      assert.deepEqual(short(await entries(db, id)), ['reserve 2000', 'consume 500', 'release 2000']);
    });

    it('an agent lost mid-job is settled by the sweep: consumed to the moment it was declared lost, released, once; its retry is billed on its own', async () => {
      const w = await open();
      const { store, db } = w;
      await world(w, { quota: 1 });
      const agent = await agentOf(store);
      const id = (await offer(store, agent, T0, 'tok'))!;
      await store.fleet.startAttempt(agent.id, id, 'tok', 'box', T0 + 100, SETTINGS);
      // No heartbeat: the lease (T0 + 2 100) runs out.
      assert.equal(await store.fleet.sweep(T0 + 2_500, SETTINGS), 1);
      assert.equal(await store.fleet.sweep(T0 + 3_000, SETTINGS), 0);
      assert.deepEqual(short(await entries(db, id)), ['reserve 2000', 'consume 2400', 'release 2000']);
      assert.equal((await row(db, id)).failure_reason, 'agent_lost');
      const retry = (await offer(store, await agentOf(store), T0 + 3_000, 'tok2'))!;
      assert.notEqual(retry, id);
      assert.deepEqual(short(await entries(db, retry)), ['reserve 2000']);
    });

    it('an offer that lapses unstarted gives its reservation back at the sweep, and the next offer reserves anew', async () => {
      const w = await open();
      const { store, db } = w;
      const { project } = await world(w, { quota: 1, jobs: 2 });
      const agent = await agentOf(store);
      const a = (await offer(store, agent, T0, 'tok-a'))!;
      const b = (await offer(store, agent, T0, 'tok-b'))!;
      assert.equal((await store.fleet.usage(project.id, '2024-05', T0))!.reservedMs, 4_000);
      // Offers last offerTtlMs (2 s); the sweep after that returns both reservations.
      const woken: string[][] = [];
      store.fleet.events.on('ready', (keys) => woken.push(keys));
      await store.fleet.sweep(T0 + 2_001, SETTINGS);
      assert.ok(woken.length > 0, 'minutes came back: waiting polls look again');
      assert.equal((await row(db, a)).reserved_until, null);
      assert.equal((await store.fleet.usage(project.id, '2024-05', T0 + 2_001))!.reservedMs, 0);
      assert.deepEqual(short(await entries(db, a)), ['reserve 2000', 'release 2000']);
      await store.fleet.sweep(T0 + 2_002, SETTINGS);
      assert.deepEqual(short(await entries(db, a)), ['reserve 2000', 'release 2000'], 'released once');
      // Offered again (a new token): a new reservation under the next key.
      assert.equal(await offer(store, agent, T0 + 2_100, 'tok-a2'), a);
      assert.deepEqual((await entries(db, a)).map((e) => e.key), [`reserve:${a}:0`, `release:${a}:1`, `reserve:${a}:1`]);
      // An offer re-offered before any sweep: the take releases the lapsed one itself.
      // (b's lapsed offer as the sweep had not yet seen it: still holding its slice.)
      await db.run("INSERT INTO compute_ledger (project_id, month, kind, amount_ms, idempotency_key, attempt_id, created_at) VALUES (?, '2024-05', 'reserve', 2000, ?, ?, ?)", [project.id, `reserve:${b}:1`, b, T0]);
      await db.run('UPDATE attempts SET reserved_until = ? WHERE id = ?', [T0 + 2_000, b]);
      assert.equal(await offer(store, agent, T0 + 2_200, 'tok-b2'), b);
      assert.deepEqual((await entries(db, b)).slice(2).map((e) => [e.kind, e.key]), [
        ['reserve', `reserve:${b}:1`],
        ['release', `release:${b}:2`],
        ['reserve', `reserve:${b}:2`],
      ]);
      assert.equal((await store.fleet.usage(project.id, '2024-05', T0 + 2_200))!.reservedMs, 4_000, 'each attempt holds one slice');
    });

    it('a canceled offer gives its reservation back with it', async () => {
      const w = await open();
      const { store, db } = w;
      const { pipeline } = await world(w, { quota: 1 });
      const id = (await offer(store, await agentOf(store), T0, 'tok'))!;
      await store.fleet.cancelPipeline(pipeline.id, T0 + 10, SETTINGS);
      assert.deepEqual(short(await entries(db, id)), ['reserve 2000', 'release 2000']);
    });

    it('a project whose minutes are spent takes nothing, another project goes on, its jobs wait with reason quota, and a grant wakes them', async () => {
      const w = await open();
      const { store, db } = w;
      const { project: q } = await world(w, { name: 'q', quota: 0 });
      await world(w, { name: 'other', jobs: 2 });
      const agent = await agentOf(store);
      const offers = await store.fleet.takeAttempts(agent, 4, T0 + 10, SETTINGS, ['t1', 't2', 't3', 't4']);
      assert.deepEqual(offers.map((o) => o.job.name).sort(), ['other-0', 'other-1']);
      const waiting = (await store.fleet.explainQueue(T0 + 20, SETTINGS, q.id, 10)).map((e) => e.reason);
      assert.deepEqual(waiting, [{ code: 'quota', project: 'q', usedMinutes: 0, reservedMinutes: 0, totalMinutes: 0 }]);
      const woken: string[][] = [];
      store.fleet.events.on('ready', (keys) => woken.push(keys));
      const granted = await store.fleet.grantMinutes(q.id, { amountMs: 3_000, reason: 'a little more', key: 'k1' }, 'user:ada', T0 + 30);
      assert.equal(granted.kind, 'created');
      assert.deepEqual(woken, [['']], 'the grant woke the polls of its pending job');
      assert.equal((await store.fleet.grantMinutes(q.id, { amountMs: 3_000, reason: 'a little more', key: 'k1' }, 'user:ada', T0 + 40)).kind, 'existing');
      assert.equal((await store.fleet.grantMinutes(q.id, { amountMs: 9_000, reason: 'a little more', key: 'k1' }, 'user:ada', T0 + 40)).kind, 'mismatch');
      const [o] = await store.fleet.takeAttempts(agent, 1, T0 + 50, SETTINGS, ['t5']);
      assert.equal(o?.job.name, 'q-0');
      assert.deepEqual(short(await entries(db, o!.attempt.id)), ['reserve 2000']);
      const view = await store.fleet.quotaOf(q.id);
      assert.deepEqual(
        view!.grants.map((g) => [g.amountMs, g.reason, g.actor]),
        [[3_000, 'a little more', 'user:ada']],
      );
    });

    it('a project without a quota reserves nothing and is still counted; a free pool is counted at 0', async () => {
      const w = await open();
      const { store, db } = w;
      const { project } = await world(w, { jobs: 2 });
      const agent = await agentOf(store);
      const id = (await offer(store, agent, T0, 'tok'))!;
      assert.equal((await row(db, id)).reserved_until, null);
      await store.fleet.startAttempt(agent.id, id, 'tok', 'box', T0 + 10, SETTINGS);
      await store.fleet.completeAttempt(id, 'tok', ok, T0 + 1_010, SETTINGS);
      assert.deepEqual(short(await entries(db)), ['consume 1000']);
      await setPoolPriceIn(db, 'default', 0, T0);
      await store.fleet.setQuota(project.id, { monthlyMinutes: 0, hardLimit: true }, 'test', T0 + 1_100);
      const free = (await offer(store, agent, T0 + 1_200, 'tok2'))!;
      assert.ok(free, 'a free pool runs jobs whatever the balance');
      assert.equal((await row(db, free)).reserved_until, null);
      await store.fleet.startAttempt(agent.id, free, 'tok2', 'box', T0 + 1_210, SETTINGS);
      await store.fleet.completeAttempt(free, 'tok2', ok, T0 + 2_210, SETTINGS);
      assert.deepEqual(short(await entries(db, free)), ['consume 0']);
      const u = await store.fleet.usage(project.id, '2024-05', T0 + 3_000);
      assert.deepEqual(u!.byPool, { default: { amountMs: 1_000, durationMs: 2_000 } });
    });

    it('hard limit: with nothing left, a running attempt is stopped once its slice has run, and its canceled completion ends it as quota_exceeded', async () => {
      const w = await open();
      const { store, db } = w;
      const { pipeline } = await world(w, { quota: 0, hard: true, grantMs: 3_000 });
      const agent = await agentOf(store);
      const id = (await offer(store, agent, T0, 'tok'))!;
      await store.fleet.startAttempt(agent.id, id, 'tok', 'box', T0 + 10, SETTINGS);
      const beat = (at: number) => store.fleet.renewLeases(agent.id, [{ id, tokenHash: 'tok' }], at, SETTINGS.leaseMs);
      assert.deepEqual((await beat(T0 + 500)).cancel, []);
      assert.equal((await row(db, id)).reserved_until, T0 + 3_000, 'what was left: one more second');
      assert.deepEqual((await beat(T0 + 1_500)).cancel, [], 'nothing left, but the slice has not run out');
      const cancels: number[] = [];
      store.fleet.events.on('cancel', (a) => cancels.push(a));
      assert.deepEqual((await beat(T0 + 3_100)).cancel, [id], 'the slice ran out: stopped');
      assert.deepEqual(cancels, [agent.id]);
      assert.equal((await row(db, id)).failure_reason, 'quota_exceeded');
      const c = { status: 'canceled' as const, exitCode: null, failureReason: 'canceled' as const, logEnd: 0 };
      assert.deepEqual(await store.fleet.completeAttempt(id, 'tok', c, T0 + 3_300, SETTINGS), { kind: 'ok', duplicate: false, status: 'failed', failureReason: 'quota_exceeded' });
      assert.deepEqual(await store.fleet.completeAttempt(id, 'tok', c, T0 + 3_400, SETTINGS), { kind: 'ok', duplicate: true, status: 'failed', failureReason: 'quota_exceeded' });
      const job = (await store.getPipeline(pipeline.id))!.jobs[0]!;
      assert.deepEqual([job.status, job.failureReason, job.attemptCount], ['failed', 'quota_exceeded', 1]);
      assert.deepEqual(short(await entries(db, id)), ['reserve 2000', 'reserve 1000', 'consume 3290', 'release 3000']);
    });

    it('hard limit without heartbeats: the sweep stops the attempt whose slice ran out; a soft limit lets it run on, reserving past the balance', async () => {
      const w = await open();
      const { store, db } = w;
      const long = { ...SETTINGS, leaseMs: 10_000 };
      await world(w, { name: 'hard', quota: 0, hard: true, grantMs: 3_000 });
      const agent = await agentOf(store);
      const [o] = await store.fleet.takeAttempts(agent, 1, T0, long, ['tok']);
      await store.fleet.startAttempt(agent.id, o!.attempt.id, 'tok', 'box', T0 + 10, long);
      assert.equal((await row(db, o!.attempt.id)).reserved_until, T0 + 3_000, 'a slice of what was left');
      await store.fleet.sweep(T0 + 3_001, long);
      assert.equal((await row(db, o!.attempt.id)).failure_reason, 'quota_exceeded');
      // Never confirmed: the cancel deadline ends it, still as the stop.
      await store.fleet.sweep(T0 + 3_001 + long.killGraceMs + long.leaseMs + 1, long);
      assert.deepEqual([(await row(db, o!.attempt.id)).status, (await row(db, o!.attempt.id)).failure_reason], ['failed', 'quota_exceeded']);

      const soft = await open();
      await world(soft, { name: 'soft', quota: 0, hard: false, grantMs: 3_000 });
      const agent2 = await agentOf(soft.store);
      const [s] = await soft.store.fleet.takeAttempts(agent2, 1, T0, SETTINGS, ['tok']);
      await soft.store.fleet.startAttempt(agent2.id, s!.attempt.id, 'tok', 'box', T0 + 10, SETTINGS);
      for (const at of [T0 + 500, T0 + 1_500, T0 + 3_100, T0 + 4_000]) {
        assert.deepEqual((await soft.store.fleet.renewLeases(agent2.id, [{ id: s!.attempt.id, tokenHash: 'tok' }], at, SETTINGS.leaseMs)).cancel, []);
      }
      await soft.store.fleet.sweep(T0 + 4_100, SETTINGS);
      assert.equal((await row(soft.db, s!.attempt.id)).status, 'running');
      assert.deepEqual(short(await entries(soft.db, s!.attempt.id)), ['reserve 2000', 'reserve 2000', 'reserve 2000'], 'past the balance of 3 s: overrun allowed');
    });

    it('a quota changed mid-month moves the allowance by an adjustment; the same quota twice writes once; a new month gets its own allowance at its first take', async () => {
      const w = await open();
      const { store, db } = w;
      const project = await store.ensureProject('q', '/src/q', T0);
      const set = (m: number | null, at = T0) => store.fleet.setQuota(project.id, { monthlyMinutes: m, hardLimit: false }, 'user:ada', at);
      assert.deepEqual(await set(10), { monthlyMinutes: 10, hardLimit: false, grants: [] });
      await set(15);
      await set(15);
      await set(5);
      await set(null);
      assert.equal((await store.fleet.usage(project.id, '2024-05', T0))!.limitMs, null, 'no quota: unlimited');
      await set(5);
      assert.deepEqual(
        (await entries(db)).map((e) => [e.kind, e.amount, e.key]),
        [
          ['allowance', 10 * MIN, `allowance:${project.id}:2024-05`],
          ['adjustment', 5 * MIN, `adjustment:${project.id}:2024-05:1`],
          ['adjustment', -10 * MIN, `adjustment:${project.id}:2024-05:2`],
        ],
      );
      assert.equal((await store.fleet.usage(project.id, '2024-05', T0))!.limitMs, 5 * MIN);
      const june = Date.UTC(2024, 5, 1, 0, 5);
      const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs: [compiledJob('j', 0)], createdAt: june }));
      await store.fleet.startPipeline(pipeline.id, june, SETTINGS);
      assert.ok(await offer(store, await agentOf(store), june + 1, 'tok'));
      assert.deepEqual((await entries(db)).slice(3).map((e) => [e.kind, e.amount, e.key]), [
        ['allowance', 5 * MIN, `allowance:${project.id}:2024-06`],
        ['reserve', 2_000, (await entries(db)).at(-1)!.key],
      ]);
      assert.deepEqual(
        [(await store.fleet.usage(project.id, '2024-05', june))!.limitMs, (await store.fleet.usage(project.id, '2024-06', june))!.limitMs],
        [5 * MIN, 5 * MIN],
      );
    });

    it('billing lines, every project`s usage and the totals come from the consume entries', async () => {
      const w = await open();
      const { store } = w;
      const { project, pipeline } = await world(w, { quota: 2, factorMilli: 2_000 });
      await world(w, { name: 'free-for-all' });
      const agent = await agentOf(store);
      const offers = await store.fleet.takeAttempts(agent, 2, T0, SETTINGS, ['a', 'b']);
      for (const [i, o] of offers.entries()) {
        await store.fleet.startAttempt(agent.id, o.attempt.id, ['a', 'b'][i]!, 'box', T0 + 100, SETTINGS);
        await store.fleet.completeAttempt(o.attempt.id, ['a', 'b'][i]!, ok, T0 + 100 + 250 * (i + 1), SETTINGS);
      }
      const lines = await store.fleet.usageLines(project.id, '2024-05');
      const job = (await store.getPipeline(pipeline.id))!.jobs[0]!;
      assert.deepEqual(
        lines.map((l) => [l.project, l.pipelineId, l.jobId, l.attempt, l.pool, l.factorMilli, l.durationMs]),
        [['q', pipeline.id, job.id, 1, 'default', 2_000, l0(offers, 'q-0')]],
      );
      assert.equal((await store.fleet.usageLines(null, '2024-05')).length, 2);
      assert.deepEqual((await store.fleet.usageLines(null, '2024-04')).length, 0);
      // By UTC day and pool, summed in the database (the usage page's chart).
      const day = new Date(T0).toISOString().slice(0, 10);
      assert.deepEqual(await store.fleet.usageByDay(project.id, '2024-05'), [{ day, pool: 'default', amountMs: 2 * l0(offers, 'q-0') }]);
      assert.deepEqual(
        (await store.fleet.usageByDay(null, '2024-05')).map((d) => [d.day, d.pool]),
        [[day, 'default']],
      );
      assert.equal((await store.fleet.usageByDay(null, '2024-05'))[0]!.amountMs, 2 * l0(offers, 'q-0') + 2 * l0(offers, 'free-for-all-0'));
      assert.deepEqual(await store.fleet.usageByDay(null, '2024-04'), []);
      const all = await store.fleet.usageByProject('2024-05', T0 + 1_000);
      assert.deepEqual(
        all.map((u) => [u.project, u.limitMs, u.consumedMs]),
        [
          ['free-for-all', null, 2 * l0(offers, 'free-for-all-0')],
          ['q', 2 * MIN, 2 * l0(offers, 'q-0')],
        ],
      );
      const totals = (await store.fleet.consumedTotals(T0 + 1_000)).sort((a, b) => a.project.localeCompare(b.project));
      assert.deepEqual(totals, [
        { project: 'free-for-all', pool: 'default', amountMs: 2 * l0(offers, 'free-for-all-0') },
        { project: 'q', pool: 'default', amountMs: 2 * l0(offers, 'q-0') },
      ]);
      /** How long the offer of job `name` ran (250 ms for the first offer, 500 for the second). */
      function l0(os: typeof offers, name: string): number {
        return 250 * (os.findIndex((o) => o.job.name === name) + 1);
      }
    });

    if (second) {
      it('two instances dispatching at once never reserve more than the balance', async () => {
        const a = await open();
        const b = await second(a);
        const { project } = await world(a, { quota: 0, grantMs: 5_000, jobs: 12 });
        const agentsA = await Promise.all(Array.from({ length: 6 }, () => agentOf(a.store, 1)));
        const agentsB = await Promise.all(Array.from({ length: 6 }, () => agentOf(b, 1)));
        // Rounds of twelve takes at once (a take locks the candidates it looks at, so others may
        // find none in a round), until a round offers nothing.
        let offered = 0;
        for (let round = 0; round < 10; round++) {
          const taken = await Promise.all([
            ...agentsA.map((g, i) => a.store.fleet.takeAttempts(g, 1, T0 + 10, SETTINGS, [`a${round}-${i}`])),
            ...agentsB.map((g, i) => b.fleet.takeAttempts(g, 1, T0 + 10, SETTINGS, [`b${round}-${i}`])),
          ]);
          offered += taken.flat().length;
          if (taken.flat().length === 0 && round > 0) break;
        }
        assert.equal(offered, 3, 'two full slices and what was left');
        const reserved = (await entries(a.db)).filter((e) => e.kind === 'reserve').map((e) => e.amount).sort();
        assert.deepEqual(reserved, [1_000, 2_000, 2_000]);
        assert.equal((await a.store.fleet.usage(project.id, '2024-05', T0 + 10))!.availableMs, 0);
      });
    }
  });
}
