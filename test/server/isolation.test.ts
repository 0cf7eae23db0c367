// Job isolation through the HTTP API of a real in-process server: agents report their level,
// limits and check at registration and each session (PROTOCOL.md §4), GET /agents shows them, a
// project's isolation settings are PATCHed and validated, the long poll offers a job that needs
// the sandbox only to a sandbox-ready agent, the offer carries the job's isolation, and GET /queue
// says why such a job waits. SQLite and PostgreSQL (required under CI=true).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '../../src/domain/version.js';
import type { IsolationCheck } from '../../src/domain/isolation.js';
import { hashToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';

const PIPELINE = 'build:\n  script: [echo build]\n';

const CHECK: IsolationCheck = {
  passed: true,
  checkedAt: '2025-03-04T05:06:07.000Z',
  probes: [
    { area: 'files', probe: "read the agent's identity file", expected: 'denied', observed: 'denied: No such file or directory', ok: true },
    { area: 'limits', probe: 'fork 10000 processes', expected: 'stopped at the pids limit', observed: 'stopped at 512', ok: true },
  ],
};
const SANDBOX_FACTS = { isolation: 'sandbox', limits: { memoryBytes: 4 * 2 ** 30, pids: 512, cpus: 2 }, isolationCheck: CHECK };

function isolationSuite(label: string, openStore: (home: string) => Promise<Store>): void {
  describe(`job isolation over HTTP (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    before(async () => {
      h = await startHarness(openStore);
      repo = sandbox({ '.gantry.yml': PIPELINE });
      for (const name of ['web', 'other']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const send = (p: string, token: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${h.url}/api/v1${p}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const error = async (res: Response) => ((await res.json()) as { error: { code: string; field?: string } }).error;

    /** An agent registered and in session over the protocol, saying `facts` of its isolation. */
    async function agent(name: string, facts: Record<string, unknown>) {
      const body = { name, tags: [], concurrency: 2, version: 't', protocol: PROTOCOL_VERSION, ...facts };
      const reg = await send('/agent/register', h.agent, body);
      assert.equal(reg.status, 201, await reg.clone().text());
      const { agentId, token } = (await reg.json()) as { agentId: number; token: string };
      const ses = await send('/agent/sessions', token, body);
      assert.equal(ses.status, 201);
      const { sessionId } = (await ses.json()) as { sessionId: string };
      return {
        id: agentId,
        /** One long poll: the offers, or [] for a 204. */
        async poll(): Promise<Record<string, unknown>[]> {
          const r = await send('/agent/jobs/request', token, { slots: 2, waitMs: 0 }, { 'gantry-session': sessionId });
          if (r.status === 204) return [];
          assert.equal(r.status, 200);
          return ((await r.json()) as { offers: Record<string, unknown>[] }).offers;
        },
        session: (more: Record<string, unknown>) => send('/agent/sessions', token, { ...body, ...more }),
        /** The check run after the session opened (POST /agent/isolation-check). */
        reportCheck: (check: unknown, session = sessionId) => send('/agent/isolation-check', token, { isolationCheck: check }, { 'gantry-session': session }),
      };
    }
    type AgentJson = { name: string; isolation: string; limits: unknown; isolationCheck: IsolationCheck | null; sandboxReady: boolean };
    const listed = async (name: string) => ((await (await h.api('GET', '/agents')).json()) as { items: AgentJson[] }).items.find((a) => a.name === name)!;

    it('GET /agents shows what each agent reported: its level, limits, whole last check, and whether it is sandbox-ready; an older agent is none', async () => {
      const sb = await agent('sb', SANDBOX_FACTS);
      await agent('old', {});
      assert.deepEqual(await listed('sb'), { ...(await listed('sb')), isolation: 'sandbox', limits: SANDBOX_FACTS.limits, isolationCheck: CHECK, sandboxReady: true });
      const old = await listed('old');
      assert.deepEqual([old.isolation, old.limits, old.isolationCheck, old.sandboxReady], ['none', { memoryBytes: null, pids: null, cpus: null }, null, false]);
      // The newest check wins, at the next session.
      const failed = { ...CHECK, passed: false, probes: [{ ...CHECK.probes[0]!, observed: 'read 64 bytes', ok: false }] };
      assert.equal((await sb.session({ isolationCheck: failed })).status, 201);
      const now = await listed('sb');
      assert.deepEqual([now.isolationCheck, now.sandboxReady], [failed, false]);
    });

    it('a check sent after the session opened is stored and makes the agent sandbox-ready; one from a replaced session is refused', async () => {
      const late = await agent('late', { ...SANDBOX_FACTS, isolationCheck: null });
      assert.equal((await listed('late')).sandboxReady, false, 'no check yet: no untrusted work');
      assert.equal((await late.reportCheck(CHECK)).status, 204);
      assert.deepEqual([(await listed('late')).isolationCheck, (await listed('late')).sandboxReady], [CHECK, true]);
      const bad = await late.reportCheck({ ...CHECK, probes: [{ ...CHECK.probes[0]!, area: 'kernel' }] });
      assert.deepEqual([bad.status, (await error(bad)).field], [400, 'body.isolationCheck.probes.0.area']);
      assert.equal((await late.session({})).status, 201);
      const stale = await late.reportCheck(CHECK);
      assert.deepEqual([stale.status, (await error(stale)).code], [409, 'GANTRY_E_SESSION_REPLACED']);
    });

    it('register and session facts are validated: at most 64 probes, strings of at most 300 characters, known areas and levels', async () => {
      const base = { name: 'bad', tags: [], concurrency: 1, version: 't', protocol: PROTOCOL_VERSION };
      const probe = CHECK.probes[0]!;
      for (const [facts, field] of [
        [{ isolation: 'vm' }, 'body.isolation'],
        [{ isolationCheck: { ...CHECK, probes: Array.from({ length: 65 }, () => probe) } }, 'body.isolationCheck.probes'],
        [{ isolationCheck: { ...CHECK, probes: [{ ...probe, observed: 'x'.repeat(301) }] } }, 'body.isolationCheck.probes.0.observed'],
        [{ isolationCheck: { ...CHECK, probes: [{ ...probe, area: 'kernel' }] } }, 'body.isolationCheck.probes.0.area'],
        [{ isolationCheck: { passed: true, probes: [] } }, 'body.isolationCheck.checkedAt'],
        [{ limits: { memoryBytes: -1 } }, 'body.limits.memoryBytes'],
      ] as const) {
        const r = await send('/agent/register', h.agent, { ...base, ...facts });
        assert.equal(r.status, 400, JSON.stringify(facts).slice(0, 100));
        const e = await error(r);
        assert.deepEqual([e.code, e.field], ['GANTRY_E_INVALID_REQUEST', field]);
      }
      assert.equal((await send('/agent/register', h.agent, { ...base, isolationCheck: { ...CHECK, probes: Array.from({ length: 64 }, () => probe) } })).status, 201);
    });

    it("PATCH /projects/:project sets the isolation settings, which the project JSON shows; limits are validated; a project's token may change them", async () => {
      const fresh = (await (await h.api('GET', '/projects/other')).json()) as Record<string, unknown>;
      assert.deepEqual([fresh.requireSandbox, fresh.network, fresh.forkNetwork, fresh.jobLimits], [false, 'full', 'full', { memoryBytes: null, pids: null, cpus: null }]);
      const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
      const other = (await h.store.getProject('other'))!;
      await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: other.id, createdAt: 1 });
      const res = await h.api('PATCH', '/projects/other', { requireSandbox: true, forkNetwork: 'none', jobLimits: { memoryBytes: 16 * 2 ** 20, cpus: 0.5 } }, { authorization: `Bearer ${token}` });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.deepEqual([body.requireSandbox, body.network, body.forkNetwork, body.jobLimits], [true, 'full', 'none', { memoryBytes: 16 * 2 ** 20, pids: null, cpus: 0.5 }]);
      assert.deepEqual(await (await h.api('GET', '/projects/other')).json(), body);
      for (const [bad, field] of [
        [{ jobLimits: { memoryBytes: 16 * 2 ** 20 - 1 } }, 'body.jobLimits.memoryBytes'],
        [{ jobLimits: { pids: 15 } }, 'body.jobLimits.pids'],
        [{ jobLimits: { cpus: 0 } }, 'body.jobLimits.cpus'],
        [{ jobLimits: { cpus: 1025 } }, 'body.jobLimits.cpus'],
        [{ jobLimits: { memoryBytes: 1.5e9 + 0.5 } }, 'body.jobLimits.memoryBytes'],
        [{ jobLimits: { disk: 1 } }, 'body.jobLimits.disk'],
        [{ network: 'partial' }, 'body.network'],
        [{ forkNetwork: null }, 'body.forkNetwork'],
        [{ requireSandbox: 'maybe' }, 'body.requireSandbox'],
      ] as const) {
        const r = await h.api('PATCH', '/projects/other', bad);
        assert.equal(r.status, 400, JSON.stringify(bad));
        const e = await error(r);
        assert.deepEqual([e.code, e.field], ['GANTRY_E_INVALID_REQUEST', field]);
      }
      const reset = await h.api('PATCH', '/projects/other', { requireSandbox: false, forkNetwork: 'full', jobLimits: { memoryBytes: null, pids: null, cpus: null } });
      assert.equal(reset.status, 200);
    });

    it('a job of a project that requires the sandbox is offered only to a sandbox-ready agent, with its isolation; the queue says why it waits', async () => {
      await h.api('PATCH', '/projects/web', { requireSandbox: true, network: 'none', jobLimits: { memoryBytes: 2 ** 30, pids: 256, cpus: null } });
      const created = await h.api('POST', '/projects/web/pipelines', { ref: 'main' });
      assert.equal(created.status, 201);
      type Entry = { jobName: string; reason: { code: string; requirement?: string } };
      const queue = async () => ((await (await h.api('GET', '/queue?project=web')).json()) as { items: Entry[] }).items;
      const plain = await agent('plain', {});
      assert.deepEqual(await plain.poll(), []);
      const failed = await agent('failed', { ...SANDBOX_FACTS, isolationCheck: { ...CHECK, passed: false } });
      assert.deepEqual(await failed.poll(), []);
      const [waiting] = await queue();
      // The sandbox agent of the first test went on to fail its check; no other is ready.
      assert.deepEqual(waiting!.reason, { code: 'no_sandbox_agent', requirement: 'project', tags: [] });
      const ready = await agent('ready', SANDBOX_FACTS);
      const [offer] = await ready.poll();
      assert.deepEqual(offer!.isolation, { network: 'none', limits: { memoryBytes: 2 ** 30, pids: 256, cpus: null }, trusted: true });
      assert.deepEqual((await queue())[0]!.reason.code, 'offered');
    });
  });
}

isolationSuite('SQLite', (home) => openSqliteStore(`${home}/gantry.db`));
const postgres = await testPostgres('job isolation over HTTP on PostgreSQL', 2);
if (postgres) isolationSuite('PostgreSQL', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema() }));
