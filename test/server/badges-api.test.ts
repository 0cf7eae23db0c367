// Badges over HTTP, on SQLite (and PostgreSQL when reachable, required under CI=true), tested as an
// attacker probes them: a private project's badge without a token answers exactly as a project that
// does not exist; a token of another project gets the same; markup never reaches the SVG. Once the
// project allows it, a README shows the ref's status and coverage without a token.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { badgeSvg } from '../../src/server/badges/badge-svg.js';
import { defaultSchedulerSettings } from '../../src/server/app.js';
import { hashToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';
import { ProtocolAgent } from './protocol-agent.js';

function badgeSuite(label: string, openStore: (home: string) => Promise<Store>): void {
  describe(`badges over HTTP (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let otherProjectToken: Record<string, string>;
    before(async () => {
      h = await startHarness(openStore, { deps: { settings: defaultSchedulerSettings({ leaseMs: 60_000 }) } });
      repo = sandbox({ '.gantry.yml': "unit:\n  script: [echo]\n  coverage: '/Lines: (\\d+\\.\\d+)%/'\n" });
      for (const name of ['app', 'other']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
      const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
      await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: (await h.store.getProject('other'))!.id, createdAt: 1 });
      otherProjectToken = { authorization: `Bearer ${token}` };
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const get = (p: string, headers?: Record<string, string>) => fetch(`${h.url}/api/v1${p}`, { headers });

    it("a private project's badges: 404 without a token and with another project's, the same answer as no project at all; a viewer sees them", async () => {
      for (const kind of ['pipeline', 'coverage']) {
        const none = await get(`/projects/app/badges/${kind}.svg`);
        const absent = await get(`/projects/absent/badges/${kind}.svg`);
        assert.deepEqual([none.status, absent.status], [404, 404]);
        const [a, b] = [(await none.json()) as { error: { code: string; message: string } }, (await absent.json()) as { error: { code: string; message: string } }];
        assert.equal(a.error.code, b.error.code);
        assert.equal(a.error.message.replace('app', 'X'), b.error.message.replace('absent', 'X'));
        assert.equal((await get(`/projects/app/badges/${kind}.svg`, otherProjectToken)).status, 404);
        assert.equal((await get(`/projects/app/badges/${kind}.svg`, { authorization: 'Bearer gantry_api_forged' })).status, 401);
      }
      const mine = await get('/projects/app/badges/pipeline.svg', { authorization: `Bearer ${h.admin}` });
      assert.equal(mine.status, 200);
      assert.match(mine.headers.get('content-type') ?? '', /^image\/svg\+xml/);
      assert.match(await mine.text(), /<title>pipeline: unknown<\/title>/);
    });

    it('public badges: the status of the ref\'s latest pipeline and the coverage of its latest successful one, without a token, never cached', async () => {
      assert.equal((await h.api('PATCH', '/projects/app', { publicBadges: true })).status, 200);
      const p = (await (await h.api('POST', '/projects/app/pipelines', { ref: 'main' })).json()) as { id: number };
      const pending = await get('/projects/app/badges/pipeline.svg?ref=main');
      assert.equal(pending.status, 200);
      assert.equal(pending.headers.get('cache-control'), 'no-cache, max-age=0');
      assert.match(await pending.text(), /<title>pipeline: (pending|running)<\/title>/);
      assert.match(await (await get('/projects/app/badges/pipeline.svg?ref=other-branch')).text(), /pipeline: unknown/);
      // The job runs through the agent protocol and reports its coverage.
      const agent = new ProtocolAgent(h.url, h.agent);
      const [offer] = await agent.take(1);
      // An agent cannot put a badge past 100% (or below 0): the server checks what it is told.
      for (const forged of [150, -1, 'lots']) {
        const refused = await agent.call('POST', `/attempts/${offer!.attemptId}/complete`, {
          json: { status: 'success', exitCode: 0, failureReason: null, logEnd: 0, coverage: forged },
          attemptToken: offer!.attemptToken,
        });
        assert.equal(refused.status, 400, `coverage ${forged}`);
      }
      await agent.finish(offer!, 'success', { coverage: 87.5 });
      assert.equal(((await (await h.api('GET', `/pipelines/${p.id}`)).json()) as { status: string }).status, 'success');
      assert.match(await (await get('/projects/app/badges/pipeline.svg?ref=main')).text(), /<title>pipeline: passed<\/title>/);
      assert.match(await (await get('/projects/app/badges/coverage.svg?ref=main')).text(), /<title>coverage: 87\.50%<\/title>/);
      // The other project stays private.
      assert.equal((await get('/projects/other/badges/coverage.svg')).status, 404);
    });

    it('markup never reaches the SVG', () => {
      const svg = badgeSvg('<script>alert(1)</script>', '"&\'<>', 'bad');
      assert.doesNotMatch(svg, /<script>|"&'<>/);
      assert.match(svg, /&#60;script&#62;/);
    });
  });
}

badgeSuite('sqlite', async (home) => openSqliteStore(`${home}/gantry.db`));
const postgres = await testPostgres('badges over HTTP on PostgreSQL');
if (postgres) badgeSuite('postgres', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema(), maxConnections: 4 }));
