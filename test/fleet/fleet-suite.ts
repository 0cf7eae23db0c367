// The control plane and the agent fleet, end to end, as one suite run on each store (see
// fleet-sqlite.test.ts and fleet-postgres.test.ts): real `gantry server` and `gantry agent`
// processes over loopback with real git repositories, and the crash cases: an agent killed
// mid-job, the server killed mid-job.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fleetsOn, HOST_ISOLATION, TEST_LEASE_MS } from './fleet-harness.js';

const SEQ = Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`).join('');

export function fleetSuite(name: string, db: () => Promise<string | null>, isolation: 'none' | 'sandbox' = HOST_ISOLATION): void {
  describe(`the fleet (${name}, isolation ${isolation})`, () => {
    const make = fleetsOn(db, isolation);

    it('jobs run on agents whose tags match, dependents after their needs, logs stored byte for byte, masked values never stored', async () => {
      const f = await make({
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  tags: [linux]
  script:
    - seq 1 3000
    - printf '\\000\\377\\376 raw\\r\\n'
    - echo "whole $TOPSECRET"
    - printf 'split hun'; printf 'ter22-pw\\n'
gpu:
  stage: test
  tags: [gpu]
  needs: [build]
  script: [echo "on $CI_RUNNER_DESCRIPTION"]
`,
      });
      await f.startServer();
      await f.startAgent({ tags: ['linux'], name: 'cpu-box' });
      await f.startAgent({ tags: ['linux', 'gpu'], name: 'gpu-box' });
      await f.project();
      assert.equal((await f.api('PUT', '/projects/demo/variables/TOPSECRET', { value: 'hunter22-pw', masked: true })).status, 204);
      const p = await f.trigger();
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success', JSON.stringify(done));
      const [build, gpu] = done.jobs;
      const log = await f.log(build!.id);
      assert.ok(log.includes(Buffer.from(SEQ)), 'the seq output, whole and in order');
      assert.ok(log.includes(Buffer.from([0, 0xff, 0xfe, 0x20, 0x72, 0x61, 0x77, 0x0d, 0x0a])), 'binary bytes kept as they are');
      assert.ok(!log.includes(Buffer.from('hunter22')), 'no masked value in the stored log');
      assert.ok(log.includes(Buffer.from('whole [MASKED]')) && log.includes(Buffer.from('split [MASKED]')));
      assert.match((await f.log(gpu!.id)).toString(), /on gpu-box/);
      const agents = (await f.api<{ items: Array<{ name: string; status: string; tags: string[]; currentJobs: number[] }> }>('GET', '/agents')).body.items;
      assert.deepEqual(agents.map((a) => [a.name, a.status]).sort(), [['cpu-box', 'idle'], ['gpu-box', 'idle']]);
    });

    it("fair share, priority and a resource group through a real agent of two slots: a project's queue does not starve another's, deploys of a project take turns", async () => {
      // Each job notes its project and name when it starts. Queued before any agent is there. The
      // urgent jobs last long enough that both of the first take's jobs have started before a
      // slot is free again, however unevenly the two slots' sandboxes come up.
      const jobs = Array.from({ length: 8 }, (_, i) => `j${i}:\n  script:\n    - echo "$CI_PROJECT_NAME $CI_JOB_NAME" >> "$MARKS"\n`).join('');
      const f = await make({
        '.gantry.yml': `${jobs}urgent:\n  priority: 10\n  script:\n    - echo "$CI_PROJECT_NAME $CI_JOB_NAME" >> "$MARKS"\n    - sleep 0.5\ndeploy:\n  resource_group: prod\n  script:\n    - echo "$CI_PROJECT_NAME $CI_JOB_NAME start" >> "$MARKS"\n    - sleep 0.3\n    - echo "$CI_PROJECT_NAME $CI_JOB_NAME end" >> "$MARKS"\n`,
      });
      const marks = f.sharedFile('marks');
      await f.startServer();
      await f.project('big');
      await f.project('small');
      const ids: number[] = [];
      for (let k = 0; k < 3; k++) ids.push((await f.trigger('big', { MARKS: marks })).id);
      ids.push((await f.trigger('small', { MARKS: marks })).id);
      await f.startAgent({ concurrency: 2, name: 'two' });
      for (const id of ids) assert.equal((await f.waitPipeline(id, undefined, 60_000)).status, 'success');
      const lines = fs.readFileSync(marks, 'utf8').trim().split('\n');
      const starts = lines.filter((l) => !l.endsWith(' end'));
      // The first take: the urgent job of big (queued first) and, fair share, small's urgent job.
      assert.deepEqual(starts.slice(0, 2).sort(), ['big urgent', 'small urgent'], starts.slice(0, 6).join(', '));
      // Round the projects while both have work: small's 10 jobs are all among the first 21.
      assert.equal(starts.slice(0, 21).filter((l) => l.startsWith('small ')).length, 10, starts.join(', '));
      // big's three deploys, one at a time: each start followed by its own end before the next.
      const prod = lines.filter((l) => /^big deploy (start|end)$/.test(l));
      assert.equal(prod.length, 6);
      prod.forEach((l, i) => assert.ok(l.endsWith(i % 2 ? ' end' : ' start'), prod.join(', ')));
    });

    it('an agent never runs more jobs at once than its --concurrency', async () => {
      const jobs = Array.from({ length: 6 }, (_, i) => `j${i}:\n  script:\n    - echo "start $(date +%s%N) $CI_RUNNER_DESCRIPTION" >> "$MARKS"\n    - sleep 0.3\n    - echo "end $(date +%s%N) $CI_RUNNER_DESCRIPTION" >> "$MARKS"\n`).join('');
      const f = await make({ '.gantry.yml': jobs });
      const marks = f.sharedFile('marks');
      await f.startServer();
      await f.startAgent({ concurrency: 2, name: 'two' });
      await f.startAgent({ concurrency: 1, name: 'one' });
      await f.project();
      const done = await f.waitPipeline((await f.trigger('demo', { MARKS: marks })).id);
      assert.equal(done.status, 'success');
      const events = fs.readFileSync(marks, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([kind, t, who]) => ({ kind, t: BigInt(t!), who }));
      events.sort((a, b) => (a.t < b.t ? -1 : 1));
      const busy = new Map<string, number>();
      const most = new Map<string, number>();
      for (const e of events) {
        busy.set(e.who!, (busy.get(e.who!) ?? 0) + (e.kind === 'start' ? 1 : -1));
        most.set(e.who!, Math.max(most.get(e.who!) ?? 0, busy.get(e.who!)!));
      }
      assert.ok((most.get('two') ?? 0) <= 2 && (most.get('one') ?? 0) <= 1, JSON.stringify([...most]));
      assert.equal(events.length, 12);
    });

    it('a cancel reaches the running script within a second: SIGTERM to its group, the final lines kept', async () => {
      const f = await make({
        '.gantry.yml': `long:
  script:
    - trap 'date +%s%N > "$MARK"; echo got SIGTERM; exit 143' TERM
    - echo started
    - sleep 30 & wait
`,
      });
      const mark = path.join(f.shared, 'term');
      await f.startServer();
      await f.startAgent();
      await f.project();
      const p = await f.trigger('demo', { MARK: mark });
      const jobId = p.jobs[0]!.id;
      const t0 = Date.now();
      for (;;) {
        if ((await f.log(jobId)).includes(Buffer.from('started'))) break;
        if (Date.now() - t0 > 15_000) throw new Error('never started');
        await new Promise((r) => setTimeout(r, 30));
      }
      const asked = Date.now();
      assert.equal((await f.api('POST', `/jobs/${jobId}/cancel`)).status, 200);
      const done = await f.waitPipeline(p.id);
      const termAt = Number(BigInt(fs.readFileSync(mark, 'utf8').trim()) / 1_000_000n);
      assert.ok(termAt - asked < 1000, `SIGTERM ${termAt - asked} ms after the cancel`);
      assert.equal(done.jobs[0]!.status, 'canceled');
      const log = (await f.log(jobId)).toString();
      assert.match(log, /got SIGTERM/);
      assert.match(log, /Job canceled/);
    });

    it('kill -9 of an agent mid-job: the attempt is agent_lost within the lease, the job is retried on another agent, the pipeline succeeds', async () => {
      const f = await make({ '.gantry.yml': 'slow:\n  script:\n    - echo "on $CI_RUNNER_DESCRIPTION"\n    - sleep 2\n    - echo finished\n' });
      await f.startServer();
      const a1 = await f.startAgent({ name: 'first' });
      await f.project();
      const p = await f.trigger();
      const jobId = p.jobs[0]!.id;
      await f.waitPipeline(p.id, (x) => x.jobs[0]!.status === 'running');
      const killedAt = Date.now();
      await f.kill(a1);
      await f.startAgent({ name: 'second' });
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success');
      const attempts = await f.attempts(jobId);
      assert.deepEqual(attempts.map((a) => [a.number, a.status, a.failureReason, a.agent]), [
        [1, 'failed', 'agent_lost', 'first'],
        [2, 'success', null, 'second'],
      ]);
      assert.ok(attempts[0]!.finishedAt! - killedAt < TEST_LEASE_MS + 2_000, `lost after ${attempts[0]!.finishedAt! - killedAt} ms`);
      assert.match((await f.log(jobId)).toString(), /on second[\s\S]*finished/);
    });

    it('kill -9 of the server while a job prints: restarted, the job carries on, nothing is lost, its log is byte for byte what it printed', async () => {
      const f = await make({ '.gantry.yml': 'printer:\n  script:\n    - for i in $(seq 1 60); do echo "line $i"; sleep 0.05; done\n' });
      const server = await f.startServer();
      await f.startAgent();
      await f.project();
      const p = await f.trigger();
      const jobId = p.jobs[0]!.id;
      await f.waitPipeline(p.id, (x) => x.jobs[0]!.status === 'running');
      await new Promise((r) => setTimeout(r, 800));
      await f.kill(server);
      // Down for longer than a lease: the restarted server gives agents a lease to come back.
      await new Promise((r) => setTimeout(r, TEST_LEASE_MS + 1_000));
      await f.startServer();
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success');
      const attempts = await f.attempts(jobId);
      assert.equal(attempts.length, 1, 'no attempt was declared lost');
      const log = (await f.log(jobId)).toString();
      const lines = log.split('\n').filter((l) => l.startsWith('line '));
      assert.deepEqual(lines, Array.from({ length: 60 }, (_, i) => `line ${i + 1}`));
    });

    it('a failed job retried by hand runs again; a blocking manual job holds the pipeline until played, an optional one can be played after it passed', async () => {
      const f = await make({
        '.gantry.yml': `stages: [test, deploy]
flaky:
  stage: test
  script: ['test -f "$DIR/ok" || { touch "$DIR/ok"; exit 3; }']
deploy:
  stage: deploy
  when: manual
  allow_failure: false
  script: [echo deployed]
notify:
  stage: deploy
  when: manual
  script: [echo notified]
`,
      });
      await f.startServer();
      await f.startAgent();
      await f.project();
      const p = await f.trigger('demo', { DIR: f.shared });
      let now = await f.waitPipeline(p.id);
      assert.equal(now.status, 'failed');
      assert.deepEqual(now.jobs.map((j) => [j.name, j.status]), [['flaky', 'failed'], ['deploy', 'skipped'], ['notify', 'skipped']]);
      assert.equal((await f.api('POST', `/jobs/${now.jobs[0]!.id}/retry`)).status, 200);
      now = await f.waitPipeline(p.id, (x) => x.status === 'manual');
      assert.deepEqual(now.jobs.map((j) => [j.name, j.status, j.attempts]), [['flaky', 'success', 2], ['deploy', 'manual', 0], ['notify', 'manual', 0]]);
      assert.equal((await f.api('POST', `/jobs/${now.jobs[1]!.id}/play`)).status, 200);
      now = await f.waitPipeline(p.id, (x) => x.status === 'success');
      assert.deepEqual(now.jobs.map((j) => j.status), ['success', 'success', 'manual']);
      assert.match((await f.log(now.jobs[1]!.id)).toString(), /deployed/);
      assert.equal((await f.api('POST', `/jobs/${now.jobs[1]!.id}/play`)).status, 409);
      assert.equal((await f.api('POST', `/jobs/${now.jobs[2]!.id}/play`)).status, 200);
      now = await f.waitPipeline(p.id, (x) => x.status === 'success' && x.jobs[2]!.status === 'success');
      assert.match((await f.log(now.jobs[2]!.id)).toString(), /notified/);
    });
  });
}
