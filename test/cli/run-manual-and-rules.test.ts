// Manual jobs and rules, by GitLab's semantics: `when: manual` is non-blocking (allow_failure
// defaults to true) and leaves the pipeline successful; a manual job from `rules:` is blocking
// (allow_failure defaults to false) and leaves the pipeline `manual` (blocked), its later stages
// waiting; rules see predefined and `--var` variables; `workflow: rules` can stop the pipeline.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gantry, logsOf, pipelinesJson, runJson, withSandbox } from '../helpers/gantry.js';

describe('gantry run: manual jobs and rules', () => {
  it('leaves a `when: manual` job manual, the pipeline successful (exit 0), later stages running', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
deploy-preview:
  stage: build
  when: manual
  script: echo deployed
test:
  stage: test
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.status, 'success');
        const m = r.job('deploy-preview');
        assert.equal(m.status, 'manual');
        assert.equal(m.when, 'manual');
        assert.equal(m.allowFailure, true);
        assert.equal(m.attempts, 0);
        assert.equal(m.startedAt, null);
        assert.equal(r.job('test').status, 'success');
      },
    );
  });

  it('plays a manual job named with `--manual`', async () => {
    await withSandbox(
      {
        '.gantry.yml': `build:
  stage: build
  script: "true"
deploy:
  stage: deploy
  when: manual
  script: echo "deploying, CI_JOB_MANUAL=$CI_JOB_MANUAL"
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--manual', 'deploy']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('deploy').status, 'success');
        assert.equal(r.job('deploy').attempts, 1);
        assert.match(await logsOf(sb, r.pipeline.id, 'deploy'), /^deploying, CI_JOB_MANUAL=true$/m);
      },
    );
  });

  it('a manual job from `rules: when: manual` blocks: pipeline `manual`, later stages wait, exit 1', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, approve, deploy]
build:
  stage: build
  script: "true"
approve:
  stage: approve
  script: echo approved
  rules:
    - when: manual
deploy:
  stage: deploy
  script: echo deployed
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.pipeline.status, 'manual');
        assert.equal(r.job('approve').status, 'manual');
        assert.equal(r.job('approve').allowFailure, false);
        // GitLab leaves the jobs after a blocking manual job `created`: they never started.
        assert.equal(r.job('deploy').status, 'created');
        assert.equal(r.job('deploy').startedAt, null);
        assert.equal(r.job('deploy').attempts, 0);

        const played = await runJson(sb, ['--manual', 'approve']);
        assert.equal(played.code, 0, played.stderr);
        assert.equal(played.pipeline.status, 'success');
        assert.equal(played.job('deploy').status, 'success');
      },
    );
  });

  it('evaluates `rules: if: $CI_COMMIT_BRANCH == "main"` against the checked-out branch', async () => {
    const file = `always:
  script: "true"
main-only:
  script: "true"
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
not-main:
  script: "true"
  rules:
    - if: $CI_COMMIT_BRANCH != "main"
`;
    await withSandbox({ '.gantry.yml': file }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.pipeline.jobs.map((j) => j.name).sort(), ['always', 'main-only']);
    });
    await withSandbox(
      { '.gantry.yml': file },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.ref, 'feature/x');
        assert.deepEqual(r.pipeline.jobs.map((j) => j.name).sort(), ['always', 'not-main']);
      },
      { branch: 'feature/x' },
    );
  });

  it('lets `--var` values reach rules, including `=~` and a rule-level `variables`', async () => {
    await withSandbox(
      {
        '.gantry.yml': `deploy:
  script: echo "TARGET=$TARGET"
  rules:
    - if: $DEPLOY == "yes" && $ENV_NAME =~ /^prod/
      variables:
        TARGET: production
    - if: $DEPLOY == "yes"
      variables:
        TARGET: staging
build:
  script: "true"
`,
      },
      async (sb) => {
        const none = await runJson(sb);
        assert.deepEqual(none.pipeline.jobs.map((j) => j.name), ['build']);

        const staging = await runJson(sb, ['--var', 'DEPLOY=yes', '--var', 'ENV_NAME=dev']);
        assert.equal(staging.code, 0, staging.stderr);
        assert.match(await logsOf(sb, staging.pipeline.id, 'deploy'), /^TARGET=staging$/m);

        const prod = await runJson(sb, ['--var', 'DEPLOY=yes', '--var', 'ENV_NAME=prod-eu']);
        assert.equal(prod.code, 0, prod.stderr);
        assert.match(await logsOf(sb, prod.pipeline.id, 'deploy'), /^TARGET=production$/m);
      },
    );
  });

  it('`rules: exists` picks jobs by the files in the repository', async () => {
    await withSandbox(
      {
        'package.json': '{}\n',
        '.gantry.yml': `node:
  script: "true"
  rules:
    - exists: [package.json]
go:
  script: "true"
  rules:
    - exists: ["**/go.mod"]
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.pipeline.jobs.map((j) => j.name), ['node']);
      },
    );
  });

  it('`workflow: rules` that match nothing run no pipeline: exit 0, no job ran, nothing recorded', async () => {
    await withSandbox(
      {
        '.gantry.yml': `workflow:
  rules:
    - if: $CI_COMMIT_BRANCH == "release"
job:
  script: touch "$MARK_DIR/ran"
`,
      },
      async (sb) => {
        const mark = path.join(sb.base, 'marks');
        fs.mkdirSync(mark);
        const r = await gantry(sb, ['run', '--var', `MARK_DIR=${mark}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(!fs.existsSync(path.join(mark, 'ran')), 'a job ran although workflow:rules excluded the pipeline');
        assert.deepEqual((await pipelinesJson(sb)).items, []);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'a stack trace was printed');
      },
    );
  });

  it('`workflow: rules` that match run the pipeline', async () => {
    await withSandbox(
      {
        '.gantry.yml': `workflow:
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
job:
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('job').status, 'success');
      },
    );
  });
});
