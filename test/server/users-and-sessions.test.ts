// People on a real server over loopback, on SQLite and on PostgreSQL: passwords (scrypt, checked
// in constant time, never stored or logged in clear), the one 401 for every failed sign-in, the
// sign-in limits, session cookies with their CSRF token, signing out, disabling, and the policy
// by cookie: a viewer of a project reads it and changes nothing (roles-and-tokens.test.ts walks
// every role).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { hashPassword, needsRehash, SCRYPT_PARAMS, verifyPassword } from '../../src/server/passwords.js';
import { addressSubject } from '../../src/server/sessions.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';

const ALICE_PW = 'correct horse battery staple';
const BOB_PW = 'bob-never-in-the-log-7f3a';

describe('passwords', () => {
  it('hash and verify round trip; the hash describes its parameters and salt, so two hashes of one password differ', async () => {
    const a = await hashPassword(ALICE_PW);
    const b = await hashPassword(ALICE_PW);
    assert.match(a, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword(ALICE_PW, a), true);
    assert.equal(await verifyPassword(`${ALICE_PW} `, a), false);
    assert.equal(await verifyPassword(ALICE_PW, 'not a hash'), false);
    assert.equal(needsRehash(a), false);
    // A hash with older (cheaper) parameters still verifies, and is marked for a rehash.
    const old = await hashPassword(ALICE_PW, { ...SCRYPT_PARAMS, ln: 10 });
    assert.equal(await verifyPassword(ALICE_PW, old), true);
    assert.equal(needsRehash(old), true);
  });

  it('an IPv6 address is limited by its /64, an IPv4 one (mapped or not) by itself', () => {
    assert.equal(addressSubject('2001:db8:1:2:aaaa::1'), 'addr:2001:db8:1:2::/64');
    assert.equal(addressSubject('2001:db8:1:2:bbbb:cccc:dddd:eeee'), 'addr:2001:db8:1:2::/64');
    assert.equal(addressSubject('::1'), 'addr:0:0:0:0::/64');
    assert.equal(addressSubject('::ffff:10.1.2.3'), 'addr:10.1.2.3');
    assert.equal(addressSubject('10.1.2.3'), 'addr:10.1.2.3');
  });
});

interface Signed {
  cookie: string;
  csrf: string;
  setCookies: string[];
}

function suite(label: string, open: (home: string) => Promise<Store>, dump: (h: Harness) => Promise<string>): void {
  describe(`users and sessions (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let log = '';
    let address = 0;
    before(async () => {
      repo = sandbox({ '.gantry.yml': 'build:\n  script: [echo hi]\n' });
      const stream = new Writable({
        write(chunk: Buffer, _enc, done) {
          log += chunk.toString();
          done();
        },
      });
      h = await startHarness(open, {
        deps: {
          logger: { level: 'info', stream },
          // Every test signs in from an address of its own (X-Forwarded-For), so the limits of one never meet another's.
          trustProxy: true,
          people: { signInMaxFailures: 3, signInWindowMs: 60_000 },
        },
      });
      assert.equal((await h.api('POST', '/projects', { name: 'web', gitUrl: repo.repo })).status, 201);
      for (const [username, password, admin] of [
        ['alice', ALICE_PW, true],
        ['bob', BOB_PW, false],
      ] as const) {
        assert.equal((await h.api('POST', '/users', { username, password, admin })).status, 201);
      }
      assert.equal((await h.api('PUT', '/projects/web/members/bob', { role: 'viewer' })).status, 200);
      // Pipeline 1 and job 1, for the routes keyed by their ids.
      assert.equal((await h.api('POST', '/projects/web/pipelines', { ref: 'main' })).status, 201);
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const fresh = () => `10.0.${label.length}.${++address}`;
    async function signIn(username: string, password: string, from = fresh(), extra: Record<string, string> = {}): Promise<Response> {
      return fetch(`${h.url}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': from, ...extra },
        body: JSON.stringify({ username, password }),
      });
    }
    async function signedIn(username: string, password: string, extra: Record<string, string> = {}): Promise<Signed> {
      const res = await signIn(username, password, fresh(), extra);
      assert.equal(res.status, 200, await res.clone().text());
      const setCookies = res.headers.getSetCookie();
      const cookie = setCookies.map((c) => c.split(';')[0]!).join('; ');
      const { csrfToken } = (await res.json()) as { csrfToken: string };
      return { cookie, csrf: csrfToken, setCookies };
    }
    function as(s: Signed, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
      const h2: Record<string, string> = { cookie: s.cookie, ...headers };
      if (body !== undefined) h2['content-type'] = 'application/json';
      return fetch(`${h.url}/api/v1${p}`, { method, headers: h2, body: body === undefined ? undefined : JSON.stringify(body) });
    }
    const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

    it('a wrong password, an unknown user and a disabled user get the same 401 body; the unknown user is hashed and compared too', async () => {
      assert.equal((await h.api('POST', '/users', { username: 'carl', password: 'carl-password-1234' })).status, 201);
      assert.equal((await h.api('PATCH', '/users/carl', { disabled: true })).status, 200);
      const compare = crypto.timingSafeEqual;
      let compared = 0;
      crypto.timingSafeEqual = (a, b) => {
        compared++;
        return compare(a, b);
      };
      try {
        const bodies: string[] = [];
        for (const [username, password] of [
          ['alice', 'not-alices-password'],
          ['nobody-at-all', 'not-alices-password'],
          ['carl', 'carl-password-1234'],
        ]) {
          const before = compared;
          const res = await signIn(username!, password!);
          assert.equal(res.status, 401);
          assert.equal(res.headers.get('set-cookie'), null);
          bodies.push(await res.text());
          assert.equal(compared - before, 1, `${username}: one constant-time comparison of a full scrypt hash`);
        }
        assert.equal(new Set(bodies).size, 1, bodies.join('\n'));
        assert.deepEqual(JSON.parse(bodies[0]!), { error: { code: 'GANTRY_E_SIGN_IN_FAILED', message: 'wrong username or password' } });
      } finally {
        crypto.timingSafeEqual = compare;
      }
    });

    it('signing in sets an HttpOnly SameSite=Strict cookie (Secure over https from a trusted proxy); GET /session says who and gives a CSRF token again', async () => {
      const s = await signedIn('bob', BOB_PW);
      const session = s.setCookies.find((c) => c.startsWith('gantry_session='))!;
      assert.match(session, /; HttpOnly/i);
      assert.match(session, /; SameSite=Strict/i);
      assert.match(session, /; Path=\//);
      assert.doesNotMatch(session, /; Secure/i);
      const https = await signedIn('bob', BOB_PW, { 'x-forwarded-proto': 'https' });
      for (const c of https.setCookies) assert.match(c, /; Secure/i, c);
      const who = await as(s, 'GET', '/session');
      assert.equal(who.status, 200);
      const body = (await who.json()) as { kind: string; user: { username: string; admin: boolean }; csrfToken: string };
      assert.deepEqual([body.kind, body.user.username, body.user.admin], ['user', 'bob', false]);
      // The token from GET works for writes like the one from sign-in.
      assert.equal((await as(s, 'DELETE', '/session', undefined, { 'x-csrf-token': body.csrfToken })).status, 204);
      const admin = (await (await h.api('GET', '/session')).json()) as { kind: string };
      assert.equal(admin.kind, 'admin-token');
    });

    it('a viewer reads by cookie (lists, a project, the SSE stream) and every write route refuses it', async () => {
      const s = await signedIn('bob', BOB_PW);
      for (const p of ['/projects', '/projects/web', '/projects/web/pipelines', '/projects/web/members', '/agents', '/queue']) {
        assert.equal((await as(s, 'GET', p)).status, 200, p);
      }
      const stream = await as(s, 'GET', '/projects/web/events');
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes('event: ready')) text += (await reader.read()).value ?? '';
      await reader.cancel();
      // Administration is refused even to read.
      assert.equal((await as(s, 'GET', '/users')).status, 403);

      // Every write route in the OpenAPI document, but those with their own authentication.
      const doc = (await (await fetch(`${h.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
      const own = [/^\/api\/v1\/agent\//, /^\/api\/v1\/webhooks\//, /\/trigger$/, /^\/api\/v1\/session$/];
      const writes = Object.entries(doc.paths).flatMap(([p, ops]) =>
        Object.keys(ops)
          .map((m) => m.toUpperCase())
          .filter((m) => m !== 'GET' && !own.some((r) => r.test(p)))
          .map((m) => [m, p.replace('/api/v1', '').replace('{project}', 'web').replace('{username}', 'alice').replace(/\{[a-z]+\}/gi, '1')] as const),
      );
      // Every read route a viewer may use answers the cookie (a 404 for an id that does not exist is fine).
      const reads = Object.entries(doc.paths)
        .filter(([, ops]) => 'get' in ops && ['viewer', 'signed-in'].includes((ops.get as { 'x-gantry-access'?: string })['x-gantry-access']!))
        .map(([p]) => p.replace('/api/v1', '').replace('{project}', 'web').replace(/\{[a-z]+\}/gi, '1'));
      assert.ok(reads.length > 15, `${reads.length} read routes`);
      for (const p of reads) {
        const abort = new AbortController();
        const res = await fetch(`${h.url}/api/v1${p}`, { headers: { cookie: s.cookie }, signal: abort.signal });
        assert.ok(![401, 403].includes(res.status), `GET ${p}: ${res.status}`);
        abort.abort();
        await res.body?.cancel().catch(() => undefined);
      }
      assert.ok(writes.length > 20, `${writes.length} write routes`);
      for (const [method, p] of writes) {
        const res = await as(s, method, p, { admin: true }, { 'x-csrf-token': s.csrf });
        assert.equal(res.status, 403, `${method} ${p}`);
        assert.equal((await errorOf(res)).code, 'GANTRY_E_FORBIDDEN', `${method} ${p}`);
      }
    });

    it('a write by cookie without X-CSRF-Token, or with a wrong one or another session\'s, is 403 GANTRY_E_CSRF; with it, it is done', async () => {
      const s = await signedIn('alice', ALICE_PW);
      const other = await signedIn('alice', ALICE_PW);
      const put = (headers: Record<string, string>) => as(s, 'PUT', '/projects/web/variables/FROM_UI', { value: 'x' }, headers);
      for (const headers of [{}, { 'x-csrf-token': 'forged' }, { 'x-csrf-token': other.csrf }] as Record<string, string>[]) {
        const res = await put(headers);
        assert.equal(res.status, 403);
        assert.equal((await errorOf(res)).code, 'GANTRY_E_CSRF');
      }
      assert.equal((await put({ 'x-csrf-token': s.csrf })).status, 204);
      // An admin user triggers pipelines, recorded as theirs.
      const made = await as(s, 'POST', '/projects/web/pipelines', { ref: 'main' }, { 'x-csrf-token': s.csrf });
      assert.equal(made.status, 201);
      const p = (await made.json()) as { triggeredBy: { kind: string; name: string } };
      assert.deepEqual([p.triggeredBy.kind, p.triggeredBy.name], ['user', 'alice']);
      // A bearer token needs no CSRF token: no browser sends one on its own.
      assert.equal((await h.api('PUT', '/projects/web/variables/FROM_SCRIPT', { value: 'y' })).status, 204);
    });

    it('signing out deletes the session: the cookie is useless afterwards', async () => {
      const s = await signedIn('alice', ALICE_PW);
      assert.equal((await as(s, 'GET', '/projects')).status, 200);
      const out = await as(s, 'DELETE', '/session', undefined, { 'x-csrf-token': s.csrf });
      assert.equal(out.status, 204);
      assert.ok(out.headers.getSetCookie().some((c) => /^gantry_session=;/.test(c)), 'the cookie is cleared');
      const after = await as(s, 'GET', '/projects');
      assert.equal(after.status, 401);
      assert.equal((await errorOf(after)).code, 'GANTRY_E_UNAUTHENTICATED');
    });

    it("disabling a user stops its live session at once; a password change by an admin ends the user's sessions", async () => {
      assert.equal((await h.api('POST', '/users', { username: 'dora', password: 'dora-password-1234' })).status, 201);
      const s = await signedIn('dora', 'dora-password-1234');
      assert.equal((await as(s, 'GET', '/projects')).status, 200);
      assert.equal((await h.api('PATCH', '/users/dora', { disabled: true })).status, 200);
      assert.equal((await as(s, 'GET', '/projects')).status, 401);
      assert.equal((await signIn('dora', 'dora-password-1234')).status, 401);
      assert.equal((await h.api('PATCH', '/users/dora', { disabled: false })).status, 200);
      const again = await signedIn('dora', 'dora-password-1234');
      assert.equal((await h.api('PATCH', '/users/dora', { password: 'dora-new-password-5678' })).status, 200);
      assert.equal((await as(again, 'GET', '/projects')).status, 401);
      assert.equal((await signIn('dora', 'dora-password-1234')).status, 401);
      assert.equal((await signIn('dora', 'dora-new-password-5678')).status, 200);
    });

    it('a user changes their own password with the current one, keeping this session and ending the others; not anyone else\'s', async () => {
      assert.equal((await h.api('POST', '/users', { username: 'eve', password: 'eve-password-12345' })).status, 201);
      const s = await signedIn('eve', 'eve-password-12345');
      const other = await signedIn('eve', 'eve-password-12345');
      const patch = (body: unknown, who = 'eve') => as(s, 'PATCH', `/users/${who}`, body, { 'x-csrf-token': s.csrf });
      assert.equal((await errorOf(await patch({ password: 'eve-new-password-1' }))).code, 'GANTRY_E_INVALID_REQUEST');
      const wrong = await patch({ password: 'eve-new-password-1', currentPassword: 'not-it-at-all' });
      assert.equal(wrong.status, 403);
      assert.equal((await patch({ password: 'eve-new-password-1', currentPassword: 'eve-password-12345' })).status, 200);
      assert.equal((await as(s, 'GET', '/projects')).status, 200);
      assert.equal((await as(other, 'GET', '/projects')).status, 401);
      assert.equal((await patch({ admin: true })).status, 403);
      assert.equal((await patch({ disabled: true }, 'alice')).status, 403);
      assert.equal((await patch({ password: 'taking-over-alice' }, 'alice')).status, 403);
      assert.equal((await patch({ password: 'taking-over-nobody' }, 'nobody')).status, 403);
    });

    it('the users API: 201 with the user, 409 for a taken name, 422 for a short password, 400 for a bad name; the list; admin from an admin', async () => {
      const made = await h.api('POST', '/users', { username: 'frank', password: 'frank-password-12' });
      assert.equal(made.status, 201);
      const frank = (await made.json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(frank).sort(), ['admin', 'createdAt', 'disabled', 'id', 'username']);
      assert.equal(made.headers.get('location'), '/api/v1/users/frank');
      assert.equal((await errorOf(await h.api('POST', '/users', { username: 'frank', password: 'frank-password-12' }))).code, 'GANTRY_E_CONFLICT');
      const short = await h.api('POST', '/users', { username: 'gus', password: 'eleven char' });
      assert.equal(short.status, 422);
      const e = (await short.json()) as { error: { code: string; message: string; field: string } };
      assert.deepEqual([e.error.code, e.error.field], ['GANTRY_E_PASSWORD_TOO_SHORT', 'body.password']);
      assert.match(e.error.message, /at least 12 characters; this one has 11/);
      assert.equal((await h.api('POST', '/users', { username: 'Gus', password: 'gus-password-123' })).status, 400);
      const list = (await (await h.api('GET', '/users')).json()) as { items: Array<{ username: string }> };
      assert.ok(list.items.some((u) => u.username === 'frank'));
      assert.equal(JSON.stringify(list).includes('scrypt'), false);
      assert.equal(((await (await h.api('PATCH', '/users/frank', { admin: true })).json()) as { admin: boolean }).admin, true);
      assert.equal((await h.api('PATCH', '/users/nobody', { admin: true })).status, 404);
      // An admin user may do what the admin token may, users included.
      const s = await signedIn('alice', ALICE_PW);
      assert.equal((await as(s, 'PATCH', '/users/frank', { admin: false }, { 'x-csrf-token': s.csrf })).status, 200);
    });

    it('after N failed sign-ins for a user, or from an address, the next is 429 with Retry-After, even with the right password', async () => {
      // Per user, from several addresses.
      assert.equal((await h.api('POST', '/users', { username: 'hank', password: 'hank-password-123' })).status, 201);
      for (let i = 0; i < 3; i++) assert.equal((await signIn('hank', 'wrong-password-000')).status, 401);
      const limited = await signIn('hank', 'hank-password-123');
      assert.equal(limited.status, 429);
      const retry = Number(limited.headers.get('retry-after'));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
      const e = (await limited.json()) as { error: { code: string; retryAfter: number } };
      assert.equal(e.error.code, 'GANTRY_E_SIGN_IN_LIMITED');
      assert.equal(e.error.retryAfter, retry);
      // Per address, across usernames (known or not).
      const from = fresh();
      for (const name of ['ivan', 'jill', 'kurt']) assert.equal((await signIn(name, 'wrong-password-000', from)).status, 401);
      assert.equal((await signIn('alice', ALICE_PW, from)).status, 429);
      assert.equal((await signIn('alice', ALICE_PW)).status, 200, 'another address is not limited');
      // A success clears the user's count.
      for (let i = 0; i < 2; i++) assert.equal((await signIn('alice', 'wrong-password-000')).status, 401);
      assert.equal((await signIn('alice', ALICE_PW)).status, 200);
      for (let i = 0; i < 2; i++) assert.equal((await signIn('alice', 'wrong-password-000')).status, 401);
      assert.equal((await signIn('alice', ALICE_PW)).status, 200);
    });

    it('passwords are never in the database in clear, nor in the server log', async () => {
      const stored = await dump(h);
      assert.ok(stored.includes('$scrypt$ln=15,r=8,p=1$'), 'the hashes are there');
      for (const pw of [ALICE_PW, BOB_PW, 'dora-new-password-5678', 'eve-new-password-1']) {
        assert.equal(stored.includes(pw), false, `${pw} in the database`);
        assert.equal(log.includes(pw), false, `${pw} in the log`);
      }
      assert.match(log, /"url":"\/api\/v1\/session"/, 'sign-ins are logged, without their bodies');
    });
  });
}

suite(
  'SQLite',
  (home) => openSqliteStore(path.join(home, 'gantry.db')),
  async (h) =>
    // The database file and its write-ahead log, byte for byte.
    fs
      .readdirSync(h.home)
      .filter((f) => f.startsWith('gantry.db'))
      .map((f) => fs.readFileSync(path.join(h.home, f)).toString('latin1'))
      .join('\n'),
);

const postgres: TestPostgres | null = await testPostgres('users and sessions on PostgreSQL', 2);
if (postgres) {
  const schemaOf = new Map<string, string>();
  suite(
    'PostgreSQL',
    async (home) => {
      const schema = await postgres.freshSchema();
      schemaOf.set(home, schema);
      return openPostgresStore(postgres.url, { schema });
    },
    async (h) => {
      const schema = schemaOf.get(h.home)!;
      const rows: string[] = [];
      for (const table of ['users', 'sessions', 'sign_in_attempts', 'tokens']) {
        const r = await postgres.admin.query(`SELECT t::text AS row FROM ${schema}.${table} t`);
        rows.push(...r.rows.map((x: { row: string }) => x.row));
      }
      return rows.join('\n');
    },
  );
}
