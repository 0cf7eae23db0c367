// The queue (why each pending job waits) and a project's settings (PATCH /projects/:project)
// through the HTTP API of a real in-process server (SQLite) over loopback, with a real git
// repository. The store contract runs the queue's rules on SQLite and PostgreSQL.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { hashToken } from '../../src/server/tokens.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';

const PIPELINE = `gpu:
  tags: [gpu]
  script: [nvidia-smi]
plain:
  script: [echo hi]
`;

describe('the queue and project settings over HTTP', () => {
  let h: Harness;
  let repo: Sandbox;
  let scoped: Record<string, string>;
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    repo = sandbox({ '.gantry.yml': PIPELINE });
    for (const name of ['web', 'other']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
    const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
    const web = (await h.store.getProject('web'))!;
    await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: web.id, createdAt: 1 });
    scoped = { authorization: `Bearer ${token}` };
  });
  after(async () => {
    await h.close();
    repo.cleanup();
  });

  const error = async (res: Response) => ((await res.json()) as { error: { code: string; field?: string } }).error;

  it('PATCH /projects/:project sets limits and auto-cancel, lifts a limit with null, and validates', async () => {
    const res = await h.api('PATCH', '/projects/web', { maxRunning: 4, maxRunningPerPipeline: 2, autoCancel: false });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual([body.maxRunning, body.maxRunningPerPipeline, body.autoCancel], [4, 2, false]);
    const lifted = (await (await h.api('PATCH', '/projects/web', { maxRunning: null }, scoped)).json()) as Record<string, unknown>;
    assert.deepEqual([lifted.maxRunning, lifted.maxRunningPerPipeline, lifted.autoCancel], [null, 2, false]);
    assert.deepEqual(await (await h.api('GET', '/projects/web')).json(), lifted);
    assert.equal((await h.store.getProject('web'))!.limits.maxRunningPerPipeline, 2);

    for (const [bad, field] of [[{ maxRunning: 0 }, 'body.maxRunning'], [{ autoCancel: 'yes' }, 'body.autoCancel'], [{ colour: 'red' }, 'body.colour'], [{}, 'body']] as const) {
      const r = await h.api('PATCH', '/projects/web', bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      const e = await error(r);
      assert.equal(e.code, 'GANTRY_E_INVALID_REQUEST');
      assert.equal(e.field, field);
    }
    // The git URL may be a path on the server: an admin's to set.
    const url = await h.api('PATCH', '/projects/web', { gitUrl: '/etc' }, scoped);
    assert.equal(url.status, 403);
    assert.equal((await error(url)).code, 'GANTRY_E_FORBIDDEN');
    // Another project does not exist for a project's token.
    assert.equal((await h.api('PATCH', '/projects/other', { autoCancel: true }, scoped)).status, 404);
    assert.equal((await h.api('PATCH', '/projects/nope', { autoCancel: true })).status, 404);
    const moved = (await (await h.api('PATCH', '/projects/web', { gitUrl: repo.repo, maxRunningPerPipeline: null, autoCancel: true })).json()) as Record<string, unknown>;
    assert.deepEqual([moved.gitUrl, moved.maxRunningPerPipeline, moved.autoCancel], [repo.repo, null, true]);
  });

  it('GET /queue says why each pending job waits: no online agent has its tags', async () => {
    for (const project of ['web', 'other']) assert.equal((await h.api('POST', `/projects/${project}/pipelines`, { ref: 'main' })).status, 201);
    type Entry = { jobName: string; project: string; tags: string[]; queuedAt: string; reason: { code: string; tags?: string[] } };
    const all = (await (await h.api('GET', '/queue')).json()) as { items: Entry[] };
    assert.deepEqual(all.items.map((e) => `${e.project} ${e.jobName}`), ['web gpu', 'web plain', 'other gpu', 'other plain']);
    assert.deepEqual(all.items[0]!.reason, { code: 'no_agent', tags: ['gpu'] });
    assert.deepEqual(all.items[1]!.reason, { code: 'no_agent', tags: [] });
    assert.ok(!Number.isNaN(Date.parse(all.items[0]!.queuedAt)));
    // A project's token sees its own; ?project narrows; the limit caps.
    const mine = (await (await h.api('GET', '/queue', undefined, scoped)).json()) as { items: Entry[] };
    assert.deepEqual(mine.items.map((e) => e.project), ['web', 'web']);
    const other = (await (await h.api('GET', '/queue?project=other')).json()) as { items: Entry[] };
    assert.deepEqual(other.items.map((e) => e.project), ['other', 'other']);
    assert.equal(((await (await h.api('GET', '/queue?limit=1')).json()) as { items: Entry[] }).items.length, 1);
    assert.equal((await h.api('GET', '/queue?project=other', undefined, scoped)).status, 404);
    assert.equal((await h.api('GET', '/queue?project=nope')).status, 404);
    const bad = await h.api('GET', '/queue?limit=0');
    assert.equal(bad.status, 400);
    assert.equal((await error(bad)).code, 'GANTRY_E_INVALID_REQUEST');
    assert.equal((await fetch(`${h.url}/api/v1/queue`)).status, 401);
  });
});
