// Single sign-on against a real OpenID Connect provider (oidc-provider on loopback), end to end
// over HTTP on SQLite and PostgreSQL: the authorization code flow with PKCE, state and nonce through
// both servers' redirects and the provider's sign-in form; the user made on the first sign-in and
// found again (by issuer + sub, never by name), roles from groups given and taken away without
// touching roles given by hand, refusals (a domain not allowed, an unverified email, a disabled
// user), a forged state and a replayed callback refused, no password sign-in for such a user, the
// audit log, and a sign-in started on one instance finished on another.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { OidcEnv } from '../../src/config/config.js';
import { isGantryError } from '../../src/domain/errors.js';
import { CALLBACK_PATH, grantsFor, parseRoleMap, ssoSettingsFrom, type SsoSettings } from '../../src/server/sso/settings.js';
import { usernameFrom } from '../../src/server/sso/sign-in.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { freePort } from '../fleet/fleet-harness.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { CookieJar, driveSignIn, startTestProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { testPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';

const ROLE_MAP = 'admins=admin; team-a=alpha:maintainer,beta:developer; readers=beta:viewer';

const env = (over: Partial<OidcEnv> = {}): OidcEnv => ({
  issuer: 'https://login.example.com/realms/main',
  clientId: 'gantry',
  clientSecret: 'secret',
  clientSecretFile: null,
  name: null,
  scopes: null,
  allowedDomains: null,
  groupsClaim: null,
  roleMap: null,
  ...over,
});

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isGantryError(err) && err.code === 'GANTRY_E_SSO_CONFIG', String(err));
    return err.message;
  }
  assert.fail('no error');
}

describe('single sign-on settings', () => {
  it('the role map: groups to admin and project roles, the highest role of several, group paths with / and =', () => {
    const map = parseRoleMap('admins=admin;team-a=alpha:maintainer,beta:developer; /org/ops = beta:maintainer ;x=y=alpha:viewer;team-a=gamma:viewer;');
    assert.deepEqual([...map.keys()], ['admins', 'team-a', '/org/ops', 'x=y']);
    assert.deepEqual(grantsFor(map, ['team-a']), { admin: false, projects: new Map([['alpha', 'maintainer'], ['beta', 'developer'], ['gamma', 'viewer']]) });
    assert.deepEqual(grantsFor(map, ['team-a', '/org/ops', 'admins', 'unknown']).projects.get('beta'), 'maintainer');
    assert.equal(grantsFor(map, ['admins']).admin, true);
    assert.deepEqual(grantsFor(map, []), { admin: false, projects: new Map() });
  });

  it('a malformed role map, issuer or missing setting stops the start with the variable named and what to write', () => {
    assert.match(configError(() => parseRoleMap('admins')), /^GANTRY_OIDC_ROLE_MAP: entry 1 \("admins"\) is not GROUP=GRANTS; write GROUP=GRANT/);
    assert.match(configError(() => parseRoleMap('a=alpha:owner')), /"owner" is not a role; a role is one of viewer, developer, maintainer/);
    assert.match(configError(() => parseRoleMap('a=alpha')), /"alpha" is neither admin nor PROJECT:ROLE/);
    assert.match(configError(() => parseRoleMap('a=al pha:viewer')), /"al pha" is not a project name/);
    assert.match(configError(() => ssoSettingsFrom(env({ clientId: null }), 'https://ci.example.com')), /^GANTRY_OIDC_CLIENT_ID: is required/);
    assert.match(configError(() => ssoSettingsFrom(env({ issuer: 'http://login.example.com' }), 'https://ci.example.com')), /^GANTRY_OIDC_ISSUER: must be an https URL/);
    assert.match(configError(() => ssoSettingsFrom(env(), null)), /^GANTRY_PUBLIC_URL: single sign-on needs it/);
    assert.match(configError(() => ssoSettingsFrom(env({ allowedDomains: 'example.com, not a domain' }), 'https://ci.example.com')), /"not a domain" is not an email domain/);
    assert.match(configError(() => ssoSettingsFrom(env({ clientSecret: null, clientSecretFile: '/nonexistent/secret' }), 'https://ci.example.com')), /GANTRY_OIDC_CLIENT_SECRET_FILE: cannot read/);
    const s = ssoSettingsFrom(env({ allowedDomains: '@Example.com,example.org', scopes: 'groups', clientSecret: null, clientSecretFile: '/run/secret' }), 'https://ci.example.com/gantry/', {
      readFile: () => 'from-file\n',
    });
    assert.equal(s.redirectUri, `https://ci.example.com/gantry${CALLBACK_PATH}`);
    assert.deepEqual(s.allowedDomains, ['example.com', 'example.org']);
    assert.deepEqual(s.scopes, ['openid', 'groups']);
    assert.equal(s.clientSecret, 'from-file');
    assert.equal(s.name, 'login.example.com');
    // Plain http only to a provider on this machine.
    assert.equal(ssoSettingsFrom(env({ issuer: 'http://127.0.0.1:9000' }), 'https://ci.example.com').allowInsecureRequests, true);
  });

  it('a first sign-in is named after preferred_username, else the email, in the characters a username may have', () => {
    assert.equal(usernameFrom({ sub: '1', preferred_username: 'José.Núñez' }, 'x@example.com'), 'jose.nunez');
    assert.equal(usernameFrom({ sub: '1', preferred_username: 'ann@example.com' }, 'x@example.com'), 'ann');
    assert.equal(usernameFrom({ sub: '1' }, 'Bob Smith+ci@example.com'), 'bob-smith-ci');
    assert.equal(usernameFrom({ sub: '1' }, '__@example.com'), 'user');
  });
});

interface Who {
  kind: string;
  user: { id: number; username: string; admin: boolean };
  roles: { projectId: number; role: string }[];
}

function suite(label: string, open: (home: string) => Promise<Store>, second?: (first: Harness) => (home: string) => Promise<Store>): void {
  describe(`single sign-on (${label})`, () => {
    let h: Harness;
    let provider: TestProvider;
    let repo: Sandbox;
    const ids: Record<string, number> = {};
    let providerPort = 0;
    const settings = (): SsoSettings =>
      ssoSettingsFrom(
        {
          issuer: `http://127.0.0.1:${providerPort}`,
          clientId: 'gantry-test',
          clientSecret: 'a-client-secret-for-tests-only-0123456789',
          clientSecretFile: null,
          name: 'Test ID',
          scopes: 'openid email profile groups',
          allowedDomains: 'example.com',
          groupsClaim: 'groups',
          roleMap: ROLE_MAP,
        },
        null,
        { boundFallback: true },
      );

    before(async () => {
      repo = sandbox({ '.gantry.yml': 'build:\n  script: [echo hi]\n' });
      providerPort = await freePort();
      h = await startHarness(open, { deps: { sso: settings() } });
      // The provider knows Gantry's callback, which is known once Gantry listens.
      provider = await startTestProvider(providerPort, [`${h.url}${CALLBACK_PATH}`]);
      for (const name of ['alpha', 'beta', 'gamma']) {
        const res = await h.api('POST', '/projects', { name, gitUrl: repo.repo });
        assert.equal(res.status, 201);
        ids[name] = ((await res.json()) as { id: number }).id;
      }
      provider.accounts.set('sub-dave', { email: 'dave@example.com', email_verified: true, preferred_username: 'dave', groups: ['team-a'] });
      provider.accounts.set('sub-carol', { email: 'carol@example.com', email_verified: true, preferred_username: 'carol', groups: [] });
      provider.accounts.set('sub-mallory', { email: 'mallory@elsewhere.org', email_verified: true, groups: ['admins'] });
      provider.accounts.set('sub-eve', { email: 'eve@example.com', email_verified: false, groups: ['admins'] });
      provider.accounts.set('sub-frank', { email: 'frank@example.com', email_verified: 'true', groups: [] });
      // A local user named carol, with a password: the provider's carol is someone else to Gantry.
      assert.equal((await h.api('POST', '/users', { username: 'carol', password: 'carol-local-password' })).status, 201);
    });
    after(async () => {
      await provider?.close();
      await h?.close();
      repo?.cleanup();
    });

    const start = (next = '/projects/alpha') => `${h.url}/api/v1/session/oidc/start?next=${encodeURIComponent(next)}`;
    async function who(jar: CookieJar): Promise<Who> {
      const res = await jar.fetch(`${h.url}/api/v1/session`);
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()) as Who;
    }
    const rolesOf = (w: Who) => Object.fromEntries(w.roles.map((r) => [Object.keys(ids).find((k) => ids[k] === r.projectId), r.role]));
    async function signIn(login: string): Promise<{ jar: CookieJar; me: Who }> {
      const jar = new CookieJar();
      const trace = await driveSignIn(jar, start(), login);
      assert.equal(trace.last.status, 303, await trace.last.text());
      assert.equal(trace.last.headers.get('location'), '/projects/alpha');
      return { jar, me: await who(jar) };
    }
    async function members(project: string): Promise<{ username: string; role: string; grantedBy: string }[]> {
      return ((await (await h.api('GET', `/projects/${project}/members`)).json()) as { items: { username: string; role: string; grantedBy: string }[] }).items;
    }
    async function audit(): Promise<{ action: string; actor: { kind: string; username?: string }; target: { id: string | null }; details: Record<string, unknown> | null }[]> {
      return ((await (await h.api('GET', '/audit?limit=100')).json()) as { items: never[] }).items;
    }

    it('the sign-in page learns that single sign-on is there, and its name', async () => {
      const res = await fetch(`${h.url}/api/v1/session/methods`);
      assert.deepEqual(await res.json(), { password: true, sso: { name: 'Test ID', start: '/api/v1/session/oidc/start' } });
    });

    it('the start sends the browser to the provider with PKCE (S256), state and nonce, and binds the sign-in to the browser with a short-lived Lax cookie', async () => {
      const jar = new CookieJar();
      const res = await jar.fetch(start());
      assert.equal(res.status, 302);
      const to = new URL(res.headers.get('location')!);
      assert.equal(to.origin, provider.issuer);
      const q = to.searchParams;
      assert.equal(q.get('response_type'), 'code');
      assert.equal(q.get('client_id'), 'gantry-test');
      assert.equal(q.get('redirect_uri'), `${h.url}${CALLBACK_PATH}`);
      assert.equal(q.get('code_challenge_method'), 'S256');
      assert.match(q.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
      assert.ok(q.get('state')!.length >= 32 && q.get('nonce')!.length >= 32);
      assert.equal(q.get('scope'), 'openid email profile groups');
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('gantry_sso='))!;
      assert.match(cookie, /Max-Age=600/);
      assert.match(cookie, /Path=\/api\/v1\/session\/oidc/);
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Lax/);
    });

    it('a first sign-in makes the user (no password) with the roles its groups map to, a session as a password sign-in gives, and lands where the visitor was going', async () => {
      const { jar, me } = await signIn('sub-dave');
      assert.equal(me.kind, 'user');
      assert.equal(me.user.username, 'dave');
      assert.equal(me.user.admin, false);
      assert.deepEqual(rolesOf(me), { alpha: 'maintainer', beta: 'developer' });
      assert.ok(jar.cookies.get('gantry_session'));
      // The session works for writes with its CSRF token, as any session.
      const csrf = ((await (await jar.fetch(`${h.url}/api/v1/session`)).json()) as { csrfToken: string }).csrfToken;
      const out = await jar.fetch(`${h.url}/api/v1/session`, { method: 'DELETE', headers: { 'x-csrf-token': csrf } });
      assert.equal(out.status, 204);
      assert.equal((await jar.fetch(`${h.url}/api/v1/session`)).status, 401);
      assert.deepEqual(
        (await members('alpha')).map((m) => [m.username, m.role, m.grantedBy]),
        [['dave', 'maintainer', 'sso']],
      );
      // No password sign-in for dave: the one 401 of a wrong password, whatever is typed.
      const pw = await fetch(`${h.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'dave', password: '' }) });
      assert.equal(pw.status, 401);
      assert.deepEqual(await pw.json(), { error: { code: 'GANTRY_E_SIGN_IN_FAILED', message: 'wrong username or password' } });
    });

    it('the second sign-in is the same user; roles from groups are changed and taken away, roles given by hand are left alone; admin comes and goes with its group', async () => {
      const first = await signIn('sub-dave');
      // By hand: beta raised to maintainer (from then on it is a person's), gamma given.
      assert.equal((await h.api('PUT', '/projects/beta/members/dave', { role: 'maintainer' })).status, 200);
      assert.equal((await h.api('PUT', '/projects/gamma/members/dave', { role: 'viewer' })).status, 200);
      provider.accounts.get('sub-dave')!.groups = ['readers', 'admins'];
      const second = await signIn('sub-dave');
      assert.equal(second.me.user.id, first.me.user.id);
      assert.equal(second.me.user.admin, true);
      assert.deepEqual(rolesOf(second.me), { beta: 'maintainer', gamma: 'viewer' });
      provider.accounts.get('sub-dave')!.groups = [];
      const third = await signIn('sub-dave');
      assert.equal(third.me.user.admin, false);
      assert.deepEqual(rolesOf(third.me), { beta: 'maintainer', gamma: 'viewer' });
      assert.deepEqual(
        (await members('beta')).map((m) => [m.username, m.role, m.grantedBy]),
        [['dave', 'maintainer', 'manual']],
      );
      // An admin made by hand stays one whatever the groups say.
      assert.equal((await h.api('PATCH', '/users/dave', { admin: true })).status, 200);
      assert.equal((await signIn('sub-dave')).me.user.admin, true);
      assert.equal((await h.api('PATCH', '/users/dave', { admin: false })).status, 200);
      const users = ((await (await h.api('GET', '/users')).json()) as { items: { username: string }[] }).items.map((u) => u.username);
      assert.equal(users.filter((u) => u.startsWith('dave')).length, 1);
      // The sign-ins in the audit log, with what the mapping changed.
      const entries = (await audit()).filter((e) => e.target.id === 'dave' && e.action === 'sign_in.success').reverse();
      assert.deepEqual(entries[0]!.details, { method: 'oidc', issuer: provider.issuer, created: true, rolesSet: [{ project: 'alpha', role: 'maintainer' }, { project: 'beta', role: 'developer' }] });
      assert.equal(entries[0]!.actor.kind, 'user');
      const granted = entries.find((e) => e.details?.admin === 'granted')!;
      assert.deepEqual(granted.details, { method: 'oidc', issuer: provider.issuer, admin: 'granted', rolesRemoved: ['alpha'] });
      assert.ok(entries.some((e) => e.details?.admin === 'removed'));
      assert.ok((await audit()).some((e) => e.action === 'user.create' && e.target.id === 'dave' && e.details?.method === 'oidc'));
    });

    it("a provider account is never joined to a Gantry user by name: the provider's carol becomes carol-2, and the local carol keeps her password", async () => {
      const { me } = await signIn('sub-carol');
      assert.equal(me.user.username, 'carol-2');
      const pw = await fetch(`${h.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-local-password' }) });
      assert.equal(pw.status, 200);
      // An email_verified sent as the string "true" counts.
      assert.equal((await signIn('sub-frank')).me.user.username, 'frank');
    });

    it('an email of a domain not allowed, or not verified, is refused with a page that says why; nothing is made, and the refusal is in the audit log', async () => {
      for (const [login, words, reason] of [
        ['sub-mallory', 'email addresses of elsewhere.org may not sign in to this Gantry (allowed: example.com)', 'domain'],
        ['sub-eve', 'Test ID does not say that the email address eve@example.com is verified', 'email_unverified'],
      ] as const) {
        const jar = new CookieJar();
        const trace = await driveSignIn(jar, start(), login);
        assert.equal(trace.last.status, 403);
        assert.match(trace.last.headers.get('content-type')!, /^text\/html/);
        assert.match(trace.last.headers.get('content-security-policy')!, /default-src 'none'/);
        const page = await trace.last.text();
        assert.ok(page.includes(words), page);
        assert.ok(page.includes('GANTRY_E_SSO_REFUSED'));
        assert.equal(jar.cookies.has('gantry_session'), false);
        assert.equal(jar.cookies.has('gantry_sso'), false);
        assert.ok((await audit()).some((e) => e.action === 'sign_in.failure' && e.details?.method === 'oidc' && e.details.reason === reason));
      }
      const users = ((await (await h.api('GET', '/users')).json()) as { items: { username: string }[] }).items.map((u) => u.username);
      assert.equal(users.includes('mallory') || users.includes('eve'), false);
    });

    it('a disabled user is refused', async () => {
      assert.equal((await h.api('PATCH', '/users/frank', { disabled: true })).status, 200);
      const trace = await driveSignIn(new CookieJar(), start(), 'sub-frank');
      assert.equal(trace.last.status, 403);
      assert.match(await trace.last.text(), /the Gantry account frank is disabled/);
    });

    it('a forged state is refused, and so is the same callback (the same code) a second time, even with the flow cookie put back', async () => {
      const forged = await driveSignIn(new CookieJar(), start(), 'sub-carol', (u) => {
        const url = new URL(u);
        url.searchParams.set('state', 'forged-state-0123456789abcdefghijklmnopqrstuv');
        return url.href;
      });
      assert.equal(forged.last.status, 400);
      const page = await forged.last.text();
      assert.ok(page.includes('GANTRY_E_SSO_FAILED'), page);
      assert.match(page, /state/, 'openid-client refused the state before any token was asked for');

      const jar = new CookieJar();
      const trace = await driveSignIn(jar, start(), 'sub-carol');
      assert.equal(trace.last.status, 303);
      assert.ok(trace.callbackUrl && trace.flowCookie);
      const again = new CookieJar();
      again.cookies.set('gantry_sso', trace.flowCookie);
      const replay = await again.fetch(trace.callbackUrl);
      assert.equal(replay.status, 400);
      assert.match(await replay.text(), /no sign-in is under way in this browser/);
      assert.equal(again.cookies.has('gantry_session'), false);
      // And a callback with no sign-in started at all.
      const none = await fetch(trace.callbackUrl, { redirect: 'manual' });
      assert.equal(none.status, 400);
    });

    it('next is a path of this server, never another site', async () => {
      for (const next of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
        const trace = await driveSignIn(new CookieJar(), start(next), 'sub-carol');
        assert.equal(trace.last.headers.get('location'), '/');
      }
    });

    if (second) {
      it('a sign-in started on one server instance is finished on another (the flow is a row of the shared database)', async () => {
        const other = await startHarness(second(h), { tokens: { admin: h.admin, agent: h.agent }, deps: { sso: { ...settings(), redirectUri: `${h.url}${CALLBACK_PATH}` } } });
        try {
          const jar = new CookieJar();
          const trace = await driveSignIn(jar, start(), 'sub-carol', (u) => u.replace(h.url, other.url));
          assert.equal(trace.last.status, 303, await trace.last.text());
          const res = await jar.fetch(`${h.url}/api/v1/session`);
          assert.equal(((await res.json()) as Who).user.username, 'carol-2');
        } finally {
          await other.close();
        }
      });
    }
  });
}

describe('single sign-on not configured', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
  });
  after(() => h.close());
  it('says so to the sign-in page, and its routes are 404', async () => {
    assert.deepEqual(await (await fetch(`${h.url}/api/v1/session/methods`)).json(), { password: true, sso: null });
    for (const p of ['start', 'callback?code=x&state=y']) {
      const res = await fetch(`${h.url}/api/v1/session/oidc/${p}`, { redirect: 'manual' });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GANTRY_E_NOT_FOUND');
    }
  });
});

suite('SQLite', (home) => openSqliteStore(path.join(home, 'gantry.db')));

const postgres: TestPostgres | null = await testPostgres('single sign-on on PostgreSQL', 2);
if (postgres) {
  const schemaOf = new Map<string, string>();
  suite(
    'PostgreSQL',
    async (home) => {
      const schema = await postgres.freshSchema();
      schemaOf.set(home, schema);
      return openPostgresStore(postgres.url, { schema });
    },
    (first) => () => openPostgresStore(postgres.url, { schema: schemaOf.get(first.home)! }),
  );
}
