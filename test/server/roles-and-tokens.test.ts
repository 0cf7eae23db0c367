// Roles per project and personal access tokens on a real server over loopback, on SQLite and on
// PostgreSQL: every route of the OpenAPI document walked with the role just below its declared
// one (refused: 404 when the caller cannot see the project, else 403) and with the role itself
// (let through); a member of one project reads nothing of another, by name, by pipeline or job
// id, in lists, the queue and live streams; personal tokens narrowed by project and to reads,
// stopped at once when revoked, expired or their user disabled; the last maintainer kept.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { ROOT, sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';
import { roleRows } from './role-table.js';

const PIPELINE = 'build:\n  script: [echo hi]\n';
const PASSWORD = 'a-password-long-enough';

type Access = 'viewer' | 'developer' | 'maintainer' | 'admin' | 'own-account' | 'signed-in' | 'public' | 'agent' | 'trigger-token';

/** The routes outside roles, each kind with why. */
const EXCEPTIONS: Partial<Record<Access, string>> = {
  public: 'no caller to check: the OpenAPI document, signing in, and the webhook intake (authenticated by the forge signature instead)',
  agent: 'the agent protocol: authenticated by agent tokens (registration token, then the agent token and attempt tokens), never by people (PROTOCOL.md)',
  'trigger-token': "POST /projects/:project/trigger: authenticated by the project's trigger token, which the route checks itself",
};

interface Doc {
  paths: Record<string, Record<string, { 'x-gantry-access'?: Access }>>;
}

interface ErrorBody {
  error: { code: string; message: string };
}

function suite(label: string, open: (home: string) => Promise<Store>): void {
  describe(`roles and personal tokens (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let offsetMs = 0;
    /** Personal tokens by username. */
    const tok: Record<string, string> = {};
    let alphaPipeline: number;
    let alphaJob: number;
    let bravoPipeline: number;
    let bravoJob: number;
    let alphaSchedule: number;
    let alphaTriggerToken: number;
    let projectToken: string;

    const as = (who: string | null, method: string, p: string, body?: unknown, signal?: AbortSignal): Promise<Response> => {
      const headers: Record<string, string> = {};
      if (who !== null) headers.authorization = `Bearer ${tok[who] ?? who}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      return fetch(`${h.url}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    };
    /** Status and body (JSON, or null for a stream or an empty answer); a stream is closed at once. */
    async function call(who: string | null, method: string, p: string, body?: unknown): Promise<{ status: number; body: ErrorBody | null }> {
      const abort = new AbortController();
      const res = await as(who, method, p, body, abort.signal);
      const type = res.headers.get('content-type') ?? '';
      if (type.includes('text/event-stream') || !type.includes('json')) {
        abort.abort();
        await res.body?.cancel().catch(() => undefined);
        return { status: res.status, body: null };
      }
      return { status: res.status, body: (await res.json()) as ErrorBody };
    }
    const json = async <T>(res: Response | Promise<Response>): Promise<T> => {
      const r = await res;
      assert.ok(r.ok, `${r.status} ${await r.clone().text()}`);
      return (await r.json()) as T;
    };

    before(async () => {
      repo = sandbox({ '.gantry.yml': PIPELINE });
      h = await startHarness(open, { now: () => Date.now() + offsetMs });
      for (const name of ['alpha', 'bravo']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
      const made = async (project: string) => json<{ id: number; jobs: Array<{ id: number }> }>(h.api('POST', `/projects/${project}/pipelines`, { ref: 'main' }));
      const a = await made('alpha');
      const b = await made('bravo');
      [alphaPipeline, alphaJob, bravoPipeline, bravoJob] = [a.id, a.jobs[0]!.id, b.id, b.jobs[0]!.id];
      alphaSchedule = (await json<{ id: number }>(h.api('POST', '/projects/alpha/schedules', { cron: '0 3 * * *', ref: 'main', active: false }))).id;
      alphaTriggerToken = (await json<{ id: number }>(h.api('POST', '/projects/alpha/trigger-tokens', {}))).id;
      assert.equal((await h.api('PUT', '/projects/alpha/variables/K', { value: 'v' })).status, 204);
      assert.equal((await h.api('PUT', '/projects/alpha/forge', { provider: 'github', repository: 'acme/alpha', token: 't' })).status, 200);
      // People: a viewer, a developer and a maintainer of alpha, someone of neither project, a
      // maintainer of bravo only, an admin, a developer of both, and zed (whom members routes move).
      const roles: Array<[string, Array<[string, string]>, boolean?]> = [
        ['vic', [['alpha', 'viewer']]],
        ['dev', [['alpha', 'developer']]],
        ['max', [['alpha', 'maintainer']]],
        ['out', []],
        ['bea', [['bravo', 'maintainer']]],
        ['ada', [], true],
        ['two', [['alpha', 'developer'], ['bravo', 'developer']]],
        ['zed', []],
      ];
      for (const [username, memberships, admin] of roles) {
        assert.equal((await h.api('POST', '/users', { username, password: PASSWORD, admin: admin ?? false })).status, 201);
        for (const [project, role] of memberships) assert.equal((await h.api('PUT', `/projects/${project}/members/${username}`, { role })).status, 200);
        tok[username] = (await json<{ token: string }>(h.api('POST', `/users/${username}/tokens`, { description: 'test' }))).token;
      }
      // A project (`api`) token of alpha, as the store has always had them: a maintainer of alpha.
      const { randomBytes } = await import('node:crypto');
      const { hashToken } = await import('../../src/server/tokens.js');
      projectToken = `gantry_api_${randomBytes(32).toString('base64url')}`;
      await h.store.addToken({ hash: hashToken(projectToken), kind: 'api', projectId: (await h.store.getProject('alpha'))!.id, createdAt: Date.now() });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const hidden = (message: string) => ({ error: { code: 'GANTRY_E_NOT_FOUND', message } });

    it('every route declares its access, and only the agent protocol, the trigger route and public routes are outside the roles', async () => {
      const doc = (await (await fetch(`${h.url}/api/v1/openapi.json`)).json()) as Doc;
      const known = new Set<Access>(['viewer', 'developer', 'maintainer', 'admin', 'own-account', 'signed-in', 'public', 'agent', 'trigger-token']);
      let n = 0;
      for (const [p, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const access = op['x-gantry-access'];
          assert.ok(access !== undefined && known.has(access), `${method.toUpperCase()} ${p}: ${access}`);
          if (access in EXCEPTIONS) {
            const ok = access === 'agent' ? p.startsWith('/api/v1/agent/') : access === 'trigger-token' ? p === '/api/v1/projects/{project}/trigger' : true;
            assert.ok(ok, `${method.toUpperCase()} ${p} is ${access}`);
          }
          n++;
        }
      }
      assert.ok(n > 60, `${n} routes`);
      // API.md's role table is the declarations (node scripts/role-table.mjs prints it).
      const api = fs.readFileSync(path.join(ROOT, 'docs', 'API.md'), 'utf8');
      const table = /<!-- role-table -->\n([\s\S]*?)<!-- \/role-table -->/.exec(api)?.[1];
      assert.equal(table, roleRows(doc), 'docs/API.md: run node scripts/role-table.mjs and paste its output');
    });

    it('each route refuses the role just below its own (404 when the caller cannot see the project, else 403) and lets its own role through', async () => {
      const doc = (await (await fetch(`${h.url}/api/v1/openapi.json`)).json()) as Doc;
      const routes = Object.entries(doc.paths)
        .flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => ({ method: m.toUpperCase(), template: p, access: op['x-gantry-access']! })))
        .filter((r) => !(r.access in EXCEPTIONS))
        // Deletions last, so what they remove is there for the others.
        .sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
      const fill = (template: string, username: string) =>
        template
          .replace('/api/v1', '')
          .replace('{project}', 'alpha')
          .replace(/^\/pipelines\/\{id\}/, `/pipelines/${alphaPipeline}`)
          .replace(/^\/jobs\/\{id\}/, `/jobs/${alphaJob}`)
          .replace(/\/schedules\/\{id\}/, `/schedules/${alphaSchedule}`)
          .replace(/\/trigger-tokens\/\{id\}/, `/trigger-tokens/${alphaTriggerToken}`)
          .replace('{key}', 'K')
          .replace('{name}', 'production')
          .replace('{provider}/{author}', 'github/someone')
          .replace(/\/members\/\{username\}/, '/members/zed')
          .replace('{username}', username)
          .replace('{attempt}', '1')
          .replace('{pool}', 'gpu')
          .replace(/\{id\}/, '999999');
      const body = (method: string) => (['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined);
      const below: Record<string, string> = { developer: 'vic', maintainer: 'dev', admin: 'max' };
      const at: Record<string, string> = { viewer: 'vic', developer: 'dev', maintainer: 'max', admin: 'ada' };
      const seen = new Set<string>();
      for (const r of routes) {
        const name = `${r.method} ${r.template} (${r.access})`;
        seen.add(r.access);
        const unseen = r.template.includes('{project}') ? 'project "alpha"' : r.template.startsWith('/api/v1/pipelines/') ? `pipeline ${alphaPipeline}` : `job ${alphaJob}`;
        if (r.access === 'viewer' || r.access === 'developer' || r.access === 'maintainer') {
          // Someone who is no member: the project, its pipelines and jobs do not exist for them.
          const out = await call('out', r.method, fill(r.template, 'out'), body(r.method));
          assert.equal(out.status, 404, `${name} as a non-member: ${out.status}`);
          assert.deepEqual(out.body, hidden(`no ${unseen}`), name);
        }
        if (r.access === 'signed-in') {
          assert.equal((await call(null, r.method, fill(r.template, 'out'))).status, 401, name);
        } else if (r.access === 'own-account') {
          const other = r.template.includes('{username}') ? await call('out', r.method, fill(r.template, 'vic'), body(r.method)) : await call(projectToken, r.method, fill(r.template, 'out'), body(r.method));
          assert.equal(other.status, 403, `${name} on someone else's account: ${other.status}`);
        } else if (below[r.access] !== undefined) {
          const refused = await call(below[r.access]!, r.method, fill(r.template, 'out'), body(r.method));
          assert.equal(refused.status, 403, `${name} as ${below[r.access]}: ${refused.status} ${JSON.stringify(refused.body)}`);
          assert.equal(refused.body!.error.code, 'GANTRY_E_FORBIDDEN', name);
        }
        const who = at[r.access] ?? 'out';
        const allowed = await call(who, r.method, fill(r.template, who), body(r.method));
        assert.ok(![401, 403].includes(allowed.status), `${name} as ${who}: ${allowed.status} ${JSON.stringify(allowed.body)}`);
        // A 404 here is the handler's (no log yet, no artifacts, no such agent), never an unseen project.
        if (allowed.status === 404) assert.notEqual(allowed.body!.error.message, `no ${unseen}`, name);
      }
      assert.deepEqual([...seen].sort(), ['admin', 'developer', 'maintainer', 'own-account', 'signed-in', 'viewer']);
      // The project token of alpha does what a maintainer does there, and nothing of an admin's.
      assert.equal((await call(projectToken, 'GET', '/projects/alpha/variables')).status, 200);
      assert.equal((await call(projectToken, 'GET', '/users')).status, 403);
      assert.equal((await call(projectToken, 'GET', '/projects/bravo')).status, 404);
    });

    it('a member of alpha reads nothing of bravo: its name, its pipelines and jobs by id, logs, artifacts, streams, lists and the queue', async () => {
      for (const p of ['/projects/bravo', '/projects/bravo/pipelines', '/projects/bravo/events', '/projects/bravo/members']) {
        const r = await call('vic', 'GET', p);
        assert.equal(r.status, 404, p);
        assert.deepEqual(r.body, hidden('no project "bravo"'), p);
      }
      const bravoId = (await h.store.getProject('bravo'))!.id;
      assert.deepEqual((await call('vic', 'GET', `/projects/${bravoId}`)).body, hidden(`no project "${bravoId}"`));
      // Exactly what a project that does not exist answers.
      assert.deepEqual((await call('vic', 'GET', '/projects/nonesuch')).body, hidden('no project "nonesuch"'));
      for (const p of [`/pipelines/${bravoPipeline}`, `/pipelines/${bravoPipeline}/events`]) assert.deepEqual((await call('vic', 'GET', p)).body, hidden(`no pipeline ${bravoPipeline}`), p);
      assert.deepEqual((await call('vic', 'GET', '/pipelines/999999')).body, hidden('no pipeline 999999'));
      for (const p of ['', '/log', '/log/stream', '/log/sections', '/log/times', '/log/search?q=x', '/artifacts', '/artifacts/1']) {
        const r = await call('vic', 'GET', `/jobs/${bravoJob}${p}`);
        assert.equal(r.status, 404, p);
        assert.deepEqual(r.body, hidden(`no job ${bravoJob}`), p);
      }
      for (const p of ['/cancel', '/retry', '/play']) assert.deepEqual((await call('vic', 'POST', `/jobs/${bravoJob}${p}`)).body, hidden(`no job ${bravoJob}`), p);
      assert.deepEqual((await call('vic', 'POST', `/pipelines/${bravoPipeline}/cancel`)).body, hidden(`no pipeline ${bravoPipeline}`));
      // Lists: the projects, the queue (both pipelines wait: no agent), its live stream.
      const projects = await json<{ items: Array<{ name: string }> }>(as('vic', 'GET', '/projects'));
      assert.deepEqual(projects.items.map((p) => p.name), ['alpha']);
      assert.deepEqual((await json<{ items: unknown[] }>(as('out', 'GET', '/projects'))).items, []);
      const all = await json<{ items: Array<{ project: string }> }>(h.api('GET', '/queue'));
      assert.deepEqual([...new Set(all.items.map((e) => e.project))].sort(), ['alpha', 'bravo']);
      const mine = await json<{ items: Array<{ project: string }> }>(as('vic', 'GET', '/queue'));
      assert.deepEqual([...new Set(mine.items.map((e) => e.project))], ['alpha']);
      assert.deepEqual((await call('vic', 'GET', '/queue?project=bravo')).body, hidden('no project "bravo"'));
      const abort = new AbortController();
      const stream = await as('vic', 'GET', '/queue/events', undefined, abort.signal);
      assert.equal(stream.status, 200);
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!/event: queue\ndata: .*\n/.test(text)) text += (await reader.read()).value ?? '';
      abort.abort();
      const sent = JSON.parse(/event: queue\ndata: (.*)\n/.exec(text)![1]!) as { items: Array<{ project: string }> };
      assert.ok(sent.items.length > 0);
      assert.deepEqual([...new Set(sent.items.map((e) => e.project))], ['alpha']);
      // Bravo's maintainer sees bravo and not alpha.
      assert.deepEqual((await json<{ items: Array<{ name: string }> }>(as('bea', 'GET', '/projects'))).items.map((p) => p.name), ['bravo']);
      assert.equal((await call('bea', 'GET', `/jobs/${alphaJob}`)).status, 404);
    });

    it('a signed-in user (session cookie) has the same roles as their tokens', async () => {
      const res = await fetch(`${h.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'vic', password: PASSWORD }) });
      assert.equal(res.status, 200);
      const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]!).join('; ');
      const get = (p: string) => fetch(`${h.url}/api/v1${p}`, { headers: { cookie } });
      assert.equal((await get('/projects/alpha/pipelines')).status, 200);
      assert.equal((await get('/projects/bravo/pipelines')).status, 404);
      const who = (await (await get('/session')).json()) as { roles: Array<{ projectId: number; role: string }> };
      assert.deepEqual(who.roles, [{ projectId: (await h.store.getProject('alpha'))!.id, role: 'viewer' }]);
    });

    it('a personal token narrowed to projects sees only those; a read-only one only reads', async () => {
      const narrowed = await json<{ token: string; projects: number[]; readOnly: boolean }>(h.api('POST', '/users/two/tokens', { description: 'alpha only', projects: ['alpha'] }));
      assert.deepEqual(narrowed.projects, [(await h.store.getProject('alpha'))!.id]);
      assert.equal((await call(narrowed.token, 'GET', '/projects/alpha')).status, 200);
      assert.deepEqual((await call(narrowed.token, 'GET', '/projects/bravo')).body, hidden('no project "bravo"'));
      assert.deepEqual((await call(narrowed.token, 'GET', `/jobs/${bravoJob}`)).body, hidden(`no job ${bravoJob}`));
      assert.deepEqual((await json<{ items: Array<{ name: string }> }>(as(narrowed.token, 'GET', '/projects'))).items.map((p) => p.name), ['alpha']);
      // The user themself, unnarrowed, sees both.
      assert.equal((await call('two', 'GET', '/projects/bravo')).status, 200);
      // A narrowed admin token is no admin.
      const adaNarrow = await json<{ token: string }>(h.api('POST', '/users/ada/tokens', { description: 'n', projects: ['bravo'] }));
      assert.equal((await call(adaNarrow.token, 'GET', '/users')).status, 403);
      assert.equal((await call(adaNarrow.token, 'GET', '/projects/alpha')).status, 404);

      const readOnly = await json<{ token: string; readOnly: boolean }>(h.api('POST', '/users/two/tokens', { description: 'reads', readOnly: true }));
      assert.equal(readOnly.readOnly, true);
      assert.equal((await call(readOnly.token, 'GET', `/pipelines/${alphaPipeline}`)).status, 200);
      for (const [method, p, body] of [
        ['POST', '/projects/alpha/pipelines', { ref: 'main' }],
        ['POST', `/jobs/${alphaJob}/retry`, undefined],
        ['POST', '/users/two/tokens', { description: 'more' }],
      ] as const) {
        const r = await call(readOnly.token, method, p, body);
        assert.equal(r.status, 403, `${method} ${p}`);
        assert.match(r.body!.error.message, /read-only/);
      }
      // The same user's full token may trigger (developer of alpha).
      assert.equal((await call('two', 'POST', '/projects/alpha/pipelines', { ref: 'main' })).status, 201);
    });

    it('tokens are made by their user or an admin, shown once, listed without values; a token cannot make tokens', async () => {
      const made = await as('out', 'POST', '/users/out/tokens', { description: 'by out' });
      assert.equal(made.status, 403, 'a personal token cannot make another');
      const res = await fetch(`${h.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'out', password: PASSWORD }) });
      const signed = (await res.json()) as { csrfToken: string };
      const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]!).join('; ');
      const byCookie = (method: string, p: string, body?: unknown) =>
        fetch(`${h.url}/api/v1${p}`, { method, headers: { cookie, 'x-csrf-token': signed.csrfToken, 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
      const own = await byCookie('POST', '/users/out/tokens', { description: 'laptop', expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
      assert.equal(own.status, 201);
      const t = (await own.json()) as { id: number; token: string; expiresAt: string };
      assert.match(t.token, /^gantry_personal_[A-Za-z0-9_-]{43}$/);
      assert.equal((await byCookie('POST', '/users/vic/tokens', { description: 'not mine' })).status, 403);
      assert.equal((await byCookie('POST', '/users/out/tokens', { description: 'past', expiresAt: '2001-01-01T00:00:00Z' })).status, 400);
      assert.deepEqual(((await (await byCookie('POST', '/users/out/tokens', { description: 'x', projects: ['bravo'] })).json()) as ErrorBody).error, {
        code: 'GANTRY_E_NOT_FOUND',
        message: 'no project "bravo"',
        field: 'body.projects',
      } as never);
      const list = await json<{ items: Array<Record<string, unknown>> }>(as('out', 'GET', '/users/out/tokens'));
      assert.deepEqual(list.items.map((x) => x.description), ['test', 'laptop']);
      assert.equal(JSON.stringify(list).includes(t.token), false);
      assert.equal('token' in list.items[0]!, false);
      assert.equal((await call('out', 'GET', '/users/vic/tokens')).status, 403);
      // An admin lists and revokes anyone's.
      assert.equal((await json<{ items: unknown[] }>(h.api('GET', '/users/out/tokens'))).items.length, 2);
    });

    it('a revoked token, an expired one and a disabled user\'s token are refused at once', async () => {
      const mk = async (body: Record<string, unknown>) => json<{ id: number; token: string }>(h.api('POST', '/users/zed/tokens', { description: 'z', ...body }));
      const revoked = await mk({});
      assert.equal((await call(revoked.token, 'GET', '/projects')).status, 200);
      assert.equal((await h.api('DELETE', `/users/zed/tokens/${revoked.id}`)).status, 204);
      const r = await call(revoked.token, 'GET', '/projects');
      assert.deepEqual([r.status, r.body!.error.code], [401, 'GANTRY_E_UNAUTHENTICATED']);
      assert.equal((await h.api('DELETE', `/users/zed/tokens/${revoked.id}`)).status, 404);

      const expiring = await mk({ expiresAt: new Date(Date.now() + 60_000).toISOString() });
      assert.equal((await call(expiring.token, 'GET', '/projects')).status, 200);
      offsetMs = 120_000;
      try {
        const e = await call(expiring.token, 'GET', '/projects');
        assert.equal(e.status, 401);
        assert.equal(e.body!.error.code, 'GANTRY_E_TOKEN_EXPIRED');
        assert.match(e.body!.error.message, /expired at/);
        const listed = await json<{ items: Array<{ id: number; expired: boolean }> }>(h.api('GET', '/users/zed/tokens'));
        assert.equal(listed.items.find((x) => x.id === expiring.id)!.expired, true);
      } finally {
        offsetMs = 0;
      }

      const live = await mk({});
      assert.equal((await h.api('PATCH', '/users/zed', { disabled: true })).status, 200);
      const d = await call(live.token, 'GET', '/projects');
      assert.deepEqual([d.status, d.body!.error.code], [401, 'GANTRY_E_UNAUTHENTICATED']);
      assert.equal((await h.api('PATCH', '/users/zed', { disabled: false })).status, 200);
      assert.equal((await call(live.token, 'GET', '/projects')).status, 200);
      // A role taken away is gone at the next request too.
      assert.equal((await h.api('PUT', '/projects/alpha/members/zed', { role: 'viewer' })).status, 200);
      assert.equal((await call(live.token, 'GET', '/projects/alpha')).status, 200);
      assert.equal((await h.api('DELETE', '/projects/alpha/members/zed')).status, 204);
      assert.equal((await call(live.token, 'GET', '/projects/alpha')).status, 404);
    });

    it('a maintainer cannot demote or remove the last maintainer; an admin can; members are listed to viewers', async () => {
      assert.equal((await h.api('POST', '/projects', { name: 'charlie', gitUrl: repo.repo })).status, 201);
      assert.equal((await h.api('PUT', '/projects/charlie/members/max', { role: 'maintainer' })).status, 200);
      assert.equal((await h.api('PUT', '/projects/charlie/members/vic', { role: 'viewer' })).status, 200);
      for (const [method, body] of [['PUT', { role: 'developer' }], ['DELETE', undefined]] as const) {
        const r = await call('max', method, '/projects/charlie/members/max', body);
        assert.equal(r.status, 409, method);
        assert.equal(r.body!.error.code, 'GANTRY_E_LAST_MAINTAINER');
      }
      // With a second maintainer the first may step down.
      assert.equal((await call('max', 'PUT', '/projects/charlie/members/bea', { role: 'maintainer' })).status, 200);
      assert.equal((await call('max', 'PUT', '/projects/charlie/members/max', { role: 'developer' })).status, 200);
      assert.equal((await call('max', 'PUT', '/projects/charlie/members/max', { role: 'maintainer' })).status, 403, 'a developer now');
      assert.equal((await call('bea', 'DELETE', '/projects/charlie/members/bea')).body!.error.code, 'GANTRY_E_LAST_MAINTAINER');
      // An admin (user or token) may leave a project without maintainers.
      assert.equal((await call('ada', 'DELETE', '/projects/charlie/members/bea')).status, 204);
      const members = await json<{ items: Array<{ username: string; role: string }> }>(as('vic', 'GET', '/projects/charlie/members'));
      assert.deepEqual(members.items.map((m) => [m.username, m.role]), [['max', 'developer'], ['vic', 'viewer']]);
      assert.equal((await call('max', 'PUT', '/projects/charlie/members/nobody', { role: 'viewer' })).status, 403);
      assert.equal((await h.api('PUT', '/projects/charlie/members/nobody', { role: 'viewer' })).status, 404);
      assert.equal((await h.api('PUT', '/projects/charlie/members/vic', { role: 'owner' })).status, 400);
    });
  });
}

suite('SQLite', (home) => openSqliteStore(path.join(home, 'gantry.db')));

const postgres = await testPostgres('roles and personal tokens on PostgreSQL', 2);
if (postgres) suite('PostgreSQL', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema() }));
