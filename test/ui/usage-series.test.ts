// The usage chart's data (ui/usage/usage-series.ts, pure): a bar per day of the month, a stacked
// series per pool, the largest pool first; minutes in words.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { daysIn, minutesText, monthStep, usageSeries } from '../../ui/usage/usage-series.js';

describe('the usage chart in numbers', () => {
  it('a bar for every day of the month, each pool a series, zeros where nothing ran, the largest pool first', () => {
    const s = usageSeries('2024-02', [
      { day: '2024-02-01', byPool: { linux: 1.5 } },
      { day: '2024-02-29', byPool: { linux: 0.25, gpu: 4 } },
      { day: '2024-03-01', byPool: { linux: 9 } },
    ]);
    assert.equal(s.labels.length, 29);
    assert.deepEqual(s.pools.map((p) => [p.pool, p.total]), [['gpu', 4], ['linux', 1.75]]);
    assert.equal(s.pools[1]!.minutes[0], 1.5);
    assert.equal(s.pools[1]!.minutes[28], 0.25);
    assert.equal(s.pools[0]!.minutes.filter((m) => m > 0).length, 1);
  });

  it('months and minutes', () => {
    assert.deepEqual([daysIn('2023-02'), daysIn('2024-12'), daysIn('2024-04')], [28, 31, 30]);
    assert.deepEqual([monthStep('2024-01', -1), monthStep('2024-12', 1)], ['2023-12', '2025-01']);
    assert.deepEqual([minutesText(null), minutesText(0.0254), minutesText(1234.5)], ['unlimited', '0.025 min', '1,234.5 min']);
  });
});
