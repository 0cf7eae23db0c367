// A failing job fails the pipeline and decides, by `when`, which later jobs run; allowed failures
// do not; after_script sees the failure and cannot change the job's status. GitLab's semantics.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logsOf, runJson, withSandbox } from '../helpers/gantry.js';

describe('gantry run: failures', () => {
  it('fails the pipeline (exit 1), skips later on_success jobs, runs on_failure and always jobs', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test, deploy]
build:
  stage: build
  script:
    - echo building
    - exit 3
    - echo never reached
sibling:
  stage: build
  script: "true"
test:
  stage: test
  script: "true"
report-failure:
  stage: test
  when: on_failure
  script: echo reporting
cleanup:
  stage: deploy
  when: always
  script: echo cleaning
deploy:
  stage: deploy
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.pipeline.status, 'failed');
        assert.equal(r.job('build').status, 'failed');
        assert.equal(r.job('build').exitCode, 3);
        assert.equal(r.job('build').failureReason, 'script_failure');
        assert.equal(r.job('sibling').status, 'success');
        assert.equal(r.job('test').status, 'skipped');
        assert.equal(r.job('deploy').status, 'skipped');
        assert.equal(r.job('report-failure').status, 'success');
        assert.equal(r.job('cleanup').status, 'success');
        const log = await logsOf(sb, r.pipeline.id, 'build');
        assert.match(log, /building/);
        assert.doesNotMatch(log, /^never reached$/m);
      },
    );
  });

  it('skips on_failure jobs and runs always jobs when nothing failed', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  script: "true"
on-failure:
  stage: test
  when: on_failure
  script: "true"
always:
  stage: test
  when: always
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.status, 'success');
        assert.equal(r.job('on-failure').status, 'skipped');
        assert.equal(r.job('always').status, 'success');
      },
    );
  });

  it('a job that `needs` a failed job is skipped, a job needing only passing jobs runs', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
bad:
  stage: build
  script: exit 1
good:
  stage: build
  script: "true"
needs-bad:
  stage: test
  needs: [bad]
  script: "true"
needs-good:
  stage: test
  needs: [good]
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.pipeline.status, 'failed');
        assert.equal(r.job('needs-bad').status, 'skipped');
        assert.equal(r.job('needs-good').status, 'success');
      },
    );
  });

  it('`allow_failure: true` keeps the pipeline successful (exit 0) with the job failed, and later stages run', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
flaky:
  stage: build
  allow_failure: true
  script: exit 1
test:
  stage: test
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.status, 'success');
        assert.equal(r.job('flaky').status, 'failed');
        assert.equal(r.job('flaky').exitCode, 1);
        assert.equal(r.job('flaky').allowFailure, true);
        assert.equal(r.job('test').status, 'success');
      },
    );
  });

  it('`allow_failure: exit_codes` allows only the listed exit codes', async () => {
    const file = `allowed:
  allow_failure:
    exit_codes: [3, 4]
  script: exit $CODE
`;
    await withSandbox({ '.gantry.yml': file }, async (sb) => {
      const ok = await runJson(sb, ['--var', 'CODE=4']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.pipeline.status, 'success');
      assert.equal(ok.job('allowed').status, 'failed');
      assert.equal(ok.job('allowed').exitCode, 4);
      // GitLab's API: allow_failure is the effective answer, the codes a field of their own.
      assert.equal(ok.job('allowed').allowFailure, true);
      assert.deepEqual(ok.job('allowed').allowFailureExitCodes, [3, 4]);

      const bad = await runJson(sb, ['--var', 'CODE=5']);
      assert.equal(bad.code, 1);
      assert.equal(bad.pipeline.status, 'failed');
      assert.equal(bad.job('allowed').status, 'failed');
      assert.equal(bad.job('allowed').exitCode, 5);
      assert.equal(bad.job('allowed').allowFailure, false);
      assert.deepEqual(bad.job('allowed').allowFailureExitCodes, [3, 4]);
    });
  });

  it('runs after_script after a failure with CI_JOB_STATUS=failed, keeping the script exit code', async () => {
    await withSandbox(
      {
        '.gantry.yml': `failing:
  script:
    - echo in-script
    - exit 2
  after_script:
    - echo "after status=$CI_JOB_STATUS"
passing:
  script: echo ok
  after_script:
    - echo "after status=$CI_JOB_STATUS"
    - exit 9
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.job('failing').status, 'failed');
        assert.equal(r.job('failing').exitCode, 2);
        const failingLog = await logsOf(sb, r.pipeline.id, 'failing');
        assert.match(failingLog, /^after status=failed$/m);
        assert.ok(failingLog.indexOf('in-script') < failingLog.indexOf('after status=failed'));

        // A failing after_script does not change the job's status.
        assert.equal(r.job('passing').status, 'success');
        assert.equal(r.job('passing').exitCode, 0);
        assert.match(await logsOf(sb, r.pipeline.id, 'passing'), /^after status=success$/m);
      },
    );
  });

  it('runs after_script in a separate shell: before_script/script shell state does not leak in', async () => {
    await withSandbox(
      {
        '.gantry.yml': `job:
  before_script:
    - export FROM_BEFORE=yes
  script:
    - echo "script sees FROM_BEFORE=$FROM_BEFORE"
  after_script:
    - echo "after sees FROM_BEFORE=\${FROM_BEFORE:-unset}"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const log = await logsOf(sb, r.pipeline.id, 'job');
        assert.match(log, /^script sees FROM_BEFORE=yes$/m);
        assert.match(log, /^after sees FROM_BEFORE=unset$/m);
      },
    );
  });
  it('an allowed failure does not trigger on_failure jobs', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
flaky:
  stage: build
  allow_failure: true
  script: exit 1
on-failure:
  stage: test
  when: on_failure
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.status, 'success');
        assert.equal(r.job('on-failure').status, 'skipped');
      },
    );
  });

  it('a timed-out job with `allow_failure: true` leaves the pipeline successful', async () => {
    await withSandbox({ '.gantry.yml': 'slow:\n  timeout: 1s\n  allow_failure: true\n  script: sleep 30\n' }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.job('slow').status, 'timed_out');
      assert.equal(r.pipeline.status, 'success');
      assert.equal(r.code, 0);
    });
  });

  it('a manual job from `rules` with `allow_failure: true` does not block the pipeline', async () => {
    await withSandbox(
      { '.gantry.yml': 'stages: [a, b]\ngate:\n  stage: a\n  script: "true"\n  rules:\n    - when: manual\n      allow_failure: true\nafter:\n  stage: b\n  script: "true"\n' },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.status, 'success');
        assert.equal(r.job('gate').status, 'manual');
        assert.equal(r.job('after').status, 'success');
      },
    );
  });

  it('uses `default: before_script` unless the job has its own, and stops at the first failing line of either', async () => {
    await withSandbox(
      {
        '.gantry.yml': `default:
  before_script:
    - echo default-before
inherits:
  script: echo inherits-script
overrides:
  before_script:
    - echo own-before
    - exit 5
  script: echo never
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        const a = await logsOf(sb, r.pipeline.id, 'inherits');
        assert.match(a, /^default-before$/m);
        assert.match(a, /^inherits-script$/m);
        const b = await logsOf(sb, r.pipeline.id, 'overrides');
        assert.doesNotMatch(b, /^default-before$/m);
        assert.match(b, /^own-before$/m);
        assert.doesNotMatch(b, /^never$/m);
        assert.equal(r.job('overrides').exitCode, 5);
      },
    );
  });

  it('fails a job on a failing command inside a pipe (pipefail) as GitLab\'s bash does', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script:\n    - false | cat\n    - echo after-pipe\n' }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.code, 1);
      assert.equal(r.job('job').status, 'failed');
      assert.doesNotMatch(await logsOf(sb, r.pipeline.id, 'job'), /^after-pipe$/m);
    });
  });
});
