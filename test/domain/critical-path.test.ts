// The critical path: the chain of jobs that decided when a pipeline ended, found backwards from
// the job that finished last through what each one waited for.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { criticalPath, type TimedJob } from '../../src/domain/critical-path.js';

const job = (id: number, name: string, stageIndex: number, needs: string[] | null, startedAt: number | null, finishedAt: number | null): TimedJob => ({ id, name, stageIndex, needs, startedAt, finishedAt });

describe('critical path', () => {
  it('by stages: from the last to finish, back through the earlier stage job that finished last before it started', () => {
    const jobs = [
      job(1, 'build', 0, null, 0, 10),
      job(2, 'lint', 0, null, 0, 30),
      job(3, 'unit', 1, null, 31, 50),
      job(4, 'e2e', 1, null, 31, 90),
      job(5, 'deploy', 2, null, 91, 100),
    ];
    assert.deepEqual(criticalPath(jobs), [2, 4, 5]);
  });

  it('by needs: a job waits only for what it needs, so a slow job of an earlier stage it does not need is off the path', () => {
    const jobs = [
      job(1, 'build', 0, [], 0, 10),
      job(2, 'docs', 0, [], 0, 80),
      job(3, 'test', 1, ['build'], 11, 40),
      job(4, 'deploy', 2, ['test'], 41, 90),
    ];
    assert.deepEqual(criticalPath(jobs), [1, 3, 4]);
  });

  it('a job that never ran (skipped, manual) is not on it; nothing finished gives an empty path', () => {
    assert.deepEqual(criticalPath([job(1, 'a', 0, null, null, null), job(2, 'b', 1, null, 5, 9)]), [2]);
    assert.deepEqual(criticalPath([job(1, 'a', 0, null, null, null)]), []);
  });

  it('a dependency that finished after the job started (a retry of it, say) is not what the job waited for', () => {
    const jobs = [job(1, 'a', 0, [], 0, 50), job(2, 'b', 0, [], 0, 5), job(3, 'c', 1, ['a', 'b'], 10, 60)];
    assert.deepEqual(criticalPath(jobs), [2, 3]);
  });
});
