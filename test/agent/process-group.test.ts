import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InProcessLauncher, ProcessLauncher, type Launcher } from '../../src/agent/launcher/launcher.js';
import { runScript } from '../../src/agent/process-group.js';
import { stepScript } from '../../src/agent/script.js';
import { isDead, waitFor } from '../helpers/processes.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-pg-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(lines: string[], opts: { timeoutMs?: number; graceMs?: number; abortAfterMs?: number } = {}) {
  const chunks: Buffer[] = [];
  const controller = new AbortController();
  if (opts.abortAfterMs !== undefined) setTimeout(() => controller.abort(), opts.abortAfterMs);
  const result = await runScript({
    script: stepScript(lines),
    scratchDir: dir,
    spoolPath: path.join(dir, `spool-${Math.random().toString(36).slice(2)}`),
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    onOutput: (c) => chunks.push(c),
    timeoutMs: opts.timeoutMs ?? null,
    graceMs: opts.graceMs ?? 200,
    signal: controller.signal,
    launcher,
  });
  return { result, output: Buffer.concat(chunks).toString() };
}

let launcher: Launcher = new InProcessLauncher();
for (const [kind, make] of [
  ['started from this process', () => new InProcessLauncher()],
  ['started by the launcher process', () => new ProcessLauncher()],
] as const) describe(`a job script ${kind}`, () => {
  before(() => {
    launcher = make();
  });
  after(() => launcher.close());

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
    const { result } = await run([`sleep 30 & echo $! > ${pidFile}`, 'sleep 30'], { timeoutMs: 300, graceMs: 200 });
    assert.equal(result.stoppedFor, 'timeout');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(await waitFor('the background sleep to die', () => isDead(pid), 1000));
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
