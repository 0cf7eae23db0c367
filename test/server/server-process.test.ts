// The real `bin/gantry server` as a child process on a free loopback port, with a temp
// GANTRY_HOME: first start, tokens, a trigger over real HTTP, and a clean stop on SIGTERM.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, it } from 'node:test';
import { GANTRY_BIN, sandbox } from '../helpers/gantry.js';

interface Child {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

async function startServer(home: string, env: Record<string, string> = {}): Promise<Child> {
  const proc = spawn(process.execPath, [GANTRY_BIN, 'server', '--listen', '127.0.0.1:0'], {
    env: { ...process.env, GANTRY_HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 15_000);
    const check = () => {
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
  return { proc, url, output: () => out };
}

function stop(child: Child): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.proc.exitCode !== null) return resolve(child.proc.exitCode);
    child.proc.once('exit', (code) => resolve(code));
    child.proc.kill('SIGTERM');
  });
}

const sb = sandbox({ '.gantry.yml': 'build:\n  script: [make]\ntest:\n  stage: test\n  script: [make test]\n' });
after(() => sb.cleanup());

it('gantry server starts, writes 0600 token files, serves the API over loopback and stops on SIGTERM', async () => {
  const home = sb.home;
  const child = await startServer(home);
  try {
    for (const f of ['admin.token', 'agent.token', 'secrets.key']) {
      assert.equal(fs.statSync(path.join(home, f)).mode & 0o777, 0o600, f);
    }
    const admin = fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
    const agent = fs.readFileSync(path.join(home, 'agent.token'), 'utf8').trim();
    // Where the tokens are is logged; the tokens themselves never are.
    assert.match(child.output(), /admin\.token/);
    const auth = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
    assert.equal((await fetch(`${child.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${child.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${child.url}/api/v1/projects`)).status, 401);
    const created = await fetch(`${child.url}/api/v1/projects`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'repo', gitUrl: sb.repo }) });
    assert.equal(created.status, 201);
    const put = await fetch(`${child.url}/api/v1/projects/repo/variables/SECRET_VALUE`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ value: 'do-not-log-me', masked: true }),
    });
    assert.equal(put.status, 204);
    const trig = await fetch(`${child.url}/api/v1/projects/repo/pipelines`, {
      method: 'POST',
      headers: { ...auth, 'idempotency-key': 'k' },
      body: JSON.stringify({ ref: 'main' }),
    });
    assert.equal(trig.status, 201);
    const p = (await trig.json()) as { id: number; jobs: Array<{ name: string }> };
    assert.deepEqual(p.jobs.map((j) => j.name), ['build', 'test']);
    const got = await fetch(`${child.url}/api/v1/pipelines/${p.id}`, { headers: auth });
    assert.deepEqual(await got.json(), p);
    // Agent-protocol requests (many per job) are logged only when they fail; people's requests are.
    const registered = await fetch(`${child.url}/api/v1/agent/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'quiet', tags: [], concurrency: 1, version: 'test', protocol: 1 }),
    });
    assert.equal(registered.status, 201);
    await new Promise((r) => setTimeout(r, 200));
    assert.match(child.output(), /"url":"\/api\/v1\/pipelines\//);
    assert.doesNotMatch(child.output(), /"url":"\/api\/v1\/agent\//);
    const log = child.output();
    for (const secret of [admin, agent, 'do-not-log-me']) assert.ok(!log.includes(secret), 'a secret reached the log');
    assert.equal(await stop(child), 0);
    assert.match(child.output(), /shutting down/);
  } finally {
    await stop(child);
  }

  // A second start keeps the tokens and the data; a token given in the environment is accepted too.
  const again = await startServer(home, { GANTRY_ADMIN_TOKEN: 'gantry_admin_given-by-the-operator-0123456789' });
  try {
    const admin = fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
    assert.equal(admin, 'gantry_admin_given-by-the-operator-0123456789');
    const list = await fetch(`${again.url}/api/v1/projects`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(list.status, 200);
    assert.deepEqual(((await list.json()) as { items: Array<{ name: string }> }).items.map((x) => x.name), ['repo']);
    const replay = await fetch(`${again.url}/api/v1/projects/repo/pipelines`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'idempotency-key': 'k' },
      body: JSON.stringify({ ref: 'main' }),
    });
    // The key outlived the restart.
    assert.equal(replay.status, 200);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  } finally {
    assert.equal(await stop(again), 0);
  }
});
