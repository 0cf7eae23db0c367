// The agent protocol under a misbehaving network (a loopback proxy between agent and server that
// loses answers, delivers requests twice and answers 503) and under a frozen agent (SIGSTOP past
// its lease): no job runs twice, no byte is stored twice or lost, a late agent writes nothing.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { testPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/processes.js';
import { Fleet, TEST_LEASE_MS } from './fleet-harness.js';

const attemptPath = /^\/api\/v1\/agent\/attempts\/\d+\//;
/** Log uploads: batched (one request for the agent's attempts), or one attempt's PATCH. */
const logUpload = (m: string, p: string) => (m === 'POST' && p === '/api/v1/agent/logs') || (m === 'PATCH' && attemptPath.test(p));

function linesOf(log: Buffer, prefix: string): string[] {
  return log
    .toString()
    .split('\n')
    .filter((l) => l.startsWith(prefix));
}

function faultSuite(name: string, db: () => Promise<string | null>): void {
  describe(`the agent protocol under faults (${name})`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });
    const fleetWithProxy = async (pipeline: string) => {
      const f = new Fleet({ '.gantry.yml': pipeline }, await db());
      cleanups.push(() => f.teardown());
      await f.startServer();
      await f.project();
      const proxy = await new FaultProxy(f.url).start();
      cleanups.push(() => proxy.close());
      return { f, proxy };
    };

    it('an offer whose answer is lost returns to the queue and runs once, as attempt 1', async () => {
      const { f, proxy } = await fleetWithProxy('once:\n  script: [echo "ran once"]\n');
      proxy.add({ fault: { kind: 'lose-answer', when: (s) => s === 200 }, match: (m, p) => m === 'POST' && p === '/api/v1/agent/jobs/request', times: 1 });
      await f.startAgent({ server: proxy.url });
      const p = await f.trigger();
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success');
      assert.equal(proxy.log.filter((e) => e.faults.includes('lose-answer')).length, 1, 'one offer was lost');
      assert.deepEqual((await f.attempts(p.jobs[0]!.id)).map((a) => [a.number, a.status]), [[1, 'success']]);
      assert.deepEqual(linesOf(await f.log(p.jobs[0]!.id), 'ran once'), ['ran once']);
    });

    it('every attempt message delivered twice and some answers lost: the log is stored once, the job ends once', async () => {
      const { f, proxy } = await fleetWithProxy('chatty:\n  script:\n    - for i in $(seq 1 100); do echo "chatty $i"; sleep 0.01; done\n');
      proxy.add({ fault: { kind: 'duplicate' }, match: (m, p) => attemptPath.test(p) || logUpload(m, p) || p === '/api/v1/agent/heartbeat', times: Infinity });
      proxy.add({ fault: { kind: 'lose-answer' }, match: (m, p) => logUpload(m, p), times: 3 });
      proxy.add({ fault: { kind: 'lose-answer' }, match: (m, p) => m === 'POST' && p.endsWith('/complete'), times: 1 });
      proxy.add({ fault: { kind: 'lose-answer' }, match: (m, p) => m === 'POST' && p.endsWith('/start'), times: 1 });
      const agent = await f.startAgent({ server: proxy.url });
      const p = await f.trigger();
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success');
      // The pipeline ends at the first delivery of the completion; the proxy's second delivery
      // and the lost answer come after, until the agent hears an answer.
      await waitFor('the agent to hear its completion answered', () => /attempt \d+: success/.test(agent.output()), 10_000);
      const seen = (kind: 'duplicate' | 'lose-answer', what: RegExp) => proxy.log.filter((e) => e.faults.includes(kind) && what.test(e.path)).length;
      assert.ok(seen('duplicate', /\/complete$/) >= 1 && seen('duplicate', /\/logs?$/) >= 1 && seen('duplicate', /\/start$/) >= 1, 'start, log and complete were delivered twice');
      assert.equal(seen('lose-answer', /\/complete$/), 1);
      assert.equal(seen('lose-answer', /\/start$/), 1);
      assert.ok(seen('lose-answer', /\/logs?$/) >= 1);
      assert.deepEqual((await f.attempts(p.jobs[0]!.id)).map((a) => [a.number, a.status]), [[1, 'success']]);
      assert.deepEqual(linesOf(await f.log(p.jobs[0]!.id), 'chatty '), Array.from({ length: 100 }, (_, i) => `chatty ${i + 1}`));
    });

    it('a storm of 503s shorter than the lease: the agent backs off and carries on, nothing is lost or retried', async () => {
      const { f, proxy } = await fleetWithProxy('steady:\n  script:\n    - for i in $(seq 1 40); do echo "steady $i"; sleep 0.05; done\n');
      await f.startAgent({ server: proxy.url });
      const p = await f.trigger();
      await f.waitPipeline(p.id, (x) => x.jobs[0]!.status === 'running');
      const outputStored = Date.now() + 10_000;
      while (!(await f.log(p.jobs[0]!.id)).includes('steady 3\n') && Date.now() < outputStored) await new Promise((r) => setTimeout(r, 25));
      const storm = proxy.add({ fault: { kind: '503' }, match: (_m, path) => path.startsWith('/api/v1/agent/'), times: Infinity });
      await new Promise((r) => setTimeout(r, Math.floor(TEST_LEASE_MS * 0.4)));
      proxy.remove(storm);
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success');
      assert.ok(proxy.log.filter((e) => e.faults.includes('503')).length >= 2, 'the agent met the storm');
      assert.deepEqual((await f.attempts(p.jobs[0]!.id)).map((a) => [a.number, a.status]), [[1, 'success']]);
      assert.deepEqual(linesOf(await f.log(p.jobs[0]!.id), 'steady '), Array.from({ length: 40 }, (_, i) => `steady ${i + 1}`));
    });

    it('an agent frozen (SIGSTOP) past its lease is fenced: the job is retried elsewhere, the thawed agent kills its job and writes nothing', async () => {
      const f = new Fleet(
        {
          '.gantry.yml': `frozen-job:
  script:
    - echo "pid $$ on $CI_RUNNER_DESCRIPTION"
    - for i in $(seq 1 300); do echo "$CI_RUNNER_DESCRIPTION tick $i"; sleep 0.1; if [ "$CI_RUNNER_DESCRIPTION" != frozen ] && [ $i -ge 5 ]; then break; fi; done
`,
        },
        await db(),
      );
      cleanups.push(() => f.teardown());
      await f.startServer();
      await f.project();
      const frozen = await f.startAgent({ name: 'frozen' });
      const p = await f.trigger();
      const jobId = p.jobs[0]!.id;
      const pid = Number((await f.waitLog(jobId, 1, /pid (\d+) on frozen/))[1]);
      frozen.child.kill('SIGSTOP');
      cleanups.push(async () => void frozen.child.kill('SIGCONT'));
      await f.startAgent({ name: 'thawed-later-elsewhere' });
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success');
      const attempts = await f.attempts(jobId);
      assert.deepEqual(attempts.map((a) => [a.number, a.status, a.failureReason, a.agent]), [
        [1, 'failed', 'agent_lost', 'frozen'],
        [2, 'success', null, 'thawed-later-elsewhere'],
      ]);
      const firstLog = await f.log(jobId, 1);
      assert.ok(f.jobAlive(frozen, pid), 'the frozen agent\'s job kept running while its agent was stopped');
      frozen.child.kill('SIGCONT');
      await waitFor(`the fenced job (pid ${pid}) to be killed by its thawed agent`, () => !f.jobAlive(frozen, pid), 10_000);
      await waitFor('the thawed agent to say the server gave the attempt up', () => /gave it up|ended without a report/.test(frozen.output()), 10_000);
      // Whatever the thawed agent still had to send was refused: attempt 1 and 2 are as they were.
      assert.deepEqual(await f.log(jobId, 1), firstLog);
      const second = (await f.log(jobId, 2)).toString();
      assert.ok(!/on frozen|frozen tick/.test(second), 'no byte of the fenced attempt in the retry');
      assert.deepEqual(linesOf(Buffer.from(second), 'thawed-later-elsewhere tick'), Array.from({ length: 5 }, (_, i) => `thawed-later-elsewhere tick ${i + 1}`));
      assert.deepEqual((await f.attempts(jobId)).map((a) => [a.number, a.status]), [[1, 'failed'], [2, 'success']]);
    });
  });
}

faultSuite('SQLite', async () => null);

const pg = await testPostgres('agent protocol faults on PostgreSQL');
if (pg) {
  faultSuite('PostgreSQL', async () => `${pg.url}?options=${encodeURIComponent(`-c search_path=${await pg.freshSchema()}`)}`);
}
