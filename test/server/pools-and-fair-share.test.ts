// Pools (PUT and GET /pools) and a project's fair share settings (PATCH /projects/:project
// weight, urgentJobs) through the HTTP API of a real in-process server (SQLite) over loopback;
// agents register over the agent protocol. The take's use of them is the store's contract
// (test/store/fair-share-contract.ts).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { hashToken } from '../../src/server/tokens.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';

interface PoolView {
  name: string;
  costFactor: number;
  agents: { id: number; name: string; status: string }[];
  updatedAt: string | null;
}

describe('pools and fair share settings over HTTP', () => {
  let h: Harness;
  let repo: Sandbox;
  /** A project token of `web`: a maintainer of it. */
  let maintainer: Record<string, string>;
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    repo = sandbox({ '.gantry.yml': 'build:\n  script: [echo hi]\n' });
    assert.equal((await h.api('POST', '/projects', { name: 'web', gitUrl: repo.repo })).status, 201);
    const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
    await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: (await h.store.getProject('web'))!.id, createdAt: 1 });
    maintainer = { authorization: `Bearer ${token}` };
  });
  after(async () => {
    await h.close();
    repo.cleanup();
  });

  const error = async (res: Response) => ((await res.json()) as { error: { code: string; field?: string } }).error;
  const register = (facts: Record<string, unknown>) =>
    fetch(`${h.url}/api/v1/agent/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.agent}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: [], concurrency: 1, version: 't', protocol: 1, ...facts }),
    });

  it('an agent registers in the pool it names, or in default; a pool name that breaks the rule is refused', async () => {
    assert.equal((await register({ name: 'gpu-box', pool: 'gpu' })).status, 201);
    assert.equal((await register({ name: 'old-box' })).status, 201);
    const bad = await register({ name: 'bad-box', pool: 'GPU Pool' });
    assert.equal(bad.status, 400);
    assert.deepEqual(await error(bad).then((e) => [e.code, e.field]), ['GANTRY_E_INVALID_REQUEST', 'body.pool']);
    const agents = ((await (await h.api('GET', '/agents')).json()) as { items: { name: string; pool: string }[] }).items;
    assert.deepEqual(agents.map((a) => [a.name, a.pool]), [['gpu-box', 'gpu'], ['old-box', 'default']]);
  });

  it('PUT /pools/:pool prices a pool (admin only), GET /pools lists priced pools and those agents name (unpriced: 1), and the price is audited', async () => {
    const refused = await h.api('PUT', '/pools/gpu', { costFactor: 4 }, maintainer);
    assert.equal(refused.status, 403);
    assert.equal((await error(refused)).code, 'GANTRY_E_FORBIDDEN');
    const priced = await h.api('PUT', '/pools/gpu', { costFactor: 2.5 });
    assert.equal(priced.status, 200);
    const gpu = (await priced.json()) as PoolView;
    assert.deepEqual({ ...gpu, updatedAt: null }, { name: 'gpu', costFactor: 2.5, agents: [{ id: gpu.agents[0]!.id, name: 'gpu-box', status: 'offline' }], updatedAt: null });
    assert.ok(!Number.isNaN(Date.parse(gpu.updatedAt!)));
    // A pool no agent is in yet may be priced ahead; 0 is free.
    assert.equal((await h.api('PUT', '/pools/spot', { costFactor: 0 })).status, 200);
    // Anyone who may see the agents sees the pools.
    const listed = (await (await h.api('GET', '/pools', undefined, maintainer)).json()) as { items: PoolView[] };
    assert.deepEqual(
      listed.items.map((p) => [p.name, p.costFactor, p.agents.map((a) => a.name), p.updatedAt === null]),
      [['default', 1, ['old-box'], true], ['gpu', 2.5, ['gpu-box'], false], ['spot', 0, [], false]],
    );
    assert.equal((await fetch(`${h.url}/api/v1/pools`)).status, 401);
    const audit = (await (await h.api('GET', '/audit?limit=5')).json()) as { items: { action: string; target: { type: string; id: string }; details: unknown }[] };
    assert.deepEqual(audit.items.filter((e) => e.action === 'pool.set').map((e) => [e.target.id, e.details]), [['spot', { costFactor: 0 }], ['gpu', { costFactor: 2.5 }]]);
  });

  it('a cost factor below 0, above 1000, with more than 3 decimals or not a number, or a bad pool name, is 400 with its field', async () => {
    for (const [p, body, field] of [
      ['/pools/gpu', { costFactor: -1 }, 'body.costFactor'],
      ['/pools/gpu', { costFactor: 1000.5 }, 'body.costFactor'],
      ['/pools/gpu', { costFactor: 1.0005 }, 'body.costFactor'],
      ['/pools/gpu', { costFactor: 'cheap' }, 'body.costFactor'],
      ['/pools/gpu', {}, 'body.costFactor'],
      ['/pools/gpu', { costFactor: 1, colour: 'red' }, 'body.colour'],
      ['/pools/Not_A_Pool', { costFactor: 1 }, 'params.pool'],
    ] as const) {
      const r = await h.api('PUT', p, body);
      assert.equal(r.status, 400, `${p} ${JSON.stringify(body)}`);
      assert.deepEqual(await error(r).then((e) => [e.code, e.field]), ['GANTRY_E_INVALID_REQUEST', field], JSON.stringify(body));
    }
    // Three decimals are kept exactly (1.1 is not a binary fraction).
    assert.equal(((await (await h.api('PUT', '/pools/gpu', { costFactor: 1.1 })).json()) as PoolView).costFactor, 1.1);
    assert.equal(((await (await h.api('PUT', '/pools/gpu', { costFactor: 0.125 })).json()) as PoolView).costFactor, 0.125);
  });

  it("PATCH /projects/:project: a maintainer may not change the weight (403), an admin may; urgentJobs are a maintainer's; both show in the project", async () => {
    const refused = await h.api('PATCH', '/projects/web', { weight: 3 }, maintainer);
    assert.equal(refused.status, 403);
    assert.equal((await error(refused)).code, 'GANTRY_E_FORBIDDEN');
    assert.equal((await h.store.getProject('web'))!.fairShare.weight, 1, 'nothing changed');
    const weighted = await h.api('PATCH', '/projects/web', { weight: 3 });
    assert.equal(weighted.status, 200);
    assert.equal(((await weighted.json()) as { weight: number }).weight, 3);
    const urgent = await h.api('PATCH', '/projects/web', { urgentJobs: ['deploy*', 'release: [eu]'] }, maintainer);
    assert.equal(urgent.status, 200);
    const shown = (await (await h.api('GET', '/projects/web', undefined, maintainer)).json()) as { weight: number; urgentJobs: string[] };
    assert.deepEqual([shown.weight, shown.urgentJobs], [3, ['deploy*', 'release: [eu]']]);
    const audit = (await (await h.api('GET', '/projects/web/audit?limit=2')).json()) as { items: { action: string; details: unknown }[] };
    assert.deepEqual(audit.items.map((e) => [e.action, e.details]), [['project.update', { urgentJobs: ['deploy*', 'release: [eu]'] }], ['project.update', { weight: 3 }]]);
  });

  it('a weight out of 1..1000 or not an integer, and urgentJobs beyond 50 globs, empty, too long, with a control character or not a list, are 400 with their field', async () => {
    for (const [body, field] of [
      [{ weight: 0 }, 'body.weight'],
      [{ weight: 1001 }, 'body.weight'],
      [{ weight: 1.5 }, 'body.weight'],
      [{ urgentJobs: Array.from({ length: 51 }, (_, i) => `j${i}`) }, 'body.urgentJobs'],
      [{ urgentJobs: [''] }, 'body.urgentJobs.0'],
      [{ urgentJobs: ['x'.repeat(256)] }, 'body.urgentJobs.0'],
      [{ urgentJobs: ['ok', 'bad\nline'] }, 'body.urgentJobs.1'],
      [{ urgentJobs: 'deploy*' }, 'body.urgentJobs'],
    ] as const) {
      const r = await h.api('PATCH', '/projects/web', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(await error(r).then((e) => [e.code, e.field]), ['GANTRY_E_INVALID_REQUEST', field], JSON.stringify(body));
    }
    // Fifty is allowed, and an empty list clears them.
    assert.equal((await h.api('PATCH', '/projects/web', { urgentJobs: Array.from({ length: 50 }, (_, i) => `j${i}`) }, maintainer)).status, 200);
    assert.deepEqual(((await (await h.api('PATCH', '/projects/web', { urgentJobs: [] })).json()) as { urgentJobs: string[] }).urgentJobs, []);
  });
});
