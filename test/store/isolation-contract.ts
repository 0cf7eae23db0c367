// Job isolation in the store, the contract both stores pass (run by sqlite.test.ts and
// postgres.test.ts): an agent's isolation facts, a project's isolation settings, which agent the
// take offers which job (sandboxRequirement() and agentIsSandboxReady(), evaluated at the take),
// and what the queue says of a job that waits for a sandboxed agent.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { NO_ISOLATION, type AgentIsolationFacts, type IsolationCheck } from '../../src/domain/isolation.js';
import type { CompiledJob } from '../../src/pipeline/types.js';
import type { SchedulerSettings } from '../../src/store/fleet.js';
import type { Store } from '../../src/store/store.js';
import { compiledJob, newPipeline } from './store-contract.js';

const SETTINGS: SchedulerSettings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };
const at = 300_000;

export function checkOf(passed: boolean, checkedAt = '2025-01-02T03:04:05.000Z'): IsolationCheck {
  return {
    passed,
    checkedAt,
    probes: [
      { area: 'files', probe: "read the agent's identity file", expected: 'denied', observed: 'denied: No such file or directory', ok: true },
      { area: 'network', probe: 'connect to 1.1.1.1:443', expected: 'refused', observed: passed ? 'refused' : 'connected', ok: passed },
    ],
  };
}
const SANDBOX: AgentIsolationFacts = { isolation: 'sandbox', limits: { memoryBytes: 2 ** 31, pids: 512, cpus: 2 }, check: checkOf(true) };
const FAILED: AgentIsolationFacts = { ...SANDBOX, check: checkOf(false) };

export function runIsolationContract(label: string, open: () => Promise<Store>): void {
  describe(`Isolation contract: ${label}`, () => {
    const opened: Store[] = [];
    async function fresh(): Promise<Store> {
      const s = await open();
      opened.push(s);
      return s;
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    let agents = 0;
    /** An agent with a session, reporting `isolation` (nothing at all: an agent older than isolation). */
    async function agentOf(store: Store, isolation: AgentIsolationFacts | undefined, concurrency = 8) {
      const n = ++agents;
      const facts = { name: `box-${n}`, tags: [], concurrency, version: 't', platform: {}, ...(isolation ? { isolation } : {}) };
      const agent = await store.fleet.registerAgent(facts, `hash-${n}`, at);
      await store.fleet.openSession(agent.id, `s-${n}`, facts, at, SETTINGS);
      return (await store.fleet.findAgentByTokenHash(`hash-${n}`))!;
    }
    /** A started fleet pipeline of `jobs` in project `name` (made if needed). */
    async function queued(store: Store, name: string, jobs: CompiledJob[], trusted = true) {
      const project = await store.ensureProject(name, `/src/${name}`, 1);
      const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs, trusted }));
      await store.fleet.startPipeline(pipeline.id, at, SETTINGS);
      return project;
    }
    let tokens = 0;
    async function take(store: Store, agent: Awaited<ReturnType<typeof agentOf>>, slots = 8): Promise<string[]> {
      const offers = await store.fleet.takeAttempts(agent, slots, at + 1, SETTINGS, Array.from({ length: slots }, () => `iso-tok-${++tokens}`));
      return offers.map((o) => o.job.name).sort();
    }

    it("an agent's isolation facts are stored at registration and replaced at each session (the newest check wins); an agent that says none runs at none", async () => {
      const store = await fresh();
      const old = await agentOf(store, undefined);
      assert.deepEqual(old.isolation, NO_ISOLATION);
      const facts = { name: 'sb', tags: [], concurrency: 2, version: 't', platform: {}, isolation: SANDBOX };
      const agent = await store.fleet.registerAgent(facts, 'sb-hash', at);
      assert.deepEqual(agent.isolation, SANDBOX);
      const later = { ...FAILED, check: checkOf(false, '2025-02-01T00:00:00.000Z') };
      await store.fleet.openSession(agent.id, 'sb-1', { ...facts, isolation: later }, at + 5, SETTINGS);
      assert.deepEqual((await store.fleet.findAgentByTokenHash('sb-hash'))!.isolation, later);
      const listed = (await store.fleet.listAgents(at + 6, SETTINGS.leaseMs)).find((a) => a.id === agent.id)!;
      assert.deepEqual(listed.isolation, later);
      // A session without isolation facts (the agent was downgraded) is `none` again, not the old check.
      await store.fleet.openSession(agent.id, 'sb-2', { name: 'sb', tags: [], concurrency: 2, version: 't', platform: {} }, at + 7, SETTINGS);
      assert.deepEqual((await store.fleet.findAgentByTokenHash('sb-hash'))!.isolation, NO_ISOLATION);
    });

    it("a project's isolation settings start open and change with updateProject, the rest left as it is", async () => {
      const store = await fresh();
      const p = await store.ensureProject('demo', '/d', 1);
      assert.deepEqual(p.isolation, { requireSandbox: false, network: 'full', forkNetwork: 'full', jobLimits: { memoryBytes: null, pids: null, cpus: null } });
      const q = await store.updateProject(p.id, { requireSandbox: true, forkNetwork: 'none', jobLimits: { memoryBytes: 2 ** 30, pids: null, cpus: 1.5 } });
      assert.deepEqual(q, { ...p, isolation: { requireSandbox: true, network: 'full', forkNetwork: 'none', jobLimits: { memoryBytes: 2 ** 30, pids: null, cpus: 1.5 } } });
      const r = await store.updateProject(p.id, { network: 'none', jobLimits: { memoryBytes: null, pids: null, cpus: null } });
      assert.deepEqual(r!.isolation, { requireSandbox: true, network: 'none', forkNetwork: 'none', jobLimits: { memoryBytes: null, pids: null, cpus: null } });
      assert.deepEqual(await store.getProject(p.id), r);
    });

    it("an untrusted pipeline's job is offered only to a sandboxed agent whose check passed", async () => {
      const store = await fresh();
      await queued(store, 'web', [compiledJob('fork-build', 0)], false);
      for (const isolation of [undefined, { ...SANDBOX, isolation: 'none' as const }, { ...SANDBOX, check: null }, FAILED]) {
        assert.deepEqual(await take(store, await agentOf(store, isolation)), [], JSON.stringify(isolation ?? 'no facts'));
      }
      const [offer] = await store.fleet.takeAttempts(await agentOf(store, SANDBOX), 1, at + 1, SETTINGS, ['sb-tok']);
      assert.equal(offer?.job.name, 'fork-build');
      assert.equal(offer.pipeline.trusted, false);
    });

    it('a project that requires the sandbox: its jobs, queued before the setting changed, go only to a sandboxed agent whose check passed', async () => {
      const store = await fresh();
      const project = await queued(store, 'strict', [compiledJob('a', 0), compiledJob('b', 0)]);
      await queued(store, 'loose', [compiledJob('c', 0)]);
      // Evaluated at the take, from the project as it is now.
      await store.updateProject(project.id, { requireSandbox: true });
      assert.deepEqual(await take(store, await agentOf(store, undefined)), ['c']);
      assert.deepEqual(await take(store, await agentOf(store, FAILED)), []);
      assert.deepEqual(await take(store, await agentOf(store, SANDBOX)), ['a', 'b']);
    });

    it("network none needs the sandbox: the project's network for trusted pipelines, forkNetwork for forks", async () => {
      const store = await fresh();
      const project = await queued(store, 'offline', [compiledJob('trusted-job', 0)]);
      await queued(store, 'offline', [compiledJob('fork-job', 0)], false);
      await store.updateProject(project.id, { network: 'none' });
      const plain = await agentOf(store, undefined);
      assert.deepEqual(await take(store, plain), []);
      // forkNetwork none alone leaves the trusted pipelines' jobs to any agent.
      await store.updateProject(project.id, { network: 'full', forkNetwork: 'none' });
      assert.deepEqual(await take(store, plain), ['trusted-job']);
      assert.deepEqual(await take(store, await agentOf(store, SANDBOX)), ['fork-job']);
    });

    it('a sandbox agent whose check failed gets no untrusted job but still gets trusted ones', async () => {
      const store = await fresh();
      await queued(store, 'web', [compiledJob('fork-a', 0), compiledJob('fork-b', 0)], false);
      await queued(store, 'web', [compiledJob('own', 0)]);
      assert.deepEqual(await take(store, await agentOf(store, FAILED)), ['own']);
      assert.deepEqual(await take(store, await agentOf(store, SANDBOX)), ['fork-a', 'fork-b']);
    });

    it("attempts the agent may not take do not hold back the project's others that it may, however many come first", async () => {
      const store = await fresh();
      // More untrusted attempts, of higher priority, than a take locks as candidates.
      await queued(store, 'busy', Array.from({ length: 40 }, (_, i) => compiledJob(`fork-${i}`, 0, { priority: 10 })), false);
      await queued(store, 'busy', [compiledJob('own-1', 0), compiledJob('own-2', 0)]);
      assert.deepEqual(await take(store, await agentOf(store, undefined), 2), ['own-1', 'own-2']);
    });

    it('the queue says a job waits for a sandboxed agent, and why it needs one: none online, or all busy', async () => {
      const store = await fresh();
      const project = await queued(store, 'web', [compiledJob('fork-job', 0, { tags: ['linux'] })], false);
      await queued(store, 'web', [compiledJob('own', 0, { tags: ['linux'] })]);
      const reasons = async (when = at + 1) => Object.fromEntries((await store.fleet.explainQueue(when, SETTINGS, project.id, 100)).map((e) => [e.jobName, e.reason]));
      assert.deepEqual(await reasons(), { 'fork-job': { code: 'no_agent', tags: ['linux'] }, own: { code: 'no_agent', tags: ['linux'] } });

      const withTags = async (isolation: AgentIsolationFacts | undefined, concurrency = 1) => {
        const n = ++agents;
        const facts = { name: `tagged-${n}`, tags: ['linux'], concurrency, version: 't', platform: {}, ...(isolation ? { isolation } : {}) };
        const agent = await store.fleet.registerAgent(facts, `tagged-${n}`, at);
        await store.fleet.openSession(agent.id, `ts-${n}`, facts, at, SETTINGS);
        return (await store.fleet.findAgentByTokenHash(`tagged-${n}`))!;
      };
      await withTags(FAILED);
      assert.deepEqual(await reasons(), { 'fork-job': { code: 'no_sandbox_agent', requirement: 'untrusted', tags: ['linux'] }, own: { code: 'ready' } });
      await store.updateProject(project.id, { requireSandbox: true });
      assert.deepEqual((await reasons()).own, { code: 'no_sandbox_agent', requirement: 'project', tags: ['linux'] });
      await store.updateProject(project.id, { requireSandbox: false, network: 'none' });
      assert.deepEqual((await reasons()).own, { code: 'no_sandbox_agent', requirement: 'network', tags: ['linux'] });
      await store.updateProject(project.id, { network: 'full' });

      // A sandboxed agent comes, and its one slot goes to the fork's job: the next waits for it to be free.
      const sandboxed = await withTags(SANDBOX);
      assert.deepEqual((await reasons()).own, { code: 'ready' });
      assert.deepEqual((await reasons())['fork-job'], { code: 'ready' });
      const [offer] = await store.fleet.takeAttempts(sandboxed, 1, at + 2, SETTINGS, ['q-tok']);
      assert.equal(offer?.job.name, 'fork-job');
      await queued(store, 'web', [compiledJob('fork-two', 0, { tags: ['linux'] })], false);
      assert.deepEqual((await reasons(at + 3))['fork-two'], { code: 'sandbox_agents_busy', requirement: 'untrusted', agents: 1 });
    });
  });
}
