// Overload protection over real HTTP on loopback, in-process servers with low bounds on SQLite and
// on PostgreSQL (docs/API.md, "Overload and limits"): past a class's bound the answer is 503 at
// once, a caller past its own rate 429, both with Retry-After and a code; bodies over their
// route's limit 413; a webhook past its bound is refused before anything is recorded and recorded
// once when sent again; the agent protocol and the health routes go through under pressure;
// status streams slow down first. A place is held in the tests by a request whose body is held
// back: its class counts it from its headers on, as it would a slow client.

import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';
import type { OverloadSettings } from '../../src/server/overload/settings.js';
import type { ServerDeps } from '../../src/server/app.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { Store } from '../../src/store/store.js';
import { testPostgres, type TestPostgres } from '../helpers/postgres.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { waitFor } from '../helpers/processes.js';
import { startHarness, type Harness } from './harness.js';

const PASSWORD = 'a-password-long-enough';
/** "At once": the refusals measured here take a few ms; a queued request would take seconds. */
const AT_ONCE_MS = 500;

/** A request whose headers are sent and whose body is held back, on a connection of its own. */
class HeldRequest {
  private readonly socket: net.Socket;
  private readonly answer: Promise<string>;

  constructor(url: string, method: string, p: string, headers: Record<string, string>, private readonly body: Buffer, declaredLength = body.length) {
    const u = new URL(url);
    this.socket = net.connect(Number(u.port), u.hostname);
    let text = '';
    this.socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    this.answer = new Promise((resolve) => {
      this.socket.on('close', () => resolve(text));
      this.socket.on('error', () => undefined);
    });
    const lines = [`${method} ${p} HTTP/1.1`, `host: ${u.host}`, 'connection: close', `content-length: ${declaredLength}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    this.socket.write(body.subarray(0, 1));
  }

  /** Sends the rest of the body; resolves with the answer's status and body. */
  async finish(): Promise<{ status: number; body: string }> {
    this.socket.write(this.body.subarray(1));
    return this.answered();
  }

  /** The answer the server gave without the rest of the body. */
  async answered(): Promise<{ status: number; body: string }> {
    const text = await this.answer;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
  }

  abort(): void {
    this.socket.destroy();
  }
}

interface Timed {
  status: number;
  ms: number;
  retryAfter: string | null;
  headers: Headers;
  body: { error?: { code: string; message: string; retryAfter?: number; limit?: number } } & Record<string, unknown>;
}

async function timed(url: string, init: RequestInit = {}): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  const ms = performance.now() - t0;
  return { status: res.status, ms, retryAfter: res.headers.get('retry-after'), headers: res.headers, body: text ? (JSON.parse(text) as Timed['body']) : {} };
}

/** A refusal as the API makes them: the status, the code, Retry-After in the header and the body, at once. */
function assertRefused(r: Timed, status: 429 | 503, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error?.code, status === 429 ? 'GANTRY_E_RATE_LIMITED' : 'GANTRY_E_OVERLOADED', what);
  assert.match(r.retryAfter ?? '', /^[1-9][0-9]*$/, `${what}: Retry-After`);
  assert.equal(r.body.error?.retryAfter, Number(r.retryAfter), what);
  assert.ok(r.ms < AT_ONCE_MS, `${what}: answered in ${r.ms.toFixed(1)} ms`);
}

function overloadSuite(storeName: string, openStore: (home: string) => Promise<Store>): void {
  describe(`overload protection (in-process, ${storeName})`, () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });
    let repo: Sandbox | null = null;
    const repoOf = () => (repo ??= (cleanups.push(() => repo!.cleanup()), sandbox({ '.gantry.yml': 'build:\n  script: [echo hi]\n' })));

    async function server(overload: Partial<OverloadSettings>, deps: Partial<ServerDeps> = {}): Promise<Harness> {
      const h = await startHarness(openStore, { deps: { ...deps, overload } });
      cleanups.push(() => h.close());
      return h;
    }
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    const json = { 'content-type': 'application/json' };
    const facts = (name: string) => JSON.stringify({ name, tags: [], concurrency: 1, version: 'test', protocol: 1 });

    /** A user's personal access token: a second caller besides the admin token. */
    async function personalToken(h: Harness, username: string): Promise<string> {
      assert.equal((await h.api('POST', '/users', { username, password: PASSWORD })).status, 201);
      const r = await h.api('POST', `/users/${username}/tokens`, { description: 'test' });
      assert.equal(r.status, 201);
      return ((await r.json()) as { token: string }).token;
    }

    it('past the write bound a write is answered 503 GANTRY_E_OVERLOADED with Retry-After at once; reads and agents go on; a freed place lets the next in', async (t: TestContext) => {
      const h = await server({ maxWrites: 2 });
      const held = [1, 2].map(
        (i) => new HeldRequest(h.url, 'POST', '/api/v1/projects', { ...auth(h.admin), ...json }, Buffer.from(JSON.stringify({ name: `held-${i}`, gitUrl: repoOf().repo }))),
      );
      await waitFor('both writes to hold their places', () => h.app.overload.inflight('write') === 2);
      const refused = await timed(`${h.url}/api/v1/projects`, { method: 'POST', headers: { ...auth(h.admin), ...json }, body: JSON.stringify({ name: 'third', gitUrl: repoOf().repo }) });
      assertRefused(refused, 503, 'a third write');
      t.diagnostic(`a write past the bound: 503 in ${refused.ms.toFixed(1)} ms, Retry-After ${refused.retryAfter} s`);
      // Other classes have bounds of their own; the agent protocol has none.
      assert.equal((await h.api('GET', '/projects')).status, 200);
      const agent = await fetch(`${h.url}/api/v1/agent/register`, { method: 'POST', headers: { ...auth(h.agent), ...json }, body: facts('while-full') });
      assert.equal(agent.status, 201);
      assert.equal((await held[0]!.finish()).status, 201);
      await waitFor('a place to be free', () => h.app.overload.inflight('write') === 1);
      assert.equal((await h.api('POST', '/projects', { name: 'third', gitUrl: repoOf().repo })).status, 201);
      // A client that goes away gives its place back too.
      held[1]!.abort();
      await waitFor('the aborted write to give its place back', () => h.app.overload.inflight('write') === 0);
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      assert.match(metrics, /^gantry_http_shed_total\{class="write",reason="inflight"\} 1$/m);
    });

    it('a webhook past its bound is 503 before anything is recorded; the same delivery sent again is recorded once; one over 25 MiB is 413', async (t: TestContext) => {
      const h = await server({ maxWebhooks: 1 });
      assert.equal((await h.api('POST', '/projects', { name: 'hooked', gitUrl: repoOf().repo })).status, 201);
      const { secret } = (await (await h.api('POST', '/projects/hooked/webhooks', { provider: 'github' })).json()) as { secret: string };
      const head = repoOf().git('rev-parse', 'HEAD').trim();
      const payload = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after: head, repository: { id: 1 }, commits: [] }));
      const headers = (delivery: string) => ({ 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, ...signatureHeaders('github', payload, secret) });
      const send = (delivery: string) => timed(`${h.url}/api/v1/webhooks/github/hooked`, { method: 'POST', headers: headers(delivery), body: new Uint8Array(payload) });
      const deliveries = async () => ((await (await h.api('GET', '/projects/hooked/webhooks/deliveries')).json()) as { items: { deliveryId: string }[] }).items.map((d) => d.deliveryId).sort();

      const held = new HeldRequest(h.url, 'POST', '/api/v1/webhooks/github/hooked', headers('held'), payload);
      await waitFor('the held webhook to take the one place', () => h.app.overload.inflight('webhook') === 1);
      const before = await deliveries();
      const refused = await send('refused-then-resent');
      assertRefused(refused, 503, 'a webhook past the bound');
      t.diagnostic(`a webhook past the bound: 503 in ${refused.ms.toFixed(1)} ms`);
      assert.deepEqual(await deliveries(), before, 'nothing recorded for the refused delivery');
      assert.equal((await held.finish()).status, 202);
      await waitFor('the place to be free', () => h.app.overload.inflight('webhook') === 0);
      // The forge sends it again: recorded now, and once.
      assert.equal((await send('refused-then-resent')).status, 202);
      const again = await send('refused-then-resent');
      assert.equal(again.status, 200);
      assert.equal(again.body.duplicate, true);
      assert.deepEqual(await deliveries(), ['held', 'refused-then-resent']);
      // Refused from Content-Length, before a byte of the body is read.
      const big = new HeldRequest(h.url, 'POST', '/api/v1/webhooks/github/hooked', headers('big'), Buffer.from('{'), 25 * 1024 * 1024 + 1);
      const tooLarge = await big.answered();
      assert.equal(tooLarge.status, 413);
      assert.equal((JSON.parse(tooLarge.body) as { error: { code: string } }).error.code, 'GANTRY_E_TOO_LARGE');
      assert.deepEqual(await deliveries(), ['held', 'refused-then-resent']);
    });

    it('webhook bodies in flight are bounded by their bytes: a big body held open leaves room for small ones only, and a body without a length counts as the 25 MiB limit', async () => {
      const h = await server({ maxWebhookBytes: 100_000 });
      assert.equal((await h.api('POST', '/projects', { name: 'hooked', gitUrl: repoOf().repo })).status, 201);
      const { secret } = (await (await h.api('POST', '/projects/hooked/webhooks', { provider: 'github' })).json()) as { secret: string };
      const head = repoOf().git('rev-parse', 'HEAD').trim();
      const payload = (pad: number) =>
        Buffer.from(JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after: head, repository: { id: 1 }, commits: [], pad: 'x'.repeat(pad) }));
      const headers = (delivery: string, body: Buffer) => ({ 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, ...signatureHeaders('github', body, secret) });
      const send = (delivery: string, body: Buffer) =>
        timed(`${h.url}/api/v1/webhooks/github/hooked`, { method: 'POST', headers: headers(delivery, body), body: new Uint8Array(body) });

      // 80 KB held open: another 30 KB would pass the budget, 10 KB would not.
      const bigBody = payload(80_000);
      const held = new HeldRequest(h.url, 'POST', '/api/v1/webhooks/github/hooked', headers('big', bigBody), bigBody);
      await waitFor('the big webhook to be in', () => h.app.overload.inflight('webhook') === 1);
      assertRefused(await send('medium', payload(30_000)), 503, 'a webhook past the byte budget');
      assert.equal((await send('small', payload(10_000))).status, 202);
      assert.equal((await held.finish()).status, 202);
      await waitFor('the place to be free', () => h.app.overload.inflight('webhook') === 0);
      assert.equal((await send('medium', payload(30_000))).status, 202, 'the refused delivery, sent again, is taken');
      // Chunked, without a length: it may be as big as the route allows, and is counted so.
      const u = new URL(h.url);
      const chunked = net.connect(Number(u.port), u.hostname);
      chunked.on('error', () => undefined);
      const chunkedBody = payload(10);
      const lines = ['POST /api/v1/webhooks/github/hooked HTTP/1.1', `host: ${u.host}`, 'connection: close', 'transfer-encoding: chunked', ...Object.entries(headers('chunked', chunkedBody)).map(([k, v]) => `${k}: ${v}`)];
      chunked.write(`${lines.join('\r\n')}\r\n\r\n1\r\n${chunkedBody.subarray(0, 1).toString()}\r\n`);
      await waitFor('the chunked webhook to be in', () => h.app.overload.inflight('webhook') === 1);
      assertRefused(await send('tiny', payload(10)), 503, 'a webhook beside a body of unknown length');
      chunked.destroy();
      await waitFor('the chunked webhook to give its place back', () => h.app.overload.inflight('webhook') === 0);
      assert.equal((await send('tiny', payload(10))).status, 202);
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      assert.match(metrics, /^gantry_http_shed_total\{class="webhook",reason="inflight_bytes"\} 2$/m);
    });

    it('a JSON body over its route’s limit is 413 GANTRY_E_TOO_LARGE with the limit; a log chunk over its own too', async () => {
      const h = await server({});
      const r = await timed(`${h.url}/api/v1/projects`, { method: 'POST', headers: { ...auth(h.admin), ...json }, body: JSON.stringify({ name: 'big', gitUrl: 'x'.repeat(2 * 1024 * 1024) }) });
      assert.equal(r.status, 413);
      assert.equal(r.body.error?.code, 'GANTRY_E_TOO_LARGE');
      assert.equal(r.body.error?.limit, 1024 * 1024);
      const registered = await fetch(`${h.url}/api/v1/agent/register`, { method: 'POST', headers: { ...auth(h.agent), ...json }, body: facts('big-chunk') });
      const { token } = (await registered.json()) as { token: string };
      const chunk = await timed(`${h.url}/api/v1/agent/attempts/1/log`, {
        method: 'PATCH',
        headers: { ...auth(token), 'content-type': 'application/octet-stream', 'content-range': `bytes 0-${1024 * 1024}/*`, 'gantry-attempt-token': 'any' },
        body: new Uint8Array(1024 * 1024 + 1),
      });
      assert.equal(chunk.status, 413);
      assert.equal(chunk.body.error?.code, 'GANTRY_E_TOO_LARGE');
      assert.equal(chunk.body.error?.limit, 1024 * 1024);
    });

    it('a token past its rate is 429 with Retry-After and x-ratelimit headers, another token from that address goes on; an address past its rate is 429 whatever the token; sign-ins have a rate per address', async () => {
      const h = await server({ perTokenPerMinute: 5, perAddressPerMinute: 12, signInsPerMinute: 3 }, { trustProxy: true });
      const bob = await personalToken(h, 'bob');
      const from = (address: string, token?: string) => ({ 'x-forwarded-for': address, ...(token ? auth(token) : {}) });
      const get = (headers: Record<string, string>) => timed(`${h.url}/api/v1/projects`, { headers });

      for (let i = 0; i < 5; i++) {
        const ok = await get(from('10.0.0.1', bob));
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get('x-ratelimit-limit'), '5');
        assert.equal(ok.headers.get('x-ratelimit-remaining'), String(4 - i));
      }
      for (let i = 0; i < 10; i++) {
        const flood = await get(from('10.0.0.1', bob));
        assertRefused(flood, 429, `bob's request ${6 + i}`);
        assert.ok(Number(flood.retryAfter) <= 60);
        assert.equal(flood.headers.get('x-ratelimit-remaining'), '0');
      }
      // Bob's flood spent bob's rate, not his address's: the admin behind the same address goes on.
      assert.equal((await get(from('10.0.0.1', h.admin))).status, 200);

      // Guessed tokens from one address: each its own token, all that address's.
      for (let i = 0; i < 12; i++) assert.equal((await get(from('10.0.0.2', `gantry_guess_${i}`))).status, 401);
      assertRefused(await get(from('10.0.0.2', 'gantry_guess_last')), 429, 'an address past its rate');
      assert.equal((await get(from('10.0.0.3', 'gantry_guess_elsewhere'))).status, 401);
      // The agent protocol is never rate limited, whatever the address has spent.
      const agent = await fetch(`${h.url}/api/v1/agent/register`, { method: 'POST', headers: { ...from('10.0.0.2', h.agent), ...json }, body: facts('limited-address') });
      assert.equal(agent.status, 201);

      const signIn = (address: string) => timed(`${h.url}/api/v1/session`, { method: 'POST', headers: { ...from(address), ...json }, body: JSON.stringify({ username: 'bob', password: 'not-bobs-password' }) });
      for (let i = 0; i < 3; i++) assert.equal((await signIn('10.0.0.4')).status, 401);
      assertRefused(await signIn('10.0.0.4'), 429, 'a fourth sign-in a minute');
      assert.equal((await signIn('10.0.0.5')).status, 401);

      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      assert.match(metrics, /^gantry_http_shed_total\{class="read",reason="token_rate"\} 10$/m);
      assert.match(metrics, /^gantry_http_shed_total\{class="read",reason="address_rate"\} 1$/m);
      assert.match(metrics, /^gantry_http_shed_total\{class="sign-in",reason="sign_in_rate"\} 1$/m);
    });

    it('a caller past its share of live streams is 429, the instance past its cap 503, both at once; a closed stream frees its place', async (t: TestContext) => {
      const h = await server({ maxStreams: 3, maxStreamsPerCaller: 2 });
      const bob = await personalToken(h, 'bob');
      const open: AbortController[] = [];
      cleanups.push(() => open.forEach((a) => a.abort()));
      const stream = async (token: string): Promise<Timed & { abort?: AbortController }> => {
        const abort = new AbortController();
        const t0 = performance.now();
        const res = await fetch(`${h.url}/api/v1/queue/events`, { headers: auth(token), signal: abort.signal });
        const ms = performance.now() - t0;
        if (res.status === 200) {
          open.push(abort);
          return { status: 200, ms, retryAfter: null, headers: res.headers, body: {}, abort };
        }
        return { status: res.status, ms, retryAfter: res.headers.get('retry-after'), headers: res.headers, body: (await res.json()) as Timed['body'] };
      };
      const first = await stream(h.admin);
      assert.equal(first.status, 200);
      assert.equal((await stream(h.admin)).status, 200);
      const callerFull = await stream(h.admin);
      assertRefused(callerFull, 429, "a caller's third stream");
      assert.equal((await stream(bob)).status, 200);
      const instanceFull = await stream(bob);
      assertRefused(instanceFull, 503, "the instance's fourth stream");
      t.diagnostic(`streams: 429 in ${callerFull.ms.toFixed(1)} ms, 503 in ${instanceFull.ms.toFixed(1)} ms`);
      first.abort!.abort();
      await waitFor('the closed stream to give its place back', () => h.app.overload.inflight('stream') === 2);
      assert.equal((await stream(bob)).status, 200);
    });

    it('under pressure API reads and writes are shed with 503 while the agent protocol, the health routes and webhooks go on', async (t: TestContext) => {
      const h = await server({ maxEventLoopUtilization: 0.9, sampleIntervalMs: 500 });
      // A webhook to deliver while the server is under pressure: a forge would not send it again.
      assert.equal((await h.api('POST', '/projects', { name: 'pressed', gitUrl: repoOf().repo })).status, 201);
      const { secret } = (await (await h.api('POST', '/projects/pressed/webhooks', { provider: 'github' })).json()) as { secret: string };
      const payload = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after: repoOf().git('rev-parse', 'HEAD').trim(), repository: { id: 1 }, commits: [] }));
      const hook = (delivery: string) =>
        timed(`${h.url}/api/v1/webhooks/github/pressed`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, ...signatureHeaders('github', payload, secret) },
          body: new Uint8Array(payload),
        });
      for (let tries = 1; ; tries++) {
        // The event loop busy for over two samples: the next sample, taken before any request
        // below is read, says so until the one after.
        const until = Date.now() + 1_200;
        while (Date.now() < until);
        const [read, write, agent, healthz, readyz, webhook] = await Promise.all([
          timed(`${h.url}/api/v1/projects`, { headers: auth(h.admin) }),
          timed(`${h.url}/api/v1/projects`, { method: 'POST', headers: { ...auth(h.admin), ...json }, body: JSON.stringify({ name: 'shed', gitUrl: repoOf().repo }) }),
          timed(`${h.url}/api/v1/agent/register`, { method: 'POST', headers: { ...auth(h.agent), ...json }, body: facts('under-pressure') }),
          timed(`${h.url}/healthz`),
          timed(`${h.url}/readyz`),
          hook(`under-pressure-${tries}`),
        ]);
        // A machine so loaded that the sample after came before the requests: try again.
        if (read.status === 200 && tries < 3) continue;
        assertRefused(read, 503, 'a read under pressure');
        assertRefused(write, 503, 'a write under pressure');
        assert.equal(agent.status, 201, 'the agent protocol goes on');
        assert.equal(webhook.status, 202, 'a webhook is taken: a forge would not send it again');
        assert.equal(healthz.status, 200);
        assert.equal(readyz.status, 200);
        assert.equal(readyz.body.underPressure, true);
        t.diagnostic(`under pressure: reads ${read.ms.toFixed(1)} ms to 503, agent registration ${agent.ms.toFixed(1)} ms to 201`);
        break;
      }
      await waitFor('the pressure to pass', () => !h.app.overload.underPressure(), 5_000);
      assert.equal((await h.api('GET', '/projects')).status, 200);
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      assert.match(metrics, /^gantry_http_shed_total\{class="read",reason="pressure"\} [1-9]/m);
    });

    it('with half its stream places taken the server is strained: a queue stream sends at most one update a second, and the latest state', async (t: TestContext) => {
      const h = await server({ maxStreams: 4 });
      assert.equal((await h.api('POST', '/projects', { name: 'busy', gitUrl: repoOf().repo })).status, 201);
      const abort = new AbortController();
      cleanups.push(() => abort.abort());
      const events: Array<{ at: number; items: number }> = [];
      const watched = await fetch(`${h.url}/api/v1/queue/events`, { headers: auth(h.admin), signal: abort.signal });
      const other = await fetch(`${h.url}/api/v1/agents/events`, { headers: auth(h.admin), signal: abort.signal });
      assert.equal(watched.status, 200);
      assert.equal(other.status, 200);
      assert.ok(h.app.overload.strained());
      void (async () => {
        const decoder = new TextDecoder();
        let buf = '';
        try {
          for await (const chunk of watched.body!) {
            buf += decoder.decode(chunk as Uint8Array, { stream: true });
            for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
              const frame = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const data = /^data: (.*)$/m.exec(frame)?.[1];
              if (/^event: queue$/m.test(frame) && data) events.push({ at: performance.now(), items: (JSON.parse(data) as { items: unknown[] }).items.length });
            }
          }
        } catch {
          // aborted at the end
        }
      })();
      await waitFor('the first snapshot', () => events.length === 1);
      const t0 = performance.now();
      const TRIGGERS = 8;
      for (let i = 0; i < TRIGGERS; i++) assert.equal((await h.api('POST', '/projects/busy/pipelines', { ref: 'main' })).status, 201);
      const triggered = performance.now() - t0;
      await waitFor('the queue stream to show every pending job', () => events.at(-1)!.items === TRIGGERS, 10_000);
      const gaps = events.slice(1).map((e, i) => e.at - events[i]!.at);
      t.diagnostic(`${TRIGGERS} triggers in ${triggered.toFixed(0)} ms: ${events.length - 1} queue updates, gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
      // The first change after a quiet second goes out at once; each next one a second after it.
      for (const g of gaps.slice(1)) assert.ok(g >= 900, `updates ${g.toFixed(0)} ms apart`);
      assert.ok(events.length - 1 <= Math.ceil(triggered / 1000) + 2, `${events.length - 1} updates`);
    });
  });
}

overloadSuite('sqlite', (home) => openSqliteStore(path.join(home, 'gantry.db')));

// The same on PostgreSQL, where the bounds also guard the instance's 10 database connections.
const postgres: TestPostgres | null = await testPostgres('overload protection on PostgreSQL', 2);
if (postgres) overloadSuite('postgres', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema() }));
