// Ephemeral agents, as an autoscaler runs them: `gantry agent --ephemeral` takes exactly one job,
// runs it, deregisters and exits 0. Ten at a time go through twenty jobs, each replaced when it
// ends: every job runs once, each on an agent of its own, and no agent is left behind.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { gantry } from '../helpers/gantry.js';
import { Fleet, type AgentProc } from './fleet-harness.js';

const JOBS = 20;
const AT_ONCE = 10;

describe('ephemeral agents', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('ten ephemeral agents, each replaced when it ends, run twenty jobs: one job each, each exits 0 and deregisters', async () => {
    const jobs = Array.from({ length: JOBS }, (_, i) => `j${i}:\n  script:\n    - echo "ran on $CI_RUNNER_DESCRIPTION"\n    - sleep 0.3\n`).join('');
    // Jobs run as the agent's own user here: ten sandboxes at once would only slow this test down
    // (the sandbox and its check before the one poll are the agent's usual path, tested elsewhere).
    const f = new Fleet({ '.gantry.yml': jobs }, null, 'none');
    fleets.push(f);
    await f.startServer();
    await f.project();
    const p = await f.trigger();
    const agents: AgentProc[] = [];
    const exits: Promise<number | null>[] = [];
    let launched = 0;
    const launch = async () => {
      const i = launched++;
      const a = await f.startAgent({ name: `eph-${i + 1}`, args: ['--ephemeral'] });
      agents[i] = a;
      exits[i] = new Promise((resolve) => (a.child.exitCode !== null ? resolve(a.child.exitCode) : a.child.once('exit', (code) => resolve(code))));
      return i;
    };
    // The autoscaler: ten at first, a new one whenever one ends, twenty in all.
    const live = new Set<Promise<number>>();
    const watch = (i: number) => {
      const w: Promise<number> = exits[i]!.then(() => i);
      live.add(w);
      void w.then(() => live.delete(w));
    };
    for (const i of await Promise.all(Array.from({ length: AT_ONCE }, launch))) watch(i);
    while (launched < JOBS) {
      await Promise.race(live);
      watch(await launch());
    }
    const done = await f.waitPipeline(p.id, undefined, 60_000);
    assert.equal(done.status, 'success', JSON.stringify(done));
    const codes = await Promise.all(exits);
    assert.deepEqual(codes, Array(JOBS).fill(0), agents.map((a) => a.output().slice(-400)).join('\n---\n'));
    // One job each: the twenty jobs ran on twenty different agents, each once.
    const ranOn = await Promise.all(done.jobs.map(async (j) => /^ran on (\S+)$/m.exec((await f.log(j.id)).toString())![1]!));
    assert.equal(new Set(ranOn).size, JOBS, ranOn.join(' '));
    assert.ok(done.jobs.every((j) => j.attempts === 1));
    for (const a of agents) assert.match(a.output(), /ephemeral: its job is done; deregistered/);
    // None left in the fleet.
    const listed = await gantry(f.sb, ['agents', '--json'], { GANTRY_TOKEN: f.adminToken, GANTRY_SERVER: f.url });
    assert.deepEqual((JSON.parse(listed.out) as { items: unknown[] }).items, []);
    // An ephemeral agent takes one job at a time, by definition.
    const two = await gantry(f.sb, ['agent', '--ephemeral', '--concurrency', '2', '--server', f.url], { GANTRY_AGENT_TOKEN: f.agentToken });
    assert.equal(two.code, 2);
    assert.match(two.stderr, /--ephemeral takes exactly one job/);
  });
});
