import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InProcessLauncher, ProcessLauncher, type Launcher } from '../../src/agent/launcher/launcher.js';
import { runScript } from '../../src/agent/process-group.js';
import { stepScript } from '../../src/agent/script.js';
import { isDead, waitFor } from '../helpers/processes.js';
import { NoIsolation, type Isolation, type JobIsolation } from '../../src/agent/isolation.js';
import { NO_LIMITS } from '../../src/domain/isolation.js';
import { testSandbox } from '../helpers/sandbox-host.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-pg-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let isolation: Isolation = new NoIsolation({ PATH: process.env.PATH ?? '/usr/bin:/bin' });

function forJob(): JobIsolation {
  const job = isolation.forJob({ slot: 0, workspace: dir, borrowedObjects: null, network: 'full', limits: NO_LIMITS, scriptDir: path.join(dir, 'scripts'), trusted: true });
  job.adoptWorkspace(dir);
  return job;
}

/** Whether a process the script started is gone: by pid under `none`; in the sandbox (pids are the namespace's), none of its user is left. */
function goneFrom(job: JobIsolation, pid: number): boolean {
  if (!job.owner) return isDead(pid);
  return fs.readdirSync('/proc').every((e) => !/^\d+$/.test(e) || (() => { try { return fs.statSync(`/proc/${e}`).uid !== job.owner!.uid; } catch { return true; } })());
}

async function run(lines: string[], opts: { timeoutMs?: number; graceMs?: number; abortAfterMs?: number } = {}) {
  const chunks: Buffer[] = [];
  const controller = new AbortController();
  if (opts.abortAfterMs !== undefined) setTimeout(() => controller.abort(), opts.abortAfterMs);
  const job = forJob();
  try {
  const result = await runScript({
    script: stepScript(lines),
    isolation: job,
    spoolPath: path.join(dir, `spool-${Math.random().toString(36).slice(2)}`),
    cwd: dir,
    env: job.baseEnv,
    onOutput: (c) => chunks.push(c),
    timeoutMs: opts.timeoutMs ?? null,
    graceMs: opts.graceMs ?? 200,
    signal: controller.signal,
    launcher,
  });
  return { result, output: Buffer.concat(chunks).toString(), job };
  } finally {
    job.dispose();
  }
}

let launcher: Launcher = new InProcessLauncher();
const sandboxed = testSandbox('job scripts in the sandbox');
for (const [kind, make, level] of [
  ['started from this process', () => new InProcessLauncher(), 'none'],
  ['started by the launcher process', () => new ProcessLauncher(), 'none'],
  ...(sandboxed ? ([['started by the launcher process in the sandbox', () => new ProcessLauncher(), 'sandbox']] as const) : []),
] as const) describe(`a job script ${kind}`, () => {
  before(() => {
    launcher = make();
    isolation = level === 'sandbox' ? sandboxed!.isolation : new NoIsolation({ PATH: process.env.PATH ?? '/usr/bin:/bin' });
  });
  after(() => launcher.close());

  it('gives the output it has read back to the disk as it goes: 100 MB printed, every byte read, the spool holds a fraction of it while the job runs and almost none at the end', async () => {
    const job = forJob();
    // The sandbox spools where its launcher may write.
    const spoolPath = job.spoolPath ?? path.join(dir, `spool-big-${Math.random().toString(36).slice(2)}`);
    let bytes = 0;
    let zeros = 0;
    let biggest = 0;
    const result = await runScript({
      // 1 MB every 20 ms: a fast printer, but one the reader keeps up with (a writer faster than
      // the agent reads, `head -c` from /dev/zero at disk speed, is ahead by what it has written).
      script: stepScript(['for i in $(seq 100); do head -c 1000000 /dev/zero; sleep 0.02; done']),
      isolation: job,
      spoolPath,
      cwd: dir,
      env: job.baseEnv,
      onOutput: (c) => {
        bytes += c.length;
        for (const b of c) if (b === 0) zeros++;
        biggest = Math.max(biggest, fs.statSync(spoolPath).blocks * 512);
      },
      timeoutMs: null,
      graceMs: 200,
      signal: new AbortController().signal,
      launcher,
    });
    job.dispose();
    assert.equal(result.exitCode, 0);
    assert.ok(bytes >= 100_000_000 && bytes < 100_001_000, `${bytes} bytes read`);
    // A hole reads as zeros too, so the count alone would not tell; but it is punched only behind
    // the reader, and the command line echoed first is still read whole.
    assert.equal(zeros, 100_000_000, 'the bytes read are the bytes printed');
    const left = fs.statSync(spoolPath);
    assert.ok(left.size >= 100_000_000, 'the file keeps its size and offsets');
    assert.ok(left.blocks * 512 < 1 << 20, `the spool holds ${left.blocks * 512} bytes on disk at the end`);
    // While it ran: punched every 16 MiB, one punch at a time, while the writer went on.
    assert.ok(biggest < 100_000_000 / 2, `the spool held at most ${biggest} bytes on disk while the job ran`);
  });

  it('echoes each command as "$ command" and runs it', async () => {
    const { result, output } = await run(['echo hello']);
    assert.equal(result.exitCode, 0);
    assert.match(output, /\$ echo hello\x1b\[0;m\nhello\n/);
  });

  it('stops at the first failing line with its exit code, as set -e does', async () => {
    const { result, output } = await run(['echo one', 'exit 7', 'echo never']);
    assert.equal(result.exitCode, 7);
    assert.doesNotMatch(output, /never\n/);
  });

  it('fails a pipeline whose first command fails (pipefail)', async () => {
    const { result } = await run(['false | true']);
    assert.equal(result.exitCode, 1);
  });

  it('sends stderr into the log in order with stdout', async () => {
    const { output } = await run(['echo out1; echo err1 >&2; echo out2']);
    assert.match(output, /out1\nerr1\nout2\n/);
  });

  it('on timeout, stops the whole process group, background children included', async () => {
    const pidFile = path.join(dir, 'bg.pid');
    const { result, job } = await run([`sleep 30 & echo $! > ${pidFile}`, 'sleep 30'], { timeoutMs: 300, graceMs: 200 });
    assert.equal(result.stoppedFor, 'timeout');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(await waitFor('the background sleep to die', () => goneFrom(job, pid), 1000));
  });

  it('a process that ignores SIGTERM is killed after the grace period', async () => {
    const started = Date.now();
    const { result } = await run(["trap '' TERM; sleep 30"], { abortAfterMs: 200, graceMs: 300 });
    assert.equal(result.stoppedFor, 'canceled');
    const took = Date.now() - started;
    assert.ok(took >= 450 && took < 5000, `took ${took} ms`);
  });

  it('a script too long for one argument runs from a file', async () => {
    const { result, output } = await run([`echo ${'x'.repeat(150_000)} | wc -c`]);
    assert.equal(result.exitCode, 0);
    assert.match(output, /\n150001\n/);
  });

  it('background processes left by a finished script do not keep the job running', async () => {
    const started = Date.now();
    const { result } = await run(['sleep 30 &', 'echo done']);
    assert.equal(result.exitCode, 0);
    assert.ok(Date.now() - started < 5000);
  });
});
