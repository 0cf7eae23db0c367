import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gantry, logsOf, sandbox, startGantry, type Sandbox } from '../helpers/gantry.js';
import { isDead, waitFor } from '../helpers/processes.js';

const boxes: Sandbox[] = [];
after(() => boxes.forEach((b) => b.cleanup()));

describe('interrupting gantry run', () => {
  it('Ctrl-C stops every running job process group and cancels the pipeline', async () => {
    const marks = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-marks-'));
    const sb = sandbox({
      '.gantry.yml': `
stages: [one, two]
slow:
  stage: one
  parallel: 2
  script:
    - sleep 30 & echo $! > "$MARKS/bg-$CI_NODE_INDEX"
    - echo $$ > "$MARKS/sh-$CI_NODE_INDEX"
    - sleep 30
later:
  stage: two
  script: [ "echo never" ]
`,
    });
    boxes.push(sb);
    const child = startGantry(sb, ['run', '--json', '--var', `MARKS=${marks}`, '--concurrency', '2']);
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const pids = await waitFor('both jobs to start', () => {
      const f = ['bg-1', 'bg-2', 'sh-1', 'sh-2'].map((n) => path.join(marks, n));
      return f.every((x) => fs.existsSync(x) && fs.readFileSync(x, 'utf8').trim()) && f.map((x) => Number(fs.readFileSync(x, 'utf8')));
    });
    const started = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 130, stderr);
    assert.ok(Date.now() - started < 10_000, 'took too long to cancel');
    for (const pid of pids) assert.ok(await waitFor(`pid ${pid} to die`, () => isDead(pid), 3000));

    const result = JSON.parse(stdout) as { status: string; jobs: { name: string; status: string; failureReason: string | null }[] };
    assert.equal(result.status, 'canceled');
    assert.deepEqual(
      result.jobs.map((j) => [j.name, j.status, j.failureReason]),
      [
        ['slow 1/2', 'canceled', 'canceled'],
        ['slow 2/2', 'canceled', 'canceled'],
        ['later', 'canceled', 'canceled'],
      ],
    );
    const list = JSON.parse((await gantry(sb, ['pipelines', '--json'])).out) as { items: { id: number; status: string }[] };
    assert.equal(list.items[0]!.status, 'canceled');
    fs.rmSync(marks, { recursive: true, force: true });
  });

  it('after kill -9 of gantry run, the next command fails the orphaned pipeline and its log is readable', async () => {
    const marks = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-marks-'));
    const sb = sandbox({
      '.gantry.yml': `
talk:
  script:
    - for i in 1 2 3; do echo "line $i"; done
    - echo $$ > "$MARKS/pid"
    - sleep 30
`,
    });
    boxes.push(sb);
    const child = startGantry(sb, ['run', '--var', `MARKS=${marks}`]);
    child.stdout!.resume();
    child.stderr!.resume();
    const pid = await waitFor('the job to start', () => fs.existsSync(path.join(marks, 'pid')) && Number(fs.readFileSync(path.join(marks, 'pid'), 'utf8')));
    // The log can be read while the job runs; kill only once the lines are in it.
    for (let i = 0; i < 100 && !/line 3\n/.test(await logsOf(sb, 1, 'talk').catch(() => '')); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    try {
      const log = await logsOf(sb, 1, 'talk');
      assert.match(log, /line 1\nline 2\nline 3\n/);
      const list = JSON.parse((await gantry(sb, ['pipelines', '--json'])).out) as { items: { status: string }[] };
      assert.equal(list.items[0]!.status, 'failed');
    } finally {
      // The job's process group outlives a kill -9 of its runner (as with any CI runner); this test
      // started it, so this test stops it.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      fs.rmSync(marks, { recursive: true, force: true });
    }
  });
});
