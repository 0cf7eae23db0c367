// `gantry agent` and isolation, through the real bin/gantry: the check's table on this host (the
// sandbox passes, `none` fails), the refusal to start a sandbox this host cannot run (no
// bubblewrap on the PATH), and where the registration token may come from (--token warns,
// --token-file registers). Each run has its own GANTRY_AGENT_HOME.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Fleet } from '../fleet/fleet-harness.js';
import { GANTRY_BIN } from '../helpers/gantry.js';
import { sandboxUnavailable } from '../helpers/sandbox-host.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** The environment of a run: this one's, without any token or home of the test runner's. */
function agentEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_KILL_GRACE_MS: '300' };
  for (const k of Object.keys(env)) if (k.startsWith('GANTRY_') && k !== 'GANTRY_KILL_GRACE_MS') delete env[k];
  const base = tempDir('gantry-agent-cli-');
  return { ...env, GANTRY_HOME: path.join(base, 'home'), GANTRY_AGENT_HOME: path.join(base, 'agent'), ...extra };
}

/** Runs `gantry agent ARGS` to its end. */
function agent(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GANTRY_BIN, 'agent', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const noSandbox = sandboxUnavailable();
const needsSandbox = noSandbox !== null && process.env.CI !== 'true' ? `this host cannot run the sandbox: ${noSandbox}` : false;
if (needsSandbox) console.log(`# skipping the sandbox's CLI tests: ${needsSandbox}`);

describe('gantry agent and isolation', () => {
  it('--check-isolation on this host prints every probe ok and PASSED, and exits 0', { skip: needsSandbox }, async () => {
    if (noSandbox) assert.fail(`CI=true: the sandbox must be available here:\n${noSandbox}`);
    const r = await agent(['--check-isolation'], agentEnv({}));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^isolation sandbox; a job's limits here: memory .*, 4096 processes$/m);
    const rows = r.stdout.split('\n').filter((l) => /^(ok|FAIL)\s/.test(l));
    assert.ok(rows.length >= 15, r.stdout);
    assert.deepEqual(rows.filter((l) => !l.startsWith('ok')), [], r.stdout);
    for (const area of ['files', 'processes', 'environment', 'network', 'limits']) assert.ok(rows.some((l) => l.split(/\s+/)[1] === area), `a ${area} probe\n${r.stdout}`);
    assert.match(r.stdout, /^PASSED: \d+ probes, every one as docs\/SECURITY\.md requires$/m);
  });

  it('--check-isolation with --isolation none prints FAIL rows and exits 1 with GANTRY_E_ISOLATION_CHECK_FAILED', async () => {
    const r = await agent(['--check-isolation', '--isolation', 'none'], agentEnv({}));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^isolation none; a job's limits here: no limits$/m);
    const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    // Unisolated, a job reads another project's workspace and sees the agent's processes.
    assert.ok(fails.some((l) => /read another project's workspace/.test(l)), r.stdout);
    assert.ok(fails.some((l) => /see processes outside the job/.test(l)), r.stdout);
    assert.match(r.stdout, /^FAILED: \d+ of \d+ probes reached what docs\/SECURITY\.md forbids$/m);
    assert.match(r.stderr, /GANTRY_E_ISOLATION_CHECK_FAILED/);
  });

  it('--isolation sandbox on a PATH without bubblewrap refuses to start, naming the package to install', async () => {
    // A PATH with what an agent uses (setpriv, git, a shell) but no bwrap.
    const bin = tempDir('gantry-path-');
    for (const tool of ['setpriv', 'git', 'sh', 'bash']) {
      const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => path.join(d, tool)).find((p) => fs.existsSync(p));
      if (found) fs.symlinkSync(found, path.join(bin, tool));
    }
    const r = await agent(['--isolation', 'sandbox', '--server', 'http://127.0.0.1:9'], agentEnv({ PATH: bin, GANTRY_AGENT_TOKEN: 'unused' }));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /GANTRY_E_SANDBOX_UNAVAILABLE/);
    assert.match(r.stderr, /bubblewrap \(bwrap\) is not installed/);
    assert.match(r.stderr, /apt-get install bubblewrap/);
    assert.match(r.stderr, /--isolation none/);
    assert.doesNotMatch(r.stderr, /connected to/);
  });

  describe('the registration token', () => {
    let f: Fleet;
    after(async () => {
      await f?.teardown();
    });

    /** Starts `gantry agent`, waits for `until` in its output, stops it; returns what it printed. */
    async function agentUntil(args: string[], env: NodeJS.ProcessEnv, until: RegExp): Promise<string> {
      const child = spawn(process.execPath, [GANTRY_BIN, 'agent', '--server', f.url, '--isolation', 'none', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      try {
        for (const end = Date.now() + 20_000; !until.test(out); await new Promise((r) => setTimeout(r, 25))) {
          if (child.exitCode !== null) throw new Error(`the agent exited ${child.exitCode}:\n${out}`);
          if (Date.now() > end) throw new Error(`the agent never printed ${until}:\n${out}`);
        }
      } finally {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await exited;
        }
      }
      return out;
    }

    it('--token VALUE works but warns that other users of the host can read it', async () => {
      f = new Fleet({ '.gantry.yml': 'job:\n  script: [true]\n' });
      await f.startServer();
      const out = await agentUntil(['--token', f.agentToken, '--name', 'by-flag'], agentEnv({}), /connected to/);
      assert.match(out, /warning: --token puts the registration token on the command line, where every user of this host can read it \(ps, \/proc\); use GANTRY_AGENT_TOKEN or --token-file/);
      assert.match(out, /registered as agent \d+/);
    });

    it('--token-file registers without a warning; an empty or missing file is refused', async () => {
      const dir = tempDir('gantry-token-');
      const file = path.join(dir, 'agent.token');
      fs.writeFileSync(file, `${f.agentToken}\n`, { mode: 0o600 });
      const out = await agentUntil(['--token-file', file, '--name', 'by-file'], agentEnv({}), /connected to/);
      assert.match(out, /registered as agent \d+/);
      assert.doesNotMatch(out, /warning/);
      const names = (await f.api<{ items: { name: string }[] }>('GET', '/agents')).body.items.map((a) => a.name);
      assert.ok(names.includes('by-file'), names.join(', '));
      fs.writeFileSync(path.join(dir, 'empty'), '\n');
      const empty = await agent(['--server', f.url, '--isolation', 'none', '--token-file', path.join(dir, 'empty')], agentEnv({}));
      assert.equal(empty.code, 2, empty.stderr);
      assert.match(empty.stderr, /--token-file .*empty is empty/);
      const missing = await agent(['--server', f.url, '--isolation', 'none', '--token-file', path.join(dir, 'missing')], agentEnv({}));
      assert.match(missing.stderr, /--token-file .*missing: ENOENT/);
    });
  });
});
