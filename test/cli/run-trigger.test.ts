// `gantry run` and trigger jobs (PIPELINE.md, "Parent-child pipelines"): child pipelines run on a
// server only; locally the trigger job fails at once with downstream_pipeline_creation_failed and
// says why, and the parent goes on by the ordinary rules (its allow_failure, later stages).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gantry, runJson, withSandbox } from '../helpers/gantry.js';

describe('gantry run: trigger jobs', () => {
  it('a trigger job fails with a clear message, and the pipeline follows it as any failed job', async () => {
    await withSandbox(
      {
        '.gantry.yml': `build:
  stage: build
  script: echo built
kid:
  stage: test
  trigger: {include: child.yml, strategy: depend}
`,
        'child.yml': 'c:\n  script: echo child\n',
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.equal(r.job('build').status, 'success');
        assert.deepEqual([r.job('kid').status, r.job('kid').failureReason], ['failed', 'downstream_pipeline_creation_failed']);
        const plain = await gantry(sb, ['run']);
        assert.match(plain.out + plain.stderr, /gantry run does not run child pipelines: trigger job kid \(child\.yml\) fails/);
      },
    );
  });
});
