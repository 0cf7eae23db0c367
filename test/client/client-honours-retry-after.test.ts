// The CLI's client and the server's refusals (RUNNING.md, "Overload"): a request the server shed
// (429 GANTRY_E_RATE_LIMITED or 503 GANTRY_E_OVERLOADED, with Retry-After) is sent again after the
// wait it asked for, whatever its method, since it did nothing; a wait too long to sit out is
// reported at once; a 503 that is not a shed is never a reason to resend a non-idempotent request.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiResponseError, GantryClient } from '../../src/client/api-client.js';
import { retryAfterSeconds } from '../../src/client/shed-wait.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { GANTRY_BIN, sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from '../server/harness.js';

/** The token's rate on the test server: a few requests, then a minute's window to wait. */
const RATE = 12;

let h: Harness;
let repo: Sandbox;
let clientHome: string;

before(async () => {
  h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')), { deps: { overload: { perTokenPerMinute: RATE, maxWrites: 1 } } });
  repo = sandbox({ '.gantry.yml': 'a:\n  script: [true]\n' });
  clientHome = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-client-home-'));
});

after(async () => {
  await h.close();
  repo.cleanup();
  fs.rmSync(clientHome, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_HOME: clientHome, GANTRY_SERVER: h.url, GANTRY_TOKEN: h.admin };
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GANTRY_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err, ms: Date.now() - t0 }));
  });
}

/** A Gantry error answer: `{error: {code, message}}` (src/server/errors.ts). */
function answer(status: number, code: string, retryAfter: string): Response {
  return new Response(JSON.stringify({ error: { code, message: `failed; try again in ${retryAfter} s` } }), {
    status,
    headers: { 'content-type': 'application/json', 'retry-after': retryAfter },
  });
}

/**
 * Holds one write in flight on the server (bounded at one, below): a POST whose body is still
 * being sent counts from its first byte. Resolves with a release that sends the rest.
 */
async function holdAWrite(): Promise<() => Promise<void>> {
  const body = JSON.stringify({ name: 'held-write', gitUrl: repo.repo });
  const req = http.request(`${h.url}/api/v1/projects`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.admin}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
  });
  const done = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
  });
  req.write(body.slice(0, 5));
  req.flushHeaders();
  // The server has it once it answers other writes 503: wait for that, at most 5 s.
  for (let i = 0; i < 100; i++) {
    const probe = await h.api('POST', '/projects', { name: `probe-${i}`, gitUrl: repo.repo });
    await probe.body?.cancel();
    if (probe.status === 503) break;
    assert.notEqual(probe.status, 201, 'the probe was not refused: the write was not held');
    await new Promise((r) => setTimeout(r, 50));
  }
  return async () => {
    req.end(body.slice(5));
    await done;
  };
}

describe('the client and Retry-After', () => {
  it('a POST /projects the server shed at its bound of writes is sent again after the Retry-After it asked for, said on the way, and the project is created once', async () => {
    const release = await holdAWrite();
    const waits: Array<[number, string]> = [];
    let calls = 0;
    const client = new GantryClient({
      server: h.url,
      token: h.admin,
      onShedWait: (s, m) => {
        waits.push([s, m]);
        // The held write ends while the client waits: its retry finds room.
        void release();
      },
      fetch: async (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    const t0 = Date.now();
    const p = await client.createProject('shed-once', repo.repo);
    const took = Date.now() - t0;
    assert.equal(p.name, 'shed-once');
    assert.equal(calls, 2);
    assert.equal(waits.length, 1);
    const [seconds, message] = waits[0]!;
    assert.ok(seconds >= 1 && seconds <= 2, `Retry-After ${seconds} s`);
    assert.match(message, /the server is at its bound of 1 writes at once; try again in \d s/);
    assert.ok(took >= seconds * 1000, `waited ${took} ms for a Retry-After of ${seconds} s`);
    const listed = (await (await h.api('GET', '/projects')).json()) as { items: Array<{ name: string }> };
    assert.equal(listed.items.filter((x) => x.name === 'shed-once').length, 1);
  });

  it('a 503 that is not a shed (a proxy, a failing store) does not make a POST go twice', async () => {
    let calls = 0;
    const client = new GantryClient({
      server: h.url,
      token: h.admin,
      retryDelayMs: 1,
      fetch: async () => {
        calls++;
        return answer(503, 'GANTRY_E_STORE', '1');
      },
    });
    await assert.rejects(client.createProject('never', repo.repo), (e: unknown) => e instanceof ApiResponseError && e.status === 503);
    assert.equal(calls, 1);
  });

  it("a spent rate on a real server: the CLI does not sit out a minute's window, it exits 1 at once with the server's \"try again in N s\"", async () => {
    // The tests above spent some of the token's rate: list until refused, at most a rate's worth.
    let refused = await cli(['project', 'list']);
    for (let i = 0; i < RATE && refused.code === 0; i++) refused = await cli(['project', 'list']);
    assert.equal(refused.code, 1, refused.err);
    assert.match(refused.err, /GANTRY_E_RATE_LIMITED|try again in \d+ s/);
    assert.doesNotMatch(refused.err, /waiting \d+ s/);
    assert.doesNotMatch(refused.err, /\n\s+at /, 'no stack trace');
    assert.ok(refused.ms < 10_000, `answered in ${refused.ms} ms`);
  });

  it('Retry-After is read as seconds or as an HTTP date', () => {
    assert.equal(retryAfterSeconds('7'), 7);
    assert.equal(retryAfterSeconds(new Date(Date.UTC(2026, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2026, 0, 1, 0, 0, 0)), 30);
    assert.equal(retryAfterSeconds(null), null);
    assert.equal(retryAfterSeconds('soon'), null);
  });
});
