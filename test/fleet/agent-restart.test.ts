// What an agent killed with -9 leaves behind, and what its next start does with it: the job
// process groups die with the agent (its launcher kills them), or, if the launcher died too, at
// the next start; the attempt is lost at once (new session) and retried; one process per home.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { isDead, waitFor } from '../helpers/processes.js';
import { Fleet, HOST_ISOLATION } from './fleet-harness.js';

const PIPELINE = `long:
  script:
    - echo "pid $$ on $CI_RUNNER_DESCRIPTION"
    - if [ "$CI_RUNNER_DESCRIPTION" = first ]; then sleep 120; fi
    - echo "done on $CI_RUNNER_DESCRIPTION"
`;

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('an agent killed with -9, and its next start', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  /** A fleet whose agent `first` runs the long job; the job's pid from its log. */
  async function firstAgentRunning(isolation?: 'none' | 'sandbox') {
    const f = new Fleet({ '.gantry.yml': PIPELINE });
    fleets.push(f);
    await f.startServer();
    await f.project();
    // Once its isolation check is done: the check has a launcher of its own while it runs.
    const first = await f.startAgent({ name: 'first', isolation, waitForCheck: true });
    const p = await f.trigger();
    const jobId = p.jobs[0]!.id;
    const pid = Number((await f.waitLog(jobId, 1, /pid (\d+) on first/))[1]);
    return { f, first, p, jobId, pid };
  }

  it('its launcher kills the running job at once; restarted on the same home, the attempt is lost and retried', async () => {
    const { f, first, p, jobId, pid } = await firstAgentRunning();
    await f.kill(first);
    await waitFor(`the job (pid ${pid}) to die with its agent`, () => !f.jobAlive(first, pid), 5_000);
    await f.startAgent({ name: 'second', home: first.home });
    const done = await f.waitPipeline(p.id);
    assert.equal(done.status, 'success');
    assert.equal(done.jobs[0]!.attempts, 2);
    assert.match((await f.log(jobId, 2)).toString(), /done on second/);
  });

  // The process-group registry is what stops a `none` agent's jobs; a sandboxed job dies with
  // its bubblewrap (next test).
  it('isolation none: killed together with its launcher, the job lives on until the next start on that home kills its group', async () => {
    const { f, first, p, jobId, pid } = await firstAgentRunning('none');
    const launchers = childrenOf(first.child.pid!).filter((c) => fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('launcher-process'));
    assert.equal(launchers.length, 1, 'the agent has one launcher process');
    process.kill(launchers[0]!, 'SIGKILL');
    await f.kill(first);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!isDead(pid), 'the job outlived its agent and launcher');
    const second = await f.startAgent({ name: 'second', home: first.home });
    await waitFor(`the leftover job (pid ${pid}) to be killed`, () => isDead(pid), 5_000);
    assert.match(second.output(), new RegExp(`killed 1 job process group a previous agent process left running \\(${pid}\\)`));
    const done = await f.waitPipeline(p.id);
    assert.equal(done.status, 'success');
    assert.match((await f.log(jobId, 2)).toString(), /done on second/);
  });

  // HOST_ISOLATION is the sandbox in CI whatever the host: there a host without it fails here.
  const noSandbox = HOST_ISOLATION === 'sandbox' ? false : 'this host cannot run the sandbox';
  it('sandboxed: killed together with its launcher, the job dies at once (bubblewrap dies with its parent, the PID namespace with it)', { skip: noSandbox }, async () => {
    const { f, first, p, jobId, pid } = await firstAgentRunning('sandbox');
    assert.ok(f.jobAlive(first, pid));
    const launchers = childrenOf(first.child.pid!).filter((c) => fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('launcher-process'));
    assert.equal(launchers.length, 1, 'the agent has one launcher process');
    process.kill(launchers[0]!, 'SIGKILL');
    await f.kill(first);
    await waitFor('the job to die with its launcher', () => !f.jobAlive(first, pid), 3_000);
    await f.startAgent({ name: 'second', home: first.home, isolation: 'sandbox' });
    const done = await f.waitPipeline(p.id);
    assert.equal(done.status, 'success');
    assert.match((await f.log(jobId, 2)).toString(), /done on second/);
  });

  it('a second agent process on the same home is refused, and the first keeps working', async () => {
    const f = new Fleet({ '.gantry.yml': 'quick:\n  script: [echo "quick on $CI_RUNNER_DESCRIPTION"]\n' });
    fleets.push(f);
    await f.startServer();
    await f.project();
    const first = await f.startAgent({ name: 'first' });
    await assert.rejects(f.startAgent({ name: 'twin', home: first.home }), /another gantry agent \(pid \d+\) uses/);
    const p = await f.trigger();
    const done = await f.waitPipeline(p.id);
    assert.equal(done.status, 'success');
    assert.match((await f.log(p.jobs[0]!.id)).toString(), /quick on first/);
  });
});
