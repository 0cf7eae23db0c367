// Weighted fair share and urgent jobs in the store, the contract both stores pass (run by
// sqlite.test.ts and postgres.test.ts): an agent takes and completes attempts over a simulated
// minute (the store takes `at`, so no test waits), and the offers are counted per project.

import assert from 'node:assert/strict';
import { afterEach, describe, it, type TestContext } from 'node:test';
import type { Agent, SchedulerSettings } from '../../src/store/fleet.js';
import type { Store } from '../../src/store/store.js';
import { compiledJob, newPipeline } from './store-contract.js';

const SETTINGS: SchedulerSettings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };
const T0 = 400_000;

export interface FairShareOptions {
  /** A second store on the database of `store` (another server instance), open beside it. */
  twin?: (store: Store) => Promise<Store>;
}

export function runFairShareContract(label: string, open: () => Promise<Store>, options: FairShareOptions = {}): void {
  describe(`Fair share contract: ${label}`, () => {
    const opened: Store[] = [];
    async function fresh(): Promise<Store> {
      const s = await open();
      opened.push(s);
      return s;
    }
    afterEach(async () => {
      for (const s of opened.splice(0).reverse()) await s.close();
    });

    /** A started fleet pipeline of `n` trivial jobs named `<prefix>-<i>` in project `name` (made if needed). */
    async function queue(store: Store, name: string, n: number, prefix = name, at = T0) {
      const project = await store.ensureProject(name, `/src/${name}`, 1);
      const jobs = Array.from({ length: n }, (_, i) => compiledJob(`${prefix}-${i}`, 0));
      const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs }));
      await store.fleet.startPipeline(pipeline.id, at, SETTINGS);
      return project;
    }
    async function agentOf(store: Store, concurrency: number): Promise<Agent> {
      const facts = { name: `box-${concurrency}`, tags: [], concurrency, version: 't', platform: {} };
      const agent = await store.fleet.registerAgent(facts, `hash-${concurrency}`, T0);
      await store.fleet.openSession(agent.id, `s-${concurrency}`, facts, T0, SETTINGS);
      return agent;
    }

    let tokens = 0;
    interface Run {
      attemptId: number;
      hash: string;
      endsAt: number;
    }
    /**
     * An agent of `slots` over `ms` of simulated time from `from`: every `tick` it completes what
     * has ended, then takes what its free slots allow and starts it at once; each job lasts
     * `jobMs`. The second slot comes up `lateMs` after the first (as a slot's sandbox may), so the
     * slots free up in turn. `takers` take in turn (several server instances). The project of
     * each offer, in order.
     */
    async function simulate(takers: Store[], agent: Agent, o: { from: number; ms: number; slots: number; jobMs?: number; tick?: number; lateMs?: number }): Promise<string[]> {
      const { jobMs = 1_000, tick = 250, lateMs = 500 } = o;
      const running: Run[] = [];
      const order: string[] = [];
      let turn = 0;
      for (let t = o.from; t < o.from + o.ms; t += tick) {
        for (const r of running.filter((x) => x.endsAt <= t)) {
          const done = await takers[0]!.fleet.completeAttempt(r.attemptId as never, r.hash, { status: 'success', exitCode: 0, failureReason: null, logEnd: 0 }, t, SETTINGS);
          assert.equal(done.kind, 'ok');
          running.splice(running.indexOf(r), 1);
        }
        const slots = t - o.from < lateMs ? Math.min(1, o.slots) : o.slots;
        const free = slots - running.length;
        if (free <= 0) continue;
        const store = takers[turn++ % takers.length]!;
        const hashes = Array.from({ length: free }, () => `fs-tok-${++tokens}`);
        const offers = await store.fleet.takeAttempts(agent, free, t, SETTINGS, hashes);
        for (const [i, offer] of offers.entries()) {
          assert.equal((await store.fleet.startAttempt(agent.id, offer.attempt.id, hashes[i]!, agent.name, t, SETTINGS)).kind, 'ok');
          running.push({ attemptId: offer.attempt.id, hash: hashes[i]!, endsAt: t + jobMs });
          order.push(offer.project.name);
        }
      }
      // What still runs ends as it would have: the next simulation starts with the agent idle.
      for (const r of running) {
        assert.equal((await takers[0]!.fleet.completeAttempt(r.attemptId as never, r.hash, { status: 'success', exitCode: 0, failureReason: null, logEnd: 0 }, r.endsAt, SETTINGS)).kind, 'ok');
      }
      return order;
    }
    const count = (order: string[], project: string) => order.filter((p) => p === project).length;

    /** Two projects of `weights` with 300 queued jobs each, one agent of 2 slots for a simulated minute. */
    async function minuteOf(takers: Store[], weights: [number, number]): Promise<string[]> {
      const store = takers[0]!;
      for (const [k, name] of ['heavy', 'light'].entries()) {
        const p = await queue(store, name, 300);
        await store.updateProject(p.id, { weight: weights[k]! });
      }
      return simulate(takers, await agentOf(store, 2), { from: T0 + 1, ms: 60_000, slots: 2 });
    }

    it('weights 2 and 1, both with hundreds of queued jobs, one agent of 2 slots for a minute: the offers split 2:1 (within 10%)', async (t: TestContext) => {
      const order = await minuteOf([await fresh()], [2, 1]);
      const [heavy, light] = [count(order, 'heavy'), count(order, 'light')];
      t.diagnostic(`offers in a simulated minute: heavy (weight 2) ${heavy}, light (weight 1) ${light}, ratio ${(heavy / light).toFixed(3)}`);
      assert.ok(heavy + light >= 100, `${heavy + light} offers`);
      assert.ok(Math.abs(heavy / light - 2) <= 0.2, `${heavy}:${light}`);
    });

    it('weights 1 and 1 give equal shares', async (t: TestContext) => {
      const order = await minuteOf([await fresh()], [1, 1]);
      const [a, b] = [count(order, 'heavy'), count(order, 'light')];
      t.diagnostic(`offers in a simulated minute at weights 1:1: ${a} and ${b}`);
      assert.ok(Math.abs(a - b) <= 1, `${a}:${b}`);
    });

    it('an idle project that comes back gets no burst beyond one round: it takes turns at once', async () => {
      const store = await fresh();
      await queue(store, 'steady', 200);
      await queue(store, 'away', 5);
      const agent = await agentOf(store, 1);
      // Both compete until away's five jobs are done, then steady is alone for 60 jobs.
      const before = await simulate([store], agent, { from: T0 + 1, ms: 70_000, slots: 1 });
      assert.equal(count(before, 'away'), 5);
      assert.deepEqual(before.slice(0, 10), ['steady', 'away', 'steady', 'away', 'steady', 'away', 'steady', 'away', 'steady', 'away']);
      // Back with 30 jobs, 60 passes behind: without the floor it would get the next 60 offers.
      await queue(store, 'away', 30, 'again', T0 + 70_000);
      const after = await simulate([store], agent, { from: T0 + 70_001, ms: 10_000, slots: 1 });
      assert.equal(after.length, 10);
      assert.ok(count(after, 'away') <= 6, after.join(' '));
      // One offer to catch up, then turns.
      assert.deepEqual(after, ['away', 'steady', 'away', 'steady', 'away', 'steady', 'away', 'steady', 'away', 'steady']);
    });

    it("urgent jobs go first within their project's share, by priority, then in queue order; they do not jump another project's share", async () => {
      const store = await fresh();
      const x = await store.ensureProject('x', '/src/x', 1);
      const updated = await store.updateProject(x.id, { urgentJobs: ['deploy*', 'release: [*]'] });
      assert.deepEqual(updated!.fairShare, { weight: 1, urgentJobs: ['deploy*', 'release: [*]'] });
      const { pipeline } = await store.createPipeline(
        newPipeline(x.id, {
          runsOn: 'fleet',
          jobs: [
            compiledJob('build', 0),
            compiledJob('deploy-prod', 0),
            compiledJob('lint', 0, { priority: 5 }),
            compiledJob('deploy-canary', 0, { priority: 3 }),
            compiledJob('release: [eu]', 0),
            compiledJob('test', 0),
          ],
        }),
      );
      await store.fleet.startPipeline(pipeline.id, T0, SETTINGS);
      await queue(store, 'y', 3);
      const queued = await store.fleet.explainQueue(T0 + 1, SETTINGS, x.id, 100);
      assert.deepEqual(
        queued.map((e) => [e.jobName, e.urgent, e.priority]),
        [['deploy-canary', true, 3], ['deploy-prod', true, 0], ['release: [eu]', true, 0], ['lint', false, 5], ['build', false, 0], ['test', false, 0]],
      );
      const agent = await agentOf(store, 9);
      const offers = await store.fleet.takeAttempts(agent, 9, T0 + 1, SETTINGS, Array.from({ length: 9 }, (_, i) => `urgent-${i}`));
      assert.deepEqual(
        offers.map((o) => o.job.name),
        ['deploy-canary', 'y-0', 'deploy-prod', 'y-1', 'release: [eu]', 'y-2', 'lint', 'build', 'test'],
      );
    });

    it('a change of the urgent jobs applies to jobs already queued; an emptied list puts them back in priority order', async () => {
      const store = await fresh();
      const p = await queue(store, 'late', 4);
      const order = async () => (await store.fleet.explainQueue(T0 + 1, SETTINGS, p.id, 100)).map((e) => `${e.jobName}${e.urgent ? '!' : ''}`);
      assert.deepEqual(await order(), ['late-0', 'late-1', 'late-2', 'late-3']);
      await store.updateProject(p.id, { urgentJobs: ['*-3', '*-2'] });
      assert.deepEqual(await order(), ['late-2!', 'late-3!', 'late-0', 'late-1']);
      // Setting the same list again changes nothing (no attempt raised twice).
      await store.updateProject(p.id, { urgentJobs: ['*-2', '*-3'] });
      assert.deepEqual(await order(), ['late-2!', 'late-3!', 'late-0', 'late-1']);
      await store.updateProject(p.id, { urgentJobs: ['*-1'] });
      assert.deepEqual(await order(), ['late-1!', 'late-0', 'late-2', 'late-3']);
      const agent = await agentOf(store, 1);
      assert.deepEqual((await store.fleet.takeAttempts(agent, 1, T0 + 1, SETTINGS, ['late-tok'])).map((o) => o.job.name), ['late-1']);
      await store.updateProject(p.id, { urgentJobs: [] });
      assert.deepEqual(await order(), ['late-0', 'late-1', 'late-2', 'late-3']);
    });

    if (options.twin) {
      const twin = options.twin;
      it('two server instances on one database, taking in turn, offer in the same order as one', async () => {
        const alone = await minuteOf([await fresh()], [2, 1]);
        const a = await fresh();
        const b = await twin(a);
        opened.push(b);
        const together = await minuteOf([a, b], [2, 1]);
        assert.ok(alone.length >= 100);
        assert.deepEqual(together, alone);
      });
    }
  });
}
