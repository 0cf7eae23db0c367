// Test reports across the fleet (PROTOCOL.md §11, "Test reports"): a real server and agent, a job
// whose test fails on its first attempt and passes on the retry; the agent parses the JUnit files
// and sends the bounded report, the server keeps it per attempt and the API marks the test flaky.
// An agent is trusted with nothing beyond its running attempt: a report with another token, or
// whose counts do not add up, is refused. SQLite (the server's store is the same SQL on PostgreSQL).

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Fleet } from './fleet-harness.js';

const junit = (sometimes: 'pass' | 'fail') =>
  `<testsuites><testsuite name="api"><testcase classname="api.Users" name="creates a user" time="0.25"/>` +
  `<testcase classname="api.Users" name="lists users" time="1.5">${sometimes === 'fail' ? '<failure message="expected 2 users, got 1">at users.test.js:12</failure>' : ''}</testcase>` +
  `</testsuite></testsuites>`;

interface TestsAnswer {
  summary: Record<string, number>;
  matched: number;
  cases: { name: string; status: string; flaky: boolean; attempt: number; message: string | null; output: string | null; jobName: string }[];
}

describe('test reports across the fleet', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('an agent sends its attempts\' reports; a test that failed and passed on the retry is flaky in the pipeline\'s and the job\'s tests', async () => {
    const f = new Fleet(
      {
        '.gantry.yml': `unit:
  retry: 1
  script:
    - n=$(cat "$COUNTER_DIR/unit" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER_DIR/unit"
    - if [ $n = 1 ]; then printf '%s' '${junit('fail')}' > junit.xml; exit 1; fi
    - printf '%s' '${junit('pass')}' > junit.xml
  artifacts:
    reports:
      junit: junit.xml
`,
      },
      null,
    );
    fleets.push(f);
    await f.startServer();
    await f.startAgent({ tags: [], name: 'box' });
    await f.project();
    const p = await f.trigger('demo', { COUNTER_DIR: f.sharedDir('counters') });
    const done = await f.waitPipeline(p.id);
    assert.equal(done.status, 'success', JSON.stringify(done));
    const job = done.jobs[0]!;
    assert.equal(job.attempts, 2);
    assert.match((await f.log(job.id, 1)).toString(), /Test report: 1 passed, 1 failed \(1 file\)/);

    const tests = await f.api<TestsAnswer>('GET', `/pipelines/${p.id}/tests`);
    assert.equal(tests.status, 200, JSON.stringify(tests.body));
    assert.deepEqual(tests.body.summary, { total: 2, passed: 2, failed: 0, error: 0, skipped: 0, flaky: 1, unlisted: 0, durationMs: 1750 });
    // Flaky passes come before plain ones; every case is of the latest attempt.
    assert.deepEqual(
      tests.body.cases.map((c) => [c.name, c.status, c.flaky, c.attempt]),
      [
        ['lists users', 'passed', true, 2],
        ['creates a user', 'passed', false, 2],
      ],
    );
    const flaky = await f.api<TestsAnswer>('GET', `/jobs/${job.id}/tests?status=flaky`);
    assert.deepEqual(flaky.body.cases.map((c) => c.name), ['lists users']);
    assert.equal(flaky.body.matched, 1);
    const search = await f.api<TestsAnswer>('GET', `/pipelines/${p.id}/tests?search=CREATES`);
    assert.deepEqual(search.body.cases.map((c) => c.name), ['creates a user']);
    assert.equal((await f.api('GET', `/pipelines/${p.id}/tests?status=bogus`)).status, 400);

    // The test as an agent of its own: it may write for no attempt but a running one of its own.
    const reg = await fetch(`${f.url}/api/v1/agent/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${f.agentToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'intruder', tags: ['nothing'], concurrency: 1, version: 'test', protocol: 1 }),
    });
    const agentToken = ((await reg.json()) as { token: string }).token;
    const send = async (report: unknown, attemptToken = 'not-the-token') => {
      const attempt = (await f.attempts(job.id))[0]!;
      const res = await fetch(`${f.url}/api/v1/agent/attempts/${attempt.id}/tests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agentToken}`, 'gantry-attempt-token': attemptToken, 'content-type': 'application/json' },
        body: JSON.stringify(report),
      });
      return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
    };
    const counts = { total: 1, passed: 1, failed: 0, error: 0, skipped: 0, durationMs: 1 };
    const one = { suite: 's', classname: 'c', name: 'forged', file: 'x.xml', status: 'passed', durationMs: 1, message: null, output: null };
    assert.deepEqual(await send({ counts, unlisted: 0, files: 1, cases: [one] }), { status: 409, code: 'GANTRY_E_ATTEMPT_FENCED' });
    assert.deepEqual(await send({ counts: { ...counts, total: 5 }, unlisted: 0, files: 1, cases: [one] }), { status: 422, code: 'GANTRY_E_TEST_REPORT_INVALID' });
    assert.equal((await send({ counts, unlisted: 0, files: 1, cases: [{ ...one, output: 'x'.repeat(64 * 1024 + 1) }] })).status, 400);
    assert.equal((await f.api<TestsAnswer>('GET', `/pipelines/${p.id}/tests`)).body.summary.total, 2);
  });
});
