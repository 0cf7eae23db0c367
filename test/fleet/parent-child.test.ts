// Parent-child pipelines through a real server and a real agent (PIPELINE.md, "Parent-child
// pipelines"): the server makes the child when the trigger job becomes ready, the agent runs the
// child's jobs, a `strategy: depend` trigger job ends as its child ended and the parent follows;
// a child that fails to compile fails the trigger job with downstream_pipeline_creation_failed
// and the words why; canceling the parent cancels the child. SQLite (the store's SQL is the same
// on PostgreSQL, and the contract tests run the downstream transactions on both).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { Fleet } from './fleet-harness.js';

interface Job {
  id: number;
  name: string;
  status: string;
  failureReason: string | null;
  trigger: boolean;
  downstream: { pipelineId: number; status: string } | null;
  downstreamError: string | null;
}
interface Pipeline {
  id: number;
  status: string;
  source: string;
  parent: { pipelineId: number; jobId: number } | null;
  children: { pipelineId: number; jobId: number; status: string }[];
  jobs: Job[];
}

const PARENT = `variables:
  GLOBAL_V: from-parent-file
stages: [build, test]
prep:
  stage: build
  script: echo prep
kid-ok:
  stage: test
  variables:
    KID_V: job-$CI_COMMIT_REF_NAME
    OUT: $OUT_FILE
  trigger:
    include: child-ok.yml
    strategy: depend
  rules: [{if: $SCENARIO == "ok"}]
kid-fail:
  stage: test
  trigger: {include: [{local: child-fail.yml}], strategy: depend}
  rules: [{if: $SCENARIO == "fail"}]
kid-slow:
  stage: test
  trigger: {include: child-slow.yml, strategy: depend}
  rules: [{if: $SCENARIO == "slow"}]
kid-bad:
  stage: test
  trigger: {include: child-bad.yml}
  rules: [{if: $SCENARIO == "bad"}]
`;

describe('parent-child pipelines across the fleet', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('a depend trigger job runs its child on an agent and ends as it did; failure, cancel and a compile error follow GitLab', async () => {
    const f = new Fleet(
      {
        '.gantry.yml': PARENT,
        'child-ok.yml': `seen:
  script:
    - 'echo "$KID_V $GLOBAL_V \${SCENARIO:-unset} $CI_PIPELINE_SOURCE" >> "$OUT"'
  rules: [{if: $CI_PIPELINE_SOURCE == "parent_pipeline"}]
`,
        'child-fail.yml': 'boom:\n  script: exit 3\n',
        'child-slow.yml': 'slow:\n  script: sleep 60\n',
        'child-bad.yml': 'oops:\n  scirpt: echo\n',
      },
      null,
    );
    fleets.push(f);
    await f.startServer();
    await f.startAgent({ tags: [], name: 'box' });
    await f.project();
    const get = async (id: number) => (await f.api<Pipeline>('GET', `/pipelines/${id}`)).body;

    // Success: the child runs, sees what was passed down (the job's and the file's variables, not
    // the parent's pipeline variables: forward:pipeline_variables is false by default).
    const out = f.sharedFile('seen');
    const ok = await f.trigger('demo', { SCENARIO: 'ok', OUT_FILE: out });
    const okDone = await f.waitPipeline(ok.id);
    const parent = await get(ok.id);
    assert.equal(okDone.status, 'success', JSON.stringify(parent));
    const kid = parent.jobs.find((j) => j.name === 'kid-ok')!;
    assert.equal(kid.trigger, true);
    assert.equal(kid.status, 'success');
    assert.ok(kid.downstream);
    assert.deepEqual(parent.children, [{ pipelineId: kid.downstream.pipelineId, jobId: kid.id, status: 'success' }]);
    const child = await get(kid.downstream.pipelineId);
    assert.deepEqual([child.source, child.parent, child.status], ['parent_pipeline', { pipelineId: ok.id, jobId: kid.id }, 'success']);
    assert.deepEqual(child.jobs.map((j) => [j.name, j.status]), [['seen', 'success']]);
    assert.equal(fs.readFileSync(out, 'utf8').trim(), 'job-main from-parent-file unset parent_pipeline');
    // Both are in the project's list; children=false leaves the child out.
    const all = await f.api<{ items: { id: number; parent: unknown }[] }>('GET', '/projects/demo/pipelines');
    assert.deepEqual(all.body.items.map((p) => p.id), [child.id, ok.id]);
    const tops = await f.api<{ items: { id: number }[] }>('GET', '/projects/demo/pipelines?children=false');
    assert.deepEqual(tops.body.items.map((p) => p.id), [ok.id]);

    // The child fails: the depend trigger job fails, and so does the parent.
    const failing = await f.trigger('demo', { SCENARIO: 'fail' });
    assert.equal((await f.waitPipeline(failing.id)).status, 'failed');
    const failedKid = (await get(failing.id)).jobs.find((j) => j.name === 'kid-fail')!;
    assert.deepEqual([failedKid.status, failedKid.failureReason, failedKid.downstream?.status], ['failed', 'downstream_pipeline_failed', 'failed']);

    // Canceling the parent cancels the running child.
    const slow = await f.trigger('demo', { SCENARIO: 'slow' });
    const running = await f.waitPipeline(slow.id, (p) => (p as unknown as Pipeline).children?.length > 0 || p.status !== 'running' && p.status !== 'pending' && p.status !== 'created');
    const childId = (running as unknown as Pipeline).children[0]!.pipelineId;
    await f.waitPipeline(childId, (p) => p.jobs[0]!.status === 'running');
    const cancel = await f.api('POST', `/pipelines/${slow.id}/cancel`);
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    assert.equal((await f.waitPipeline(childId)).status, 'canceled');
    assert.equal((await f.waitPipeline(slow.id)).status, 'canceled');

    // A child that does not compile: the trigger job fails with GitLab's reason and the error at its line and column.
    const bad = await f.trigger('demo', { SCENARIO: 'bad' });
    assert.equal((await f.waitPipeline(bad.id)).status, 'failed');
    const badKid = (await get(bad.id)).jobs.find((j) => j.name === 'kid-bad')!;
    assert.deepEqual([badKid.status, badKid.failureReason, badKid.downstream], ['failed', 'downstream_pipeline_creation_failed', null]);
    assert.match(badKid.downstreamError ?? '', /^child-bad\.yml:2:3: unknown keyword `scirpt`/m);

    // Retrying the trigger job makes a new child pipeline.
    const retried = await f.api('POST', `/jobs/${failedKid.id}/retry`);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    await f.waitPipeline(failing.id, (p) => (p as unknown as Pipeline).children?.length === 2 && p.status === 'failed');
    const again = await get(failing.id);
    assert.equal(again.children.length, 2);
    assert.equal(again.jobs.find((j) => j.name === 'kid-fail')!.downstream!.pipelineId, again.children[1]!.pipelineId);
  });
});
