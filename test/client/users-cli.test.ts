// `gantry user add|list|disable|enable|passwd`: the real bin/gantry against a real server
// (in-process, SQLite) over loopback, passwords given on stdin.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { GANTRY_BIN } from '../helpers/gantry.js';
import { startHarness, type Harness } from '../server/harness.js';

interface Result {
  code: number | null;
  out: string;
  err: string;
}

let h: Harness;
let clientHome: string;

function cli(args: string[], input?: string): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_HOME: clientHome, GANTRY_SERVER: h.url, GANTRY_TOKEN: h.admin };
  delete env.NO_COLOR;
  delete env.GANTRY_DEBUG;
  return new Promise((resolve, reject) => {
    // stdin is a pipe (or nothing), never a terminal: the password comes from --password-stdin or not at all.
    const child = spawn(process.execPath, [GANTRY_BIN, ...args], { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

function ok(r: Result): Result {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r;
}

const signIn = (username: string, password: string) =>
  fetch(`${h.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });

before(async () => {
  h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
  clientHome = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-users-cli-'));
});
after(async () => {
  await h.close();
  fs.rmSync(clientHome, { recursive: true, force: true });
});

it('user add, list, passwd, disable and enable, end to end', async () => {
  assert.match(ok(await cli(['user', 'add', 'alice', '--password-stdin'], 'alice-password-123\n')).out, /^user alice created\n$/);
  const admin = JSON.parse(ok(await cli(['user', 'add', 'root', '--admin', '--password-stdin', '--json'], 'root-password-1234')).out) as { username: string; admin: boolean };
  assert.deepEqual([admin.username, admin.admin], ['root', true]);
  assert.equal((await signIn('alice', 'alice-password-123')).status, 200, 'the trailing newline is not part of the password');

  const table = ok(await cli(['user', 'list'])).out;
  assert.match(table, /^ID\s+USERNAME\s+ADMIN\s+DISABLED\s+CREATED \(UTC\)\n/);
  assert.match(table, /\balice\s+no\s+no\b/);
  assert.match(table, /\broot\s+yes\s+no\b/);
  const listed = JSON.parse(ok(await cli(['user', 'list', '--json'])).out) as { items: Array<{ username: string }> };
  assert.deepEqual(listed.items.map((u) => u.username), ['alice', 'root']);

  const session = await signIn('alice', 'alice-password-123');
  const cookie = session.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  assert.match(ok(await cli(['user', 'passwd', 'alice', '--password-stdin'], 'alice-new-password-1')).out, /password of alice changed/);
  assert.equal((await signIn('alice', 'alice-password-123')).status, 401);
  assert.equal((await signIn('alice', 'alice-new-password-1')).status, 200);
  assert.equal((await fetch(`${h.url}/api/v1/projects`, { headers: { cookie } })).status, 401, 'a new password ends the old sessions');

  const live = await signIn('alice', 'alice-new-password-1');
  const liveCookie = live.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  assert.equal((await fetch(`${h.url}/api/v1/projects`, { headers: { cookie: liveCookie } })).status, 200);
  assert.match(ok(await cli(['user', 'disable', 'alice'])).out, /^user alice, disabled\n$/);
  assert.equal((await fetch(`${h.url}/api/v1/projects`, { headers: { cookie: liveCookie } })).status, 401);
  assert.equal((await signIn('alice', 'alice-new-password-1')).status, 401);
  ok(await cli(['user', 'enable', 'alice']));
  assert.equal((await signIn('alice', 'alice-new-password-1')).status, 200);
});

it('a password comes from stdin or a terminal, never the command line; a short one is refused with its code; errors exit as documented', async () => {
  const noTerminal = await cli(['user', 'add', 'bob']);
  assert.equal(noTerminal.code, 2);
  assert.match(noTerminal.err, /no terminal to ask the password on: give it on stdin with --password-stdin \[GANTRY_E_USAGE\]/);
  assert.equal((await cli(['user', 'add', 'bob', '--password', 'bob-password-1234'])).code, 2, 'there is no --password option');
  assert.equal((await cli(['user', 'add', 'bob', '--password-stdin'], '')).code, 2);
  const short = await cli(['user', 'add', 'bob', '--password-stdin'], 'short\n');
  assert.equal(short.code, 1);
  assert.match(short.err, /a password needs at least 12 characters; this one has 5 \[GANTRY_E_PASSWORD_TOO_SHORT\]/);
  const taken = await cli(['user', 'add', 'root', '--password-stdin'], 'root-password-1234');
  assert.equal(taken.code, 1);
  assert.match(taken.err, /GANTRY_E_CONFLICT/);
  const missing = await cli(['user', 'disable', 'nobody']);
  assert.equal(missing.code, 3);
  // Anyone but an admin is refused.
  const refused = await cli(['user', 'list', '--token', 'gantry_admin_not-a-real-token']);
  assert.equal(refused.code, 4);
});

it('token create|list|revoke --user: a personal access token printed once, narrowed and read-only, listed without its value, revoked', async () => {
  ok(await cli(['user', 'add', 'tina', '--password-stdin'], 'tina-password-1234'));
  assert.equal((await fetch(`${h.url}/api/v1/projects`, { method: 'POST', headers: { authorization: `Bearer ${h.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'site', gitUrl: '/nowhere' }) })).status, 201);
  const made = ok(await cli(['token', 'create', '--user', 'tina', '--description', 'laptop', '--project', 'site', '--read-only', '--expires', '2099-01-01']));
  const token = made.out.trim();
  assert.match(token, /^gantry_personal_/);
  assert.match(made.err, /personal access token #\d+ of tina: store it now/);
  // It acts as tina: no role in site yet, so site does not exist for it.
  const get = (p: string) => fetch(`${h.url}/api/v1${p}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await get('/projects/site')).status, 404);
  const listed = ok(await cli(['token', 'list', '--user', 'tina']));
  assert.match(listed.out, /laptop\s+\d+\s+read-only\s+2099-01-01/);
  assert.equal(listed.out.includes(token), false);
  const id = (JSON.parse(ok(await cli(['token', 'list', '--user', 'tina', '--json'])).out) as { items: Array<{ id: number }> }).items[0]!.id;
  assert.match(ok(await cli(['token', 'revoke', '--user', 'tina', String(id)])).out, new RegExp(`^personal access token #${id} of tina revoked\\n$`));
  assert.equal((await get('/projects')).status, 401);
  assert.equal((await cli(['token', 'create', '--user', 'tina'])).code, 2, '--description is required');
  assert.equal((await cli(['token', 'create', 'site', '--read-only'])).code, 2, 'trigger tokens are not narrowed');
  assert.equal((await cli(['token', 'list'])).code, 2);
});
