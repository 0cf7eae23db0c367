// The CLI's commands on the fleet, end to end: `gantry agents`, `gantry cancel`, `gantry retry` and
// `gantry play` against a real `gantry server` and `gantry agent`, with the exit codes every
// server command uses (1 refused, 2 usage, 3 not found, 4 not allowed).

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { gantry } from '../helpers/gantry.js';
import { Fleet } from './fleet-harness.js';

const PIPELINE = `stages: [build, deploy]
long:
  stage: build
  script:
    - echo started
    - if [ -n "$QUICK" ]; then exit 0; fi
    - sleep 30
flaky:
  stage: build
  script:
    - test -f "$MARK" || { touch "$MARK"; echo first try fails; exit 1; }
    - echo second try passes
ship:
  stage: deploy
  when: manual
  script: [echo shipped]
gpu:
  stage: deploy
  tags: [gpu]
  rules:
    - if: $QUICK
  script: [echo never]
`;

describe('gantry cancel, retry, play and agents', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('cancels a running job, retries a failed one, plays a manual one, lists the agents, and says why it cannot', async () => {
    const f = new Fleet({ '.gantry.yml': PIPELINE });
    fleets.push(f);
    await f.startServer();
    await f.startAgent({ concurrency: 2, name: 'box', tags: ['linux'] });
    await f.project();
    const admin = { GANTRY_TOKEN: f.adminToken, GANTRY_SERVER: f.url };
    const cli = (args: string[], env = admin) => gantry(f.sb, args, env);

    const agents = await cli(['agents']);
    assert.equal(agents.code, 0, agents.stderr);
    assert.match(agents.out, /^ID\s+NAME\s+STATUS\s+POOL/m);
    assert.match(agents.out, /box\s+idle\s+default\s+0\/2\s+linux/);
    const agentsJson = JSON.parse((await cli(['agents', '--json'])).out) as { items: { name: string; status: string }[] };
    assert.deepEqual(agentsJson.items.map((a) => [a.name, a.status]), [['box', 'idle']]);

    const p = await f.trigger('demo', { MARK: f.sharedFile('flaky-mark') });
    const id = (name: string) => p.jobs.find((j) => j.name === name)!.id;
    await f.waitLog(id('long'), 1, /started/);
    const cancel = await cli(['cancel', '--job', String(id('long'))]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.out, new RegExp(`job #${id('long')} long canceled: (canceled|running)`));
    // flaky failed, long canceled: the build stage is over, the pipeline with it.
    const failed = await f.waitPipeline(p.id);
    assert.equal(failed.status, 'failed', JSON.stringify(failed));
    assert.equal(failed.jobs.find((j) => j.name === 'long')!.status, 'canceled');

    // Canceling what is finished is refused (exit 1), with the server's code.
    const late = await cli(['cancel', String(p.id)]);
    assert.equal(late.code, 1, late.stderr);
    assert.match(late.stderr, /GANTRY_E_/);

    const retry = await cli(['retry', '--job', String(id('flaky')), '--json']);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal((JSON.parse(retry.out) as { name: string }).name, 'flaky');
    await f.waitLog(id('flaky'), 2, /second try passes/);

    // The pipeline's retry takes the canceled `long` again; cancel the whole pipeline this time.
    const again = await cli(['retry', String(p.id)]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.out, new RegExp(`pipeline #${p.id} retried: (pending|running)`));
    await f.waitLog(id('long'), 2, /started/);
    const cancelAll = await cli(['cancel', String(p.id), '--json']);
    assert.equal(cancelAll.code, 0, cancelAll.stderr);
    assert.equal((JSON.parse(cancelAll.out) as { id: number }).id, p.id);
    assert.equal((await f.waitPipeline(p.id)).status, 'canceled');

    // play: a new pipeline whose build passes leaves `ship` manual.
    const q = await f.trigger('demo', { MARK: f.sharedFile('flaky-mark'), QUICK: '1' });
    const ship = q.jobs.find((j) => j.name === 'ship')!.id;
    await f.waitPipeline(q.id, (v) => v.jobs.find((j) => j.name === 'ship')!.status === 'manual');
    const play = await cli(['play', String(ship)]);
    assert.equal(play.code, 0, play.stderr);
    assert.match(play.out, new RegExp(`job #${ship} ship played`));
    await f.waitLog(ship, 1, /shipped/);

    // The queue: q's gpu job waits for an agent nobody runs, and says so.
    const queue = await cli(['queue']);
    assert.equal(queue.code, 0, queue.stderr);
    assert.match(queue.out, /^JOB\s+NAME\s+PIPELINE\s+PROJECT\s+TAGS\s+WAITED\s+WHY/m);
    assert.match(queue.out, new RegExp(`#${q.jobs.find((j) => j.name === 'gpu')!.id}\\s+gpu\\s+#${q.id}\\s+demo\\s+gpu\\s+\\S+\\s+No online agent has the tags gpu`));
    const queueJson = JSON.parse((await cli(['queue', '--project', 'demo', '--json'])).out) as { items: { jobName: string; reason: { code: string } }[] };
    assert.deepEqual(queueJson.items.map((e) => [e.jobName, e.reason.code]), [['gpu', 'no_agent']]);
    // Usage: what the jobs above used, the project's and the instance's, and the billing lines.
    const usage = await cli(['usage', '--project', 'demo']);
    assert.equal(usage.code, 0, usage.stderr);
    assert.match(usage.out, /^demo in [0-9]{4}-[0-9]{2}: used [0-9.]+ of unlimited/);
    assert.match(usage.out, /^default\s+[0-9.]+\s+[0-9]+$/m);
    assert.match((await cli(['usage'])).out, /^demo\s+[0-9.]+\s+unlimited\s+unlimited$/m);
    const csv = await cli(['usage', '--project', 'demo', '--csv']);
    assert.match(csv.out, /^pipeline,job,attempt,pool,factor,seconds,minutes\n/);
    assert.ok(csv.out.trim().split('\n').length >= 6, csv.out);
    assert.equal((await cli(['usage', '--month', '2024-13'])).code, 2);

    // Usage, not found, not allowed.
    assert.equal((await cli(['cancel'])).code, 2);
    assert.equal((await cli(['retry', '7', '--job', '8'])).code, 2);
    assert.equal((await cli(['play', 'x1'])).code, 2);
    const missing = await cli(['cancel', '999999']);
    assert.equal(missing.code, 3, missing.stderr);
    const stranger = await cli(['retry', String(p.id)], { GANTRY_TOKEN: 'gantry_nope', GANTRY_SERVER: f.url });
    assert.equal(stranger.code, 4, stranger.stderr);
  });
});
