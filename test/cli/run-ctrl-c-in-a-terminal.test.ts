// Ctrl-C in a terminal is SIGINT to the whole foreground process group: `gantry run` and its
// process launcher alike. The jobs must still get SIGTERM, the grace period and then SIGKILL;
// a second Ctrl-C stops waiting and leaves no job behind, even one that ignores SIGTERM.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { GANTRY_BIN, gantryEnv, logsOf, withSandbox, type Sandbox } from '../helpers/gantry.js';
import { isDead, waitFor } from '../helpers/processes.js';

/** `gantry run` as the leader of its own process group, as a shell starts a foreground command. */
function startInOwnGroup(sb: Sandbox, args: string[], env: Record<string, string>): { child: ChildProcess; out: () => string; closed: Promise<number | null> } {
  const child = spawn(process.execPath, [GANTRY_BIN, ...args], { cwd: sb.repo, env: gantryEnv(sb.home, env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, out: () => out, closed };
}

function killQuietly(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

describe('gantry run: Ctrl-C in a terminal', () => {
  it('SIGINT to the whole process group still gives a job that traps SIGTERM its grace, then SIGKILL', async () => {
    await withSandbox({}, async (sb) => {
      const pidFile = path.join(sb.base, 'job.pid');
      sb.write(
        '.gantry.yml',
        `slow:
  script:
    - trap 'echo got-term; sleep 5; echo trap-finished' TERM; echo $$ > ${pidFile}; sleep 30 & wait
`,
      );
      sb.commit();
      const run = startInOwnGroup(sb, ['run', '--json'], { GANTRY_KILL_GRACE_MS: '300' });
      let jobPid = 0;
      try {
        jobPid = await waitFor('the job to start', () => fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8').trim()));
        const sent = Date.now();
        process.kill(-run.child.pid!, 'SIGINT');
        assert.ok(await waitFor('the job to be killed', () => isDead(jobPid), 4000));
        assert.ok(Date.now() - sent < 2500, `the job lived ${Date.now() - sent} ms after Ctrl-C with a 300 ms grace`);
        assert.equal(await run.closed, 130, run.out());
        const id = (JSON.parse(run.out().slice(0, run.out().lastIndexOf('}') + 1).slice(run.out().indexOf('{"id"'))) as { id: number }).id;
        const log = await logsOf(sb, id, 'slow');
        assert.match(log, /^got-term$/m, 'the output written after SIGTERM is in the log');
        assert.doesNotMatch(log, /^trap-finished$/m);
      } finally {
        if (jobPid) killQuietly(jobPid);
        killQuietly(run.child.pid!);
      }
    });
  });

  it('a second Ctrl-C exits at once and kills jobs that ignore SIGTERM', async () => {
    await withSandbox({}, async (sb) => {
      const pidFile = path.join(sb.base, 'job.pid');
      sb.write(
        '.gantry.yml',
        `stubborn:
  script:
    - trap '' TERM; echo $$ > ${pidFile}; sleep 30 & wait
`,
      );
      sb.commit();
      const run = startInOwnGroup(sb, ['run'], { GANTRY_KILL_GRACE_MS: '20000' });
      let jobPid = 0;
      try {
        jobPid = await waitFor('the job to start', () => fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8').trim()));
        process.kill(-run.child.pid!, 'SIGINT');
        await waitFor('the first Ctrl-C to be seen', () => run.out().includes('canceling the pipeline'), 4000);
        process.kill(-run.child.pid!, 'SIGINT');
        assert.equal(await run.closed, 130, run.out());
        assert.ok(await waitFor('the job to be killed', () => isDead(jobPid), 2000));
      } finally {
        if (jobPid) killQuietly(jobPid);
        killQuietly(run.child.pid!);
      }
    });
  });
});
