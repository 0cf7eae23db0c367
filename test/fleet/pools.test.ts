// Pools through real processes: a `gantry server` and two `gantry agent --pool` processes on
// loopback, priced and listed with `gantry pools`; one project floods one pool's agent while
// another project's jobs keep the other pool's agent busy. Isolation `none`: what is tested is
// which agent takes which job, not how a job is isolated.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { gantry } from '../helpers/gantry.js';
import { Fleet } from './fleet-harness.js';

// Project x floods pool b (tag `big`, which only b's agent has); project y's jobs run anywhere.
const PIPELINE = `flood:
  tags: [big]
  parallel: 12
  rules:
    - if: $CI_PROJECT_NAME == "x"
  script: [sleep 1]
small:
  parallel: 4
  rules:
    - if: $CI_PROJECT_NAME == "y"
  script:
    - echo "$CI_JOB_NAME on $CI_RUNNER_DESCRIPTION" >> "$MARKS"
`;

interface PoolView {
  name: string;
  costFactor: number;
  agents: { name: string; status: string }[];
}

describe('pools of agents, real processes', { timeout: 40_000 }, () => {
  const f = new Fleet({ '.gantry.yml': PIPELINE }, null, 'none');
  after(() => f.teardown());

  it('agents of two pools are listed with their prices; a project flooding one pool leaves the other pool taking another project\'s jobs', async () => {
    const bad = await gantry(f.sb, ['agent', '--pool', 'GPU pool', '--server', 'http://127.0.0.1:1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--pool "GPU pool": use 1 to 63 lowercase letters/);

    await f.startServer();
    await f.startAgent({ name: 'a-box', args: ['--pool', 'a'] });
    await f.startAgent({ name: 'b-box', tags: ['big'], args: ['--pool', 'b'] });
    const set = await gantry(f.sb, ['pools', 'set', 'b', '--cost-factor', '2.5', '--server', f.url]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.out, 'pool b: cost factor 2.5\n');
    const listed = await gantry(f.sb, ['pools', '--json', '--server', f.url]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.out) as { items: PoolView[] }).items.map((p) => [p.name, p.costFactor, p.agents.map((a) => `${a.name} ${a.status}`)]),
      [['a', 1, ['a-box idle']], ['b', 2.5, ['b-box idle']]],
    );

    // x, ten times y's weight, floods b: 12 jobs of a second on b's one slot.
    await f.project('x');
    await f.project('y');
    assert.equal((await f.api('PATCH', '/projects/x', { weight: 10 })).status, 200);
    const marks = f.sharedFile('marks');
    const flood = await f.trigger('x');
    await f.waitPipeline(flood.id, (p) => p.jobs.some((j) => j.status === 'running'));
    const t0 = Date.now();
    const small = await f.trigger('y', { MARKS: marks });
    const done = await f.waitPipeline(small.id, undefined, 15_000);
    const took = Date.now() - t0;
    assert.equal(done.status, 'success');
    // a's agent took y's jobs while x's queue on b was still long.
    const x = await f.pipeline(flood.id);
    assert.ok(x.jobs.filter((j) => j.status === 'pending').length >= 4, `x's jobs left waiting: ${JSON.stringify(x.jobs.map((j) => j.status))}`);
    const ran = fs.readFileSync(marks, 'utf8').trim().split('\n');
    assert.equal(ran.length, 4);
    assert.ok(ran.filter((l) => l.endsWith(' on a-box')).length >= 3, ran.join('; '));
    assert.ok(took < 10_000, `y's four jobs took ${took} ms`);
  });
});
