// The real `bin/gantry server` in a temp GANTRY_HOME: on first start, with no users, it makes the
// user `admin` and prints its password once (on stderr, outside the JSON log); the password signs
// in; the second start makes and prints nothing; the admin token works throughout.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { GANTRY_BIN } from '../helpers/gantry.js';

interface Child {
  proc: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
}

async function startServer(home: string): Promise<Child> {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_HOME: home };
  delete env.GANTRY_ADMIN_TOKEN;
  delete env.GANTRY_DB;
  const proc = spawn(process.execPath, [GANTRY_BIN, 'server', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}\n${err}`)), 20_000);
    proc.stdout!.on('data', () => {
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}\n${err}`)));
  });
  return { proc, url, stdout: () => out, stderr: () => err };
}

function stop(child: Child): Promise<void> {
  return new Promise((resolve) => {
    if (child.proc.exitCode !== null) return resolve();
    child.proc.once('exit', () => resolve());
    child.proc.kill('SIGTERM');
  });
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-first-start-'));
after(() => fs.rmSync(home, { recursive: true, force: true }));

const signIn = (url: string, password: string) =>
  fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });

it('the first start makes the user admin and prints its password once; the second start does not; the admin token keeps working', async () => {
  const first = await startServer(home);
  let password: string;
  try {
    const m = /First start: user admin created with password (\S+)\n/.exec(first.stderr());
    assert.ok(m, `no password printed:\n${first.stderr()}`);
    password = m[1]!;
    assert.ok(password.length >= 12);
    assert.equal(first.stderr().split(password).length - 1, 1, 'printed once');
    // The JSON log says a user was made, never its password.
    assert.match(first.stdout(), /first start: admin user \\"admin\\" created/);
    assert.equal(first.stdout().includes(password), false);
    const res = await signIn(first.url, password);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { user: { admin: boolean } }).user.admin, true);
  } finally {
    await stop(first);
  }
  assert.equal(fs.readFileSync(path.join(home, 'gantry.db')).toString('latin1').includes(password), false, 'only its hash is stored');

  const second = await startServer(home);
  try {
    assert.doesNotMatch(second.stderr(), /First start/);
    assert.doesNotMatch(second.stdout(), /first start/);
    assert.equal((await signIn(second.url, password)).status, 200);
    const admin = fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
    const users = await fetch(`${second.url}/api/v1/users`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(users.status, 200);
    assert.deepEqual(((await users.json()) as { items: Array<{ username: string }> }).items.map((u) => u.username), ['admin']);
  } finally {
    await stop(second);
  }
});
