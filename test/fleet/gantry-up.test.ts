// `gantry up` (server and local agent in one process), `gantry trigger` and `gantry logs -f`.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { GANTRY_BIN } from '../helpers/gantry.js';
import { waitFor } from '../helpers/processes.js';
import { Fleet, freePort, HOST_ISOLATION } from './fleet-harness.js';

const execFileP = promisify(execFile);

describe('gantry up, gantry trigger and gantry logs -f', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('one command runs the server and a local agent; a trigger from the CLI runs; logs -f prints the log live to its end', async () => {
    const f = new Fleet({
      '.gantry.yml': 'hello:\n  script:\n    - for i in 1 2 3; do echo "hello $i"; sleep 0.2; done\n    - echo "tokens in the job= ${GANTRY_ADMIN_TOKEN:-none} ${GANTRY_AGENT_TOKEN:-none} ${SERVER_ENV_PLAIN:-none}"\n',
    });
    fleets.push(f);
    const port = await freePort();
    const child = spawn(process.execPath, [GANTRY_BIN, 'up', '--listen', `127.0.0.1:${port}`, '--concurrency', '2'], {
      // Tokens given to the server in its environment are its own: its local agent's jobs never see
      // them, while the rest of the environment reaches them as before.
      env: {
        ...process.env,
        GANTRY_HOME: f.sb.home,
        GANTRY_AGENT_HOME: path.join(f.sb.base, 'up-agent'),
        GANTRY_ADMIN_TOKEN: 'gantry_admin_from-the-environment-0123456789',
        GANTRY_AGENT_TOKEN: 'gantry_agent_from-the-environment-0123456789',
        SERVER_ENV_PLAIN: 'present',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    f.procs.push({ child, output: () => out });
    await waitFor('gantry up to print its URL', () => /Gantry is up at (http:\S+)/.exec(out), 20_000);
    const url = /Gantry is up at (http:\S+)/.exec(out)![1]!;
    assert.match(out, /Admin token: gantry_admin_/);
    // The first admin user, with its password shown this once; it signs in.
    const first = /First start: user admin created with password (\S+)\n/.exec(out);
    assert.ok(first, out);
    const signIn = await fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: first[1] }) });
    assert.equal(signIn.status, 200);
    f.url = url;
    f.adminToken = fs.readFileSync(path.join(f.sb.home, 'admin.token'), 'utf8').trim();
    await f.project();
    const env = { ...process.env, GANTRY_HOME: f.sb.home, GANTRY_SERVER: url };
    const trig = await execFileP(process.execPath, [GANTRY_BIN, 'trigger', '--project', 'demo', '--ref', 'main', '--json'], { env });
    const pipeline = JSON.parse(trig.stdout) as { id: number; jobs: Array<{ id: number }> };
    const logs = await execFileP(process.execPath, [GANTRY_BIN, 'logs', String(pipeline.id), 'hello', '-f'], { env, encoding: 'buffer' });
    const done = await f.waitPipeline(pipeline.id);
    assert.equal(done.status, 'success');
    assert.deepEqual(logs.stdout, await f.log(pipeline.jobs[0]!.id));
    assert.match(logs.stdout.toString(), /hello 1\nhello 2\nhello 3\n[\s\S]*Job succeeded/);
    // The server's own tokens never reach a job; the rest of its environment does under `none`,
    // and not in the sandbox, which starts from an allowlist (PATH, locale).
    assert.match(logs.stdout.toString(), HOST_ISOLATION === 'sandbox' ? /^tokens in the job= none none none$/m : /^tokens in the job= none none present$/m);
  });
});
