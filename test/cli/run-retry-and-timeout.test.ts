// `retry` and `timeout` as GitLab defines them: `retry: N` is N more attempts after the first,
// `retry:when` and `retry:exit_codes` restrict which failures earn one, a job over its `timeout`
// is stopped and fails with failure reason `timeout`. Attempts keep their own logs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { logsOf, ms, runJson, withSandbox } from '../helpers/gantry.js';

/** A script line that counts its runs in $COUNTER_DIR/<name> and prints `attempt N`. */
const COUNT = (name: string) =>
  `n=$(cat "$COUNTER_DIR/${name}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER_DIR/${name}"; echo "attempt $n"`;

function counterDir(base: string): string {
  const dir = path.join(base, 'counters');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

describe('gantry run: retry and timeout', () => {
  it('`retry: 2` retries a job that fails once: 2 attempts, success, each attempt has its own log', async () => {
    await withSandbox(
      {
        '.gantry.yml': `flaky:
  retry: 2
  script:
    - ${JSON.stringify(COUNT('flaky'))}
    - test $n -ge 2
`,
      },
      async (sb) => {
        const dir = counterDir(sb.base);
        const r = await runJson(sb, ['--var', `COUNTER_DIR=${dir}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.status, 'success');
        assert.equal(r.job('flaky').status, 'success');
        assert.equal(r.job('flaky').attempts, 2);
        assert.equal(fs.readFileSync(path.join(dir, 'flaky'), 'utf8').trim(), '2');
        // Without a terminal (CI logs) the retry is announced too, not only on the live board.
        assert.match(r.stderr, /flaky\s+│ ↻ retrying \(attempt 2\)/);

        const first = await logsOf(sb, r.pipeline.id, 'flaky', 1);
        assert.match(first, /^attempt 1$/m);
        assert.doesNotMatch(first, /^attempt 2$/m);
        const last = await logsOf(sb, r.pipeline.id, 'flaky');
        assert.match(last, /^attempt 2$/m);
        assert.doesNotMatch(last, /^attempt 1$/m);
        assert.equal(await logsOf(sb, r.pipeline.id, 'flaky', 2), last);
      },
    );
  });

  it('`retry: {max: 2, when: [script_failure]}` exhausts to 3 attempts and fails', async () => {
    await withSandbox(
      {
        '.gantry.yml': `always-fails:
  retry:
    max: 2
    when: [script_failure]
  script:
    - ${JSON.stringify(COUNT('fails'))}
    - exit 1
`,
      },
      async (sb) => {
        const dir = counterDir(sb.base);
        const r = await runJson(sb, ['--var', `COUNTER_DIR=${dir}`]);
        assert.equal(r.code, 1);
        assert.equal(r.pipeline.status, 'failed');
        assert.equal(r.job('always-fails').status, 'failed');
        assert.equal(r.job('always-fails').attempts, 3);
        assert.equal(r.job('always-fails').failureReason, 'script_failure');
        assert.equal(fs.readFileSync(path.join(dir, 'fails'), 'utf8').trim(), '3');
        assert.match(await logsOf(sb, r.pipeline.id, 'always-fails', 3), /^attempt 3$/m);
      },
    );
  });

  it('does not retry a failure that `retry:when` does not list', async () => {
    await withSandbox(
      {
        '.gantry.yml': `job:
  retry:
    max: 2
    when: [runner_system_failure, stuck_or_timeout_failure]
  script: exit 1
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.job('job').status, 'failed');
        assert.equal(r.job('job').attempts, 1);
      },
    );
  });

  it('`retry:exit_codes` retries only the listed exit codes', async () => {
    await withSandbox(
      {
        '.gantry.yml': `listed:
  retry:
    max: 2
    exit_codes: [137]
  script: exit 137
unlisted:
  retry:
    max: 2
    exit_codes: [137]
  script: exit 1
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.job('listed').attempts, 3);
        assert.equal(r.job('listed').exitCode, 137);
        assert.equal(r.job('unlisted').attempts, 1);
        assert.equal(r.job('unlisted').exitCode, 1);
      },
    );
  });

  it('stops a job over its `timeout`: timed_out, failure reason timeout, pipeline failed, quickly', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [test, deploy]
slow:
  stage: test
  timeout: 1s
  script:
    - echo started
    - sleep 30
    - echo not reached
next:
  stage: deploy
  script: "true"
`,
      },
      async (sb) => {
        const t0 = Date.now();
        const r = await runJson(sb);
        const took = Date.now() - t0;
        assert.equal(r.code, 1);
        assert.equal(r.pipeline.status, 'failed');
        const slow = r.job('slow');
        assert.equal(slow.status, 'timed_out');
        assert.equal(slow.failureReason, 'timeout');
        assert.equal(slow.attempts, 1);
        assert.equal(r.job('next').status, 'skipped');
        const ran = ms(slow.finishedAt) - ms(slow.startedAt);
        assert.ok(ran >= 900 && ran < 5000, `the job ran ${ran} ms under a 1 s timeout`);
        assert.ok(took < 10_000, `gantry run took ${took} ms`);
        const log = await logsOf(sb, r.pipeline.id, 'slow');
        assert.match(log, /^started$/m);
        assert.doesNotMatch(log, /^not reached$/m);
      },
    );
  });

  it('stops the whole process group on timeout: a background child does not outlive the job', async () => {
    await withSandbox(
      {
        '.gantry.yml': `slow:
  timeout: 1s
  script:
    - (sleep 3; echo leaked > "$MARK_DIR/leaked") &
    - sleep 30
`,
      },
      async (sb) => {
        const dir = counterDir(sb.base);
        const r = await runJson(sb, ['--var', `MARK_DIR=${dir}`]);
        assert.equal(r.job('slow').status, 'timed_out');
        await new Promise((res) => setTimeout(res, 3000));
        assert.ok(!fs.existsSync(path.join(dir, 'leaked')), 'a child of the timed-out job kept running');
      },
    );
  });

  it('retries a timed-out job when `retry:when` lists job_execution_timeout', async () => {
    await withSandbox(
      {
        '.gantry.yml': `slow:
  timeout: 1s
  retry:
    max: 1
    when: [job_execution_timeout]
  script: sleep 30
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.job('slow').status, 'timed_out');
        assert.equal(r.job('slow').attempts, 2);
      },
    );
  });
  it('a job that needs a retried job waits for its last attempt and runs after it passes', async () => {
    await withSandbox(
      {
        '.gantry.yml': `flaky:
  stage: build
  retry: 1
  script:
    - ${JSON.stringify(COUNT('dep'))}
    - test $n -ge 2
after:
  stage: test
  needs: [flaky]
  script: "true"
`,
      },
      async (sb) => {
        const dir = counterDir(sb.base);
        const r = await runJson(sb, ['--var', `COUNTER_DIR=${dir}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('flaky').attempts, 2);
        assert.equal(r.job('after').status, 'success');
        assert.ok(ms(r.job('after').startedAt) >= ms(r.job('flaky').finishedAt));
      },
    );
  });
});
