// `gantry run` orders jobs the way GitLab does: stage by stage, except where `needs` makes a DAG;
// the job set is GitLab's (hidden and rules-excluded jobs are not jobs); `--json` is one object.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ISO_UTC, ms, runJson, withSandbox } from '../helpers/gantry.js';

describe('gantry run: stages and needs', () => {
  it('starts a later stage only after every job of the earlier stage finished', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test, deploy]
slow-build:
  stage: build
  script: sleep 0.6
fast-build:
  stage: build
  script: "true"
unit:
  stage: test
  script: "true"
lint:
  stage: test
  script: "true"
ship:
  stage: deploy
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '4']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.status, 'success');
        const buildEnd = Math.max(ms(r.job('slow-build').finishedAt), ms(r.job('fast-build').finishedAt));
        for (const t of ['unit', 'lint']) assert.ok(ms(r.job(t).startedAt) >= buildEnd, `${t} started before the build stage finished`);
        const testEnd = Math.max(ms(r.job('unit').finishedAt), ms(r.job('lint').finishedAt));
        assert.ok(ms(r.job('ship').startedAt) >= testEnd, 'ship started before the test stage finished');
        // Jobs of one stage run side by side.
        assert.ok(ms(r.job('fast-build').startedAt) < ms(r.job('slow-build').finishedAt));
      },
    );
  });

  it('lets a job with `needs` start before the rest of the earlier stages finish, and `needs: []` at once', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test, deploy]
slow:
  stage: build
  script: sleep 1
quick:
  stage: build
  script: "true"
after-quick:
  stage: deploy
  needs: [quick]
  script: "true"
independent:
  stage: deploy
  needs: []
  script: "true"
staged:
  stage: test
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '4']);
        assert.equal(r.code, 0, r.stderr);
        const slowEnd = ms(r.job('slow').finishedAt);
        assert.ok(ms(r.job('after-quick').startedAt) >= ms(r.job('quick').finishedAt), 'a job started before what it needs finished');
        assert.ok(ms(r.job('after-quick').startedAt) < slowEnd, '`needs: [quick]` still waited for the whole build stage');
        assert.ok(ms(r.job('independent').startedAt) < slowEnd, '`needs: []` waited for the build stage');
        assert.ok(ms(r.job('staged').startedAt) >= slowEnd, 'a stage-mode job did not wait for its earlier stage');
      },
    );
  });

  it('runs .pre first and .post last, and puts a job without `stage` in `test`', async () => {
    await withSandbox(
      {
        '.gantry.yml': `post-job:
  stage: .post
  script: "true"
default-stage:
  script: sleep 0.2
build-job:
  stage: build
  script: sleep 0.2
pre-job:
  stage: .pre
  script: sleep 0.2
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '4']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('default-stage').stage, 'test');
        const order = ['pre-job', 'build-job', 'default-stage', 'post-job'];
        for (let i = 1; i < order.length; i++) {
          assert.ok(ms(r.job(order[i]!).startedAt) >= ms(r.job(order[i - 1]!).finishedAt), `${order[i]} started before ${order[i - 1]} finished`);
        }
      },
    );
  });

  it("creates exactly GitLab's job set: hidden jobs and rules-excluded jobs are not jobs", async () => {
    await withSandbox(
      {
        '.gantry.yml': `.template:
  script: echo from template
built:
  extends: .template
never:
  script: "true"
  rules:
    - when: never
not-matching:
  script: "true"
  rules:
    - if: $NOPE == "yes"
matching:
  script: "true"
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
except-main:
  script: "true"
  except: [main]
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.pipeline.jobs.map((j) => j.name).sort(), ['built', 'matching']);
      },
    );
  });

  it('prints exactly one JSON object with the documented shape and ISO-8601 UTC timestamps', async () => {
    await withSandbox(
      {
        '.gantry.yml': `a:
  script: echo "some output that must not reach stdout"
b:
  needs: [a]
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        // One object, one line: no log lines or summary on stdout.
        const text = r.out.trim();
        assert.equal(text.split('\n').length, 1, `stdout has more than one line:\n${r.out}`);
        assert.ok(text.startsWith('{') && text.endsWith('}'));
        assert.ok(!r.out.includes('some output'), 'job output went to stdout under --json');
        const p = r.pipeline;
        assert.deepEqual(Object.keys(p).sort(), ['approval', 'children', 'coverage', 'createdAt', 'finishedAt', 'id', 'jobs', 'parent', 'projectId', 'ref', 'sha', 'source', 'startedAt', 'status', 'triggeredBy', 'trusted', 'variables'].sort());
        assert.equal(p.parent, null);
        assert.deepEqual(p.children, []);
        assert.deepEqual(p.variables, {});
        // The DAG's edges: `needs:` as names; no `needs:` (stage order) is null.
        assert.deepEqual(
          p.jobs.map((j) => [j.name, j.needs]),
          [
            ['a', null],
            ['b', ['a']],
          ],
        );
        assert.equal(typeof p.id, 'number');
        assert.equal(p.ref, 'main');
        assert.equal(p.sha, sb.git('rev-parse', 'HEAD').trim());
        for (const t of [p.createdAt, p.startedAt, p.finishedAt]) assert.match(String(t), ISO_UTC);
        assert.ok(ms(p.createdAt) <= ms(p.startedAt) && ms(p.startedAt) <= ms(p.finishedAt));
        assert.equal(p.jobs.length, 2);
        for (const j of p.jobs) {
          assert.deepEqual(
            Object.keys(j).sort(),
            ['allowFailure', 'allowFailureExitCodes', 'attempts', 'coverage', 'downstream', 'downstreamError', 'environment', 'exitCode', 'failureReason', 'finishedAt', 'id', 'name', 'needs', 'scheduledAt', 'stage', 'startedAt', 'status', 'trigger', 'when'].sort(),
          );
          assert.match(String(j.startedAt), ISO_UTC);
          assert.match(String(j.finishedAt), ISO_UTC);
          assert.equal(j.status, 'success');
          assert.equal(j.attempts, 1);
          assert.equal(j.exitCode, 0);
          assert.equal(j.failureReason, null);
          assert.equal(j.allowFailure, false);
          assert.equal(j.allowFailureExitCodes, null);
          assert.equal(j.when, 'on_success');
          assert.deepEqual([j.trigger, j.downstream, j.downstreamError, j.scheduledAt], [false, null, null, null]);
          assert.ok(ms(p.startedAt) <= ms(j.startedAt) && ms(j.finishedAt) <= ms(p.finishedAt));
        }
      },
    );
  });
  it('lets a job `need` a job of its own stage, and waits for every instance of a needed `parallel` job', async () => {
    await withSandbox(
      {
        '.gantry.yml': `first:
  stage: test
  script: sleep 0.4
second:
  stage: test
  needs: [first]
  script: "true"
shard:
  stage: build
  parallel: 3
  script: sleep 0.$CI_NODE_INDEX
merge:
  stage: test
  needs: [shard]
  script: "true"
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '4']);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(ms(r.job('second').startedAt) >= ms(r.job('first').finishedAt), 'second started before the job it needs in its own stage');
        const shardsEnd = Math.max(...[1, 2, 3].map((i) => ms(r.job(`shard ${i}/3`).finishedAt)));
        assert.ok(ms(r.job('merge').startedAt) >= shardsEnd, 'merge started before every shard finished');
      },
    );
  });

  it('runs one job at a time per `resource_group`', async () => {
    await withSandbox(
      {
        '.gantry.yml': `deploy-a:
  resource_group: production
  script: sleep 0.3
deploy-b:
  resource_group: production
  script: sleep 0.3
other:
  script: sleep 0.3
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '4']);
        assert.equal(r.code, 0, r.stderr);
        const [x, y] = [r.job('deploy-a'), r.job('deploy-b')].sort((p, q) => ms(p.startedAt) - ms(q.startedAt));
        assert.ok(ms(y!.startedAt) >= ms(x!.finishedAt), 'two jobs of one resource group overlapped');
        assert.ok(ms(r.job('other').startedAt) < ms(x!.finishedAt), 'a job outside the group waited for it');
      },
    );
  });

  it('marks a pipeline whose every job was skipped as skipped (not success: exit 1)', async () => {
    await withSandbox({ '.gantry.yml': 'only-on-failure:\n  when: on_failure\n  script: "true"\n' }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.job('only-on-failure').status, 'skipped');
      assert.equal(r.pipeline.status, 'skipped');
      assert.equal(r.code, 1);
    });
  });

  it('selects jobs by `only`/`except` refs: branches and tags', async () => {
    const file = `on-tags:
  only: [tags]
  script: "true"
not-on-tags:
  except: [tags]
  script: "true"
on-main:
  only: [main]
  script: "true"
`;
    await withSandbox({ '.gantry.yml': file }, async (sb) => {
      const onBranch = await runJson(sb);
      assert.deepEqual(onBranch.pipeline.jobs.map((j) => j.name).sort(), ['not-on-tags', 'on-main']);
      sb.git('tag', 'v1');
      sb.git('checkout', '-q', 'v1');
      const onTag = await runJson(sb);
      assert.deepEqual(onTag.pipeline.jobs.map((j) => j.name), ['on-tags']);
    });
  });
  it('drops an `optional` need of a job that rules excluded, and runs the job', async () => {
    await withSandbox(
      {
        '.gantry.yml': `maybe:
  stage: build
  script: "true"
  rules:
    - if: $BUILD_IT == "yes"
user:
  stage: test
  needs:
    - job: maybe
      optional: true
  script: "true"
`,
      },
      async (sb) => {
        const without = await runJson(sb);
        assert.equal(without.code, 0, without.stderr);
        assert.deepEqual(without.pipeline.jobs.map((j) => j.name), ['user']);
        assert.equal(without.job('user').status, 'success');
        const withIt = await runJson(sb, ['--var', 'BUILD_IT=yes']);
        assert.equal(withIt.code, 0, withIt.stderr);
        assert.ok(ms(withIt.job('user').startedAt) >= ms(withIt.job('maybe').finishedAt));
      },
    );
  });
});
