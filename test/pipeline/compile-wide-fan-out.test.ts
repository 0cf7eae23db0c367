// A wide fan-out pipeline compiles to the DAG GitLab would make (its speed is measured by `npm run bench`).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePipeline, memoryProjectFiles } from '../../src/pipeline/index.js';

function fanOut(width: number): string {
  const lines = ['stages: [prepare, work, collect]', 'prepare:', '  stage: prepare', '  script: [echo prepare]'];
  for (let i = 0; i < width; i++) {
    lines.push(`work-${i}:`, '  stage: work', '  script: [echo work]', '  rules:', '    - if: $CI_COMMIT_BRANCH == "main" || $FORCE');
  }
  lines.push('collect:', '  stage: collect', '  script: [echo collect]');
  return `${lines.join('\n')}\n`;
}

test('a 1 -> 200 -> 1 pipeline compiles to 202 jobs, the last one waiting for all the others', () => {
  const files = memoryProjectFiles({ '.gantry.yml': fanOut(200) });
  const ctx = { variables: { CI_COMMIT_BRANCH: 'main' }, changedFiles: null, files };
  const first = compilePipeline('.gantry.yml', ctx);
  assert.equal(first.ok, true);
  if (first.ok !== true) return;
  assert.equal(first.pipeline.jobs.length, 202);
  assert.equal(first.pipeline.jobs.at(-1)!.needs.length, 201);
});
