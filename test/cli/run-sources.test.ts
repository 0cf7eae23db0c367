import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { gantry, logsOf, runJson, sandbox } from '../helpers/gantry.js';

const PIPELINE = `
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH
push-only:
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
  script: [ 'echo "source=$CI_PIPELINE_SOURCE branch=[$CI_COMMIT_BRANCH]"' ]
mr-only:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script: [ 'echo "mr $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME -> $CI_MERGE_REQUEST_TARGET_BRANCH_NAME branch=[$CI_COMMIT_BRANCH]"' ]
`;

describe('what event gantry run stands for', () => {
  it('is a push by default, so GitLab pipelines gated on push run as they would on GitLab', async () => {
    const sb = sandbox({ '.gantry.yml': PIPELINE });
    try {
      const r = await runJson(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.pipeline.source, 'push');
      // Who ran it: the account running gantry.
      assert.deepEqual((r.pipeline as unknown as { triggeredBy: unknown }).triggeredBy, { kind: 'local_user', name: os.userInfo().username });
      assert.deepEqual(r.pipeline.jobs.map((j) => j.name), ['push-only']);
      assert.match(await logsOf(sb, r.pipeline.id, 'push-only'), /\nsource=push branch=\[main\]\n/);
    } finally {
      sb.cleanup();
    }
  });

  it('--source merge_request_event gives a merge request pipeline: MR variables, no CI_COMMIT_BRANCH', async () => {
    const sb = sandbox({ '.gantry.yml': PIPELINE }, { branch: 'feature/x' });
    try {
      const r = await runJson(sb, ['--source', 'merge_request_event']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.pipeline.source, 'merge_request_event');
      assert.deepEqual(r.pipeline.jobs.map((j) => j.name), ['mr-only']);
      assert.match(await logsOf(sb, r.pipeline.id, 'mr-only'), /\nmr feature\/x -> main branch=\[\]\n/);
    } finally {
      sb.cleanup();
    }
  });

  it('refuses an unknown --source with a usage error', async () => {
    const sb = sandbox({ '.gantry.yml': PIPELINE });
    try {
      const r = await gantry(sb, ['run', '--source', 'carrier-pigeon']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--source must be one of push, merge_request_event/);
    } finally {
      sb.cleanup();
    }
  });
});

describe('a pipeline whose rules exclude every job', () => {
  it('is not created, as on GitLab: gantry run says so, records nothing and exits 0', async () => {
    const sb = sandbox({ '.gantry.yml': 'release:\n  rules:\n    - if: $CI_COMMIT_TAG\n  script: [ "echo release" ]\n' });
    try {
      const r = await gantry(sb, ['run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.out), { filtered: true, reason: 'the rules of every job exclude it for this pipeline, so GitLab would create none' });
      assert.match(r.stderr, /no pipeline runs: the rules of every job exclude it/);
      const list = JSON.parse((await gantry(sb, ['pipelines', '--json'])).out) as { items: unknown[] };
      assert.equal(list.items.length, 0);
    } finally {
      sb.cleanup();
    }
  });
});

describe('a detached HEAD', () => {
  it('runs with the commit as CI_COMMIT_REF_NAME and neither CI_COMMIT_BRANCH nor CI_COMMIT_TAG, as GitLab does for a bare commit', async () => {
    const sb = sandbox({ '.gantry.yml': 'show:\n  script: [ \'echo "ref=$CI_COMMIT_REF_NAME branch=[${CI_COMMIT_BRANCH-unset}] tag=[${CI_COMMIT_TAG-unset}]"\' ]\n' });
    try {
      const sha = sb.git('rev-parse', 'HEAD').trim();
      sb.git('checkout', '-q', '--detach', 'HEAD');
      const r = await runJson(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.pipeline.ref, sha);
      assert.match(await logsOf(sb, r.pipeline.id, 'show'), new RegExp(`\\nref=${sha} branch=\\[unset\\] tag=\\[unset\\]\\n`));
    } finally {
      sb.cleanup();
    }
  });
});
