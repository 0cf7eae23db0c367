// A project's insights from the runs of a window: every day of the window, success rate and
// duration percentiles, the slowest jobs at p95, and the jobs that failed then passed on a retry.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { insightsOf, percentile, type AttemptRun, type PipelineRun } from '../../src/domain/insights.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7, 12, 0, 0);

describe('insights', () => {
  it('every UTC day of the window is there, oldest first, with its counts; the rate leaves canceled pipelines out', () => {
    const runs: PipelineRun[] = [
      { id: 1, status: 'success', createdAt: NOW - 2 * DAY, finishedAt: NOW - 2 * DAY + 60_000 },
      { id: 2, status: 'failed', createdAt: NOW - 2 * DAY + 1, finishedAt: NOW - 2 * DAY + 120_001 },
      { id: 3, status: 'canceled', createdAt: NOW - 2 * DAY + 2, finishedAt: NOW - 2 * DAY + 5_002 },
      { id: 4, status: 'success', createdAt: NOW, finishedAt: NOW + 30_000 },
      { id: 5, status: 'running', createdAt: NOW, finishedAt: null },
    ];
    const out = insightsOf(runs, [], 7, NOW);
    assert.deepEqual(out.days.map((d) => d.day), ['2026-12-01', '2026-12-02', '2026-12-03', '2026-12-04', '2026-12-05', '2026-12-06', '2026-12-07']);
    const dec5 = out.days[4]!;
    assert.deepEqual([dec5.finished, dec5.succeeded, dec5.failed, dec5.canceled, dec5.successRate], [3, 1, 1, 1, 0.5]);
    assert.deepEqual([dec5.p50Seconds, dec5.p95Seconds], [60, 120]);
    assert.deepEqual([out.days[0]!.finished, out.days[0]!.successRate, out.days[0]!.p50Seconds], [0, null, null]);
    assert.deepEqual([out.days[6]!.finished, out.days[6]!.successRate], [1, 1]);
    assert.deepEqual([out.totals.finished, out.totals.succeeded, out.totals.failed, out.totals.canceled], [4, 2, 1, 1]);
  });

  it('slowest jobs rank by p95 of their successful attempts; a job that failed then passed in one pipeline is flaky there', () => {
    const a = (pipelineId: number, jobName: string, number: number, status: string, seconds: number): AttemptRun => ({ pipelineId, jobName, number, status, startedAt: 0, finishedAt: seconds * 1000 });
    const attempts = [
      a(1, 'build', 1, 'success', 10),
      a(2, 'build', 1, 'success', 12),
      a(1, 'e2e', 1, 'failed', 100),
      a(1, 'e2e', 2, 'success', 90),
      a(2, 'e2e', 1, 'success', 80),
      a(3, 'e2e', 1, 'failed', 70),
      a(1, 'lint', 1, 'failed', 1),
    ];
    const out = insightsOf([], attempts, 1, NOW);
    assert.deepEqual(out.slowestJobs, [
      { name: 'e2e', runs: 2, p50Seconds: 80, p95Seconds: 90 },
      { name: 'build', runs: 2, p50Seconds: 10, p95Seconds: 12 },
    ]);
    // e2e ran in 3 pipelines and flaked in 1; lint failed without a retry: not flaky.
    assert.deepEqual(out.flakiestJobs, [{ name: 'e2e', runs: 3, flaky: 1, rate: 1 / 3 }]);
  });

  it('percentiles are nearest-rank', () => {
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4], 0.95), 4);
    assert.equal(percentile([7], 0.5), 7);
  });
});
