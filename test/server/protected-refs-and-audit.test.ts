// Protected refs and variables, and the audit log, end to end: a real `gantry server` and a real
// `gantry agent` on loopback (SQLite and PostgreSQL). A protected variable reaches the jobs of a
// protected ref's pipelines (an API trigger by a maintainer, a signed webhook push) and never
// those of another ref; CI_COMMIT_REF_PROTECTED says which; a developer is refused (403
// GANTRY_E_PROTECTED_REF) to start, retry, play or report a push on a protected ref and allowed
// everywhere else, and may still cancel. The audit log records every change with its actor and
// target, never a secret, pages, and shows a project's entries to its maintainers only.
// In-process (a server built by the test, with its clock in the test's hands): sign-ins in the
// audit log, and old entries pruned.
//
// The glob rule is GitLab's protected branch wildcard: `*` matches any run of characters, `/`
// included, and nothing else is special (src/domain/protected-refs.ts).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isProtectedRef, protectedGlobMatches } from '../../src/domain/protected-refs.js';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';
import { gitUrlForAudit } from '../../src/server/audit.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { Store } from '../../src/store/store.js';
import { ROOT, sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { Fleet, type PipelineView } from '../fleet/fleet-harness.js';
import { startHarness } from './harness.js';
import { defaultSchedulerSettings } from '../../src/server/app.js';

const SECRET = 'deploy-key-Zq8xv3-protected';
const PASSWORD = 'a-password-long-enough';
const sha16 = (s: string) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 16);

// The job prints a hash of the protected variable, never the variable (masked as well, in case).
const PIPELINE = `job:
  script:
    - echo "protected=$CI_COMMIT_REF_PROTECTED"
    - echo "secret=$(printf %s "$DEPLOY_KEY" | sha256sum | cut -c1-16)"
    - echo "plain=\${PLAIN:-unset}"
deploy:
  when: manual
  script: [echo deploying]
`;

interface AuditItem {
  id: number;
  at: string;
  action: string;
  actor: { kind: string; username?: string; via?: string; tokenId?: number; userId?: number };
  target: { type: string; id: string | null };
  projectId: number | null;
  address: string | null;
  details: Record<string, unknown> | null;
}

describe('protected globs follow GitLab: `*` is any run of characters, `/` included; nothing else is special', () => {
  it('matches names and wildcards as GitLab does', () => {
    assert.equal(protectedGlobMatches('main', 'main'), true);
    assert.equal(protectedGlobMatches('main', 'main2'), false);
    assert.equal(protectedGlobMatches('release/*', 'release/1.0'), true);
    assert.equal(protectedGlobMatches('release/*', 'release/1.0/hotfix'), true, '`*` crosses `/`');
    assert.equal(protectedGlobMatches('release/*', 'release'), false);
    assert.equal(protectedGlobMatches('*-stable', '13-5-stable'), true);
    assert.equal(protectedGlobMatches('v?', 'v1'), false, '`?` is itself');
    assert.equal(protectedGlobMatches('v[0-9]', 'v1'), false, '`[` is itself');
    assert.equal(protectedGlobMatches('a.b', 'axb'), false, '`.` is itself');
    assert.equal(protectedGlobMatches('*', 'anything/at/all'), true);
    // Branch globs protect branches, tag globs tags; a merge request or a detached commit is never protected.
    const refs = { branches: ['main'], tags: ['v*'] };
    assert.equal(isProtectedRef(refs, { kind: 'branch', name: 'main' }), true);
    assert.equal(isProtectedRef(refs, { kind: 'tag', name: 'main' }), false);
    assert.equal(isProtectedRef(refs, { kind: 'tag', name: 'v1.0' }), true);
    assert.equal(isProtectedRef(refs, { kind: 'branch', name: 'v1.0' }), false);
    assert.equal(isProtectedRef(refs, null), false);
  });
});

describe('the audit log keeps a git URL without its credentials', () => {
  it('drops the user and token of a URL, and leaves paths and scp-like addresses alone', () => {
    assert.equal(gitUrlForAudit('https://bob:ghp_s3cret@github.com/acme/web.git'), 'https://***@github.com/acme/web.git');
    assert.equal(gitUrlForAudit('/srv/git/web.git'), '/srv/git/web.git');
    assert.equal(gitUrlForAudit('git@example.com:acme/web.git'), 'git@example.com:acme/web.git');
  });
});

function fleetSuite(label: string, db: () => Promise<string | null>): void {
  describe(`protected refs and variables, the audit log (${label})`, () => {
    let f: Fleet;
    const tok: Record<string, string> = {};
    after(async () => f?.teardown());

    const as = async <T = unknown>(who: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${f.url}/api/v1${p}`, {
        method,
        headers: { authorization: `Bearer ${tok[who] ?? who}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    };
    const refused = (r: { status: number; body: unknown }) => {
      assert.equal(r.status, 403, JSON.stringify(r.body));
      return (r.body as { error: { code: string; message: string } }).error;
    };
    /** The pipeline once its `job` has finished (its manual `deploy` waits), and `job`'s log. */
    async function ran(id: number): Promise<{ pipeline: PipelineView; log: string }> {
      const done = await f.waitPipeline(id, (p) => ['success', 'failed', 'canceled'].includes(p.jobs.find((j) => j.name === 'job')!.status));
      const job = done.jobs.find((j) => j.name === 'job')!;
      assert.equal(job.status, 'success', JSON.stringify(done));
      return { pipeline: done, log: (await f.log(job.id)).toString() };
    }

    it('a protected variable reaches only the jobs of protected refs; developers cannot run those refs; everything is audited without a secret', async () => {
      f = new Fleet({ '.gantry.yml': PIPELINE }, await db(), 'none');
      await f.startServer();
      await f.startAgent();
      await f.project('demo');
      await f.project('other');
      f.sb.git('branch', 'feature');
      f.sb.git('tag', 'v1.0');
      tok.admin = f.adminToken;

      // People: a developer and a maintainer of demo, a maintainer of other only.
      for (const [username, project, role] of [['dev', 'demo', 'developer'], ['max', 'demo', 'maintainer'], ['bea', 'other', 'maintainer']] as const) {
        assert.equal((await f.api('POST', '/users', { username, password: PASSWORD })).status, 201);
        assert.equal((await f.api('PUT', `/projects/${project}/members/${username}`, { role })).status, 200);
        tok[username] = (await f.api<{ token: string }>('POST', `/users/${username}/tokens`, { description: 'test' })).body.token;
      }
      // The maintainer protects main, release branches and v* tags, and sets the variables.
      assert.deepEqual((await as('dev', 'PUT', '/projects/demo/protected-refs', { branches: ['main'], tags: [] })).status, 403);
      const set = await as('max', 'PUT', '/projects/demo/protected-refs', { branches: ['main', 'release/*'], tags: ['v*'] });
      assert.deepEqual([set.status, set.body], [200, { branches: ['main', 'release/*'], tags: ['v*'] }]);
      assert.deepEqual((await as('dev', 'GET', '/projects/demo/protected-refs')).body, { branches: ['main', 'release/*'], tags: ['v*'] });
      assert.equal((await as('max', 'PUT', '/projects/demo/variables/DEPLOY_KEY', { value: SECRET, masked: true, protected: true })).status, 204);
      assert.equal((await as('max', 'PUT', '/projects/demo/variables/PLAIN', { value: 'plain-value' })).status, 204);
      const vars = await as<{ items: Array<{ key: string; masked: boolean; protected: boolean }> }>('max', 'GET', '/projects/demo/variables');
      assert.deepEqual(vars.body.items.map((v) => [v.key, v.masked, v.protected]), [['DEPLOY_KEY', true, true], ['PLAIN', false, false]]);

      // A maintainer's pipeline of main: protected, with the protected variable.
      const onMain = await as<{ id: number }>('max', 'POST', '/projects/demo/pipelines', { ref: 'main' });
      assert.equal(onMain.status, 201);
      const main = await ran(onMain.body.id);
      assert.match(main.log, /protected=true/);
      assert.match(main.log, new RegExp(`secret=${sha16(SECRET)}`));
      assert.match(main.log, /plain=plain-value/);
      // A developer's pipeline of feature: not protected, no protected variable; the others as ever.
      const onFeature = await as<{ id: number }>('dev', 'POST', '/projects/demo/pipelines', { ref: 'feature' });
      assert.equal(onFeature.status, 201);
      const feature = await ran(onFeature.body.id);
      assert.match(feature.log, /protected=false/);
      assert.match(feature.log, new RegExp(`secret=${sha16('')}`));
      assert.match(feature.log, /plain=plain-value/);
      for (const log of [main.log, feature.log]) assert.equal(log.includes(SECRET), false);

      // The developer may not start, retry or play on main, nor on a v* tag, nor report a push to main...
      const start = refused(await as('dev', 'POST', '/projects/demo/pipelines', { ref: 'main' }));
      assert.equal(start.code, 'GANTRY_E_PROTECTED_REF');
      assert.match(start.message, /branch main of project demo is protected/);
      assert.equal(refused(await as('dev', 'POST', '/projects/demo/pipelines', { ref: 'v1.0' })).code, 'GANTRY_E_PROTECTED_REF');
      const mainJob = main.pipeline.jobs.find((j) => j.name === 'job')!.id;
      const mainDeploy = main.pipeline.jobs.find((j) => j.name === 'deploy')!.id;
      assert.equal(refused(await as('dev', 'POST', `/jobs/${mainJob}/retry`)).code, 'GANTRY_E_PROTECTED_REF');
      assert.equal(refused(await as('dev', 'POST', `/jobs/${mainDeploy}/play`)).code, 'GANTRY_E_PROTECTED_REF');
      const head = f.sb.git('rev-parse', 'HEAD').trim();
      const push = { ref: 'refs/heads/main', before: '0'.repeat(40), after: head };
      assert.equal(refused(await as('dev', 'POST', '/projects/demo/pushes', push)).code, 'GANTRY_E_PROTECTED_REF');
      // ...but everywhere else, and cancel stays a developer's.
      const featureJob = feature.pipeline.jobs.find((j) => j.name === 'job')!.id;
      assert.equal((await as('dev', 'POST', `/jobs/${featureJob}/retry`)).status, 200);
      assert.equal((await as('dev', 'POST', `/jobs/${feature.pipeline.jobs.find((j) => j.name === 'deploy')!.id}/play`)).status, 200);
      assert.equal((await as('dev', 'POST', `/jobs/${mainDeploy}/cancel`)).status, 200);
      assert.equal((await as('dev', 'POST', '/projects/demo/pushes', { ...push, ref: 'refs/heads/feature' })).status, 202);
      // The maintainer may retry on main; the retried job still gets the protected variable.
      assert.equal((await as('max', 'POST', `/jobs/${mainJob}/retry`)).status, 200);
      await f.waitLog(mainJob, 2, new RegExp(`secret=${sha16(SECRET)}`));

      // A signed webhook push to main is no person starting a pipeline: it gets the protected variable.
      const hook = await as<{ secret: string }>('max', 'POST', '/projects/demo/webhooks', { provider: 'gitea' });
      assert.equal(hook.status, 201);
      let payloadText = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'webhooks', 'gitea-push.json'), 'utf8').replaceAll('bffeb74224043ba2feb48d137756c8a9331c449a', head);
      payloadText = JSON.stringify({ ...(JSON.parse(payloadText) as object), ref: 'refs/heads/main', before: '0'.repeat(40) });
      const bytes = Buffer.from(payloadText);
      const delivered = await fetch(`${f.url}/api/v1/webhooks/gitea/demo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-delivery': 'protected-1', ...signatureHeaders('gitea', bytes, hook.body.secret) },
        body: new Uint8Array(bytes),
      });
      assert.equal(delivered.status, 202);
      let hookPipeline: number | null = null;
      for (const end = Date.now() + 20_000; hookPipeline === null && Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
        const items = (await f.api<{ items: Array<{ deliveryId: string; pipelineId: number | null; status: string; reason: string | null }> }>('GET', '/projects/demo/webhooks/deliveries')).body.items;
        const d = items.find((x) => x.deliveryId === 'protected-1');
        if (d?.status === 'done') hookPipeline = d.pipelineId;
        else if (d && d.status !== 'queued' && d.status !== 'processing') throw new Error(`delivery ${d.status}: ${d.reason}`);
      }
      assert.ok(hookPipeline !== null, 'the webhook made a pipeline');
      const byHook = await ran(hookPipeline);
      assert.match(byHook.log, /protected=true/);
      assert.match(byHook.log, new RegExp(`secret=${sha16(SECRET)}`));

      // The audit log of demo, to its maintainer: every change with its actor and target.
      const collect = async (who: string, p: string, limit: number): Promise<AuditItem[]> => {
        const out: AuditItem[] = [];
        for (let before: number | null = null, first = true; first || before !== null; first = false) {
          const r: { status: number; body: { items: AuditItem[]; next: number | null } } = await as(who, 'GET', `${p}?limit=${limit}${before === null ? '' : `&before=${before}`}`);
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.ok(r.body.items.length <= limit);
          out.push(...r.body.items);
          before = r.body.next;
        }
        return out;
      };
      const demo = await collect('max', '/projects/demo/audit', 3);
      // Pages of 3 are the one page of 100, newest first.
      assert.deepEqual(demo, (await as<{ items: AuditItem[] }>('max', 'GET', '/projects/demo/audit?limit=100')).body.items);
      assert.deepEqual(demo.map((e) => e.id), [...demo.map((e) => e.id)].sort((a, b) => b - a));
      const demoId = (await f.api<{ id: number }>('GET', '/projects/demo')).body.id;
      assert.ok(demo.every((e) => e.projectId === demoId));
      const find = (action: string, target?: string) => demo.find((e) => e.action === action && (target === undefined || e.target.id === target));
      assert.deepEqual(find('protected_refs.set')?.details, { branches: ['main', 'release/*'], tags: ['v*'] });
      assert.deepEqual(find('protected_refs.set')?.actor.username, 'max');
      assert.deepEqual(find('protected_refs.set')?.actor.via, 'token');
      assert.deepEqual(find('variable.set', 'DEPLOY_KEY')?.details, { masked: true, protected: true });
      assert.equal(find('variable.set', 'DEPLOY_KEY')?.address, '127.0.0.1');
      assert.equal(find('member.set', 'dev')?.actor.kind, 'admin-token');
      assert.deepEqual(find('member.set', 'dev')?.details, { role: 'developer' });
      assert.equal(find('job.retry', String(featureJob))?.actor.username, 'dev');
      assert.equal(find('job.retry', String(mainJob))?.actor.username, 'max');
      assert.equal(find('job.cancel', String(mainDeploy))?.actor.username, 'dev');
      assert.ok(find('job.play'));
      assert.ok(find('webhook_secret.set', 'gitea'));
      assert.ok(find('project.create', 'demo'));
      // Refused attempts changed nothing and are not there.
      assert.equal(demo.filter((e) => e.action === 'job.retry').length, 2);
      assert.equal(demo.filter((e) => e.action === 'job.play').length, 1);

      // The instance's log (admin): the people and their tokens too; no secret anywhere in it.
      const all = await collect('admin', '/audit', 7);
      assert.ok(all.length > demo.length);
      assert.ok(all.some((e) => e.action === 'user.create' && e.target.id === 'bea' && e.projectId === null));
      assert.ok(all.some((e) => e.action === 'token.create' && e.details?.kind === 'personal' && e.details.user === 'dev'));
      const text = JSON.stringify(all);
      for (const secret of [SECRET, 'plain-value', PASSWORD, hook.body.secret, f.adminToken, tok.dev!, tok.max!, tok.bea!]) {
        assert.equal(text.includes(secret), false, `the audit log holds a secret (${secret.slice(0, 6)}...)`);
      }

      // Only maintainers of demo (and admins) read its log: bea, a maintainer of other, meets a project that does not exist.
      assert.equal((await as('bea', 'GET', '/projects/demo/audit')).status, 404);
      assert.equal((await as('dev', 'GET', '/projects/demo/audit')).status, 403);
      assert.equal((await as('max', 'GET', '/projects/other/audit')).status, 404);
      assert.equal((await as('max', 'GET', '/audit')).status, 403);
      const otherLog = await as<{ items: AuditItem[] }>('bea', 'GET', '/projects/other/audit');
      assert.equal(otherLog.status, 200);
      assert.ok(otherLog.body.items.every((e) => e.projectId !== demoId));
      assert.ok(otherLog.body.items.some((e) => e.action === 'member.set' && e.target.id === 'bea'));
      assert.equal((await as('max', 'GET', '/projects/demo/audit?limit=101')).status, 400);
    });
  });
}

function harnessSuite(label: string, open: (home: string) => Promise<Store>): void {
  describe(`the audit log in-process (${label})`, () => {
    it('records sign-ins that failed and succeeded (never the password), and prunes entries past the retention', async () => {
      let offsetMs = -3 * 24 * 3600_000;
      const repo = sandbox({ '.gantry.yml': PIPELINE });
      // A short lease: the periodic work runs once the store has been healthy for a lease (of the server's clock).
      const h = await startHarness(open, { now: () => Date.now() + offsetMs, deps: { auditRetentionMs: 24 * 3600_000, settings: defaultSchedulerSettings({ leaseMs: 1_000 }) } });
      try {
        assert.equal((await h.api('POST', '/users', { username: 'sam', password: PASSWORD })).status, 201);
        const signIn = (username: string, password: string) =>
          fetch(`${h.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
        assert.equal((await signIn('sam', 'not-the-password-at-all')).status, 401);
        assert.equal((await signIn('not-a-user', 'typed-into-the-wrong-box')).status, 401);
        assert.equal((await signIn('sam', PASSWORD)).status, 200);
        const items = ((await (await h.api('GET', '/audit?limit=10')).json()) as { items: AuditItem[] }).items;
        assert.deepEqual(
          items.map((e) => [e.action, e.actor.kind, e.target.id]),
          [
            ['sign_in.success', 'user', 'sam'],
            ['sign_in.failure', 'anonymous', null],
            ['sign_in.failure', 'anonymous', 'sam'],
            ['user.create', 'admin-token', 'sam'],
          ],
        );
        assert.equal(JSON.stringify(items).includes('typed-into-the-wrong-box'), false);
        assert.equal(JSON.stringify(items).includes('not-a-user'), false);
        assert.equal(JSON.stringify(items).includes(PASSWORD), false);
        // Three days on, with a retention of one: the next periodic pass (every hour of the server's clock) prunes them.
        offsetMs = 0;
        assert.equal((await h.api('POST', '/projects', { name: 'fresh', gitUrl: repo.repo })).status, 201);
        for (const end = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 100))) {
          const left = ((await (await h.api('GET', '/audit?limit=10')).json()) as { items: AuditItem[] }).items;
          if (left.length === 1) {
            assert.deepEqual(left.map((e) => [e.action, e.target.id]), [['project.create', 'fresh']]);
            break;
          }
          assert.ok(Date.now() < end, `not pruned: ${JSON.stringify(left.map((e) => e.action))}`);
        }
      } finally {
        await h.close();
        repo.cleanup();
      }
    });
  });
}

fleetSuite('SQLite', async () => null);
harnessSuite('SQLite', (home) => openSqliteStore(path.join(home, 'gantry.db')));

const postgres = await testPostgres('protected refs and the audit log on PostgreSQL', 2);
if (postgres) {
  fleetSuite('PostgreSQL', async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`);
  harnessSuite('PostgreSQL', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema() }));
}
