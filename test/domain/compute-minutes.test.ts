// The ledger's arithmetic, apart from any store: months, amounts, slices, and a balance derived
// from the sums of a project's entries (allowance first, then grants).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  balanceOf,
  computeMs,
  emptyMonth,
  minutesOf,
  monthOf,
  monthStart,
  msOfMinutes,
  pastMonthsClosed,
  sliceOf,
  wallMsFor,
  type MonthSums,
} from '../../src/domain/compute-minutes.js';
import { shouldRetry } from '../../src/scheduler/retry.js';

const MIN = 60_000;
const month = (m: string, sums: Partial<MonthSums>): MonthSums => ({ ...emptyMonth(m), ...sums });

describe('compute minutes: months and amounts', () => {
  it('the month of an entry is the UTC month of its time', () => {
    assert.equal(monthOf(Date.UTC(2024, 0, 31, 23, 59, 59, 999)), '2024-01');
    assert.equal(monthOf(Date.UTC(2024, 1, 1)), '2024-02');
    assert.equal(monthStart('2024-12'), Date.UTC(2024, 11, 1));
  });

  it('a month stays open a minute past its end, then its sums are frozen', () => {
    assert.equal(pastMonthsClosed(Date.UTC(2024, 1, 1, 0, 0, 59)), false);
    assert.equal(pastMonthsClosed(Date.UTC(2024, 1, 1, 0, 1, 0)), true);
  });

  it('an amount is the duration times the factor in thousandths, rounded to whole compute ms', () => {
    assert.equal(computeMs(1_000, 1_000), 1_000);
    assert.equal(computeMs(1_000, 1_500), 1_500);
    assert.equal(computeMs(333, 2_500), 833);
    assert.equal(computeMs(12_345, 0), 0, 'a free pool costs nothing');
    assert.equal(computeMs(-5, 1_000), 0, 'a clock that went back costs nothing');
    assert.equal(wallMsFor(1_500, 1_500), 1_000);
    assert.equal(wallMsFor(10, 0), Number.POSITIVE_INFINITY);
  });

  it('minutes at the edge: three decimals from exact ms, and back', () => {
    assert.equal(minutesOf(MIN), 1);
    assert.equal(minutesOf(6_000), 0.1);
    assert.equal(minutesOf(61), 0.001);
    assert.equal(msOfMinutes(0.25), 15_000);
  });

  it('a slice is a lease of running at the factor, or what is left when less', () => {
    assert.deepEqual(sliceOf(2_000, 1_000, null), { amountMs: 2_000, wallMs: 2_000 });
    assert.deepEqual(sliceOf(2_000, 10_000, 50_000), { amountMs: 20_000, wallMs: 2_000 });
    assert.deepEqual(sliceOf(2_000, 10_000, 5_000), { amountMs: 5_000, wallMs: 500 });
    assert.deepEqual(sliceOf(2_000, 1_000, -10), { amountMs: 0, wallMs: 0 });
  });
});

describe('compute minutes: a balance from entries', () => {
  it('the allowance is spent first: grants are untouched while consumption stays within it', () => {
    const b = balanceOf([month('2024-03', { allowance: 10 * MIN, grant: 5 * MIN, consume: 4 * MIN })], '2024-03');
    assert.deepEqual(b, { month: '2024-03', limitMs: 10 * MIN, grantsMs: 5 * MIN, consumedMs: 4 * MIN, reservedMs: 0, availableMs: 11 * MIN });
  });

  it('then grants: what a month consumed beyond its allowance comes out of the grants, and their rest carries over', () => {
    const history = [month('2024-01', { allowance: 10 * MIN, grant: 5 * MIN, consume: 12 * MIN }), month('2024-02', { allowance: 10 * MIN })];
    const feb = balanceOf(history, '2024-02');
    assert.equal(feb.grantsMs, 3 * MIN, 'two of the five granted minutes were spent in January');
    assert.equal(feb.availableMs, 13 * MIN);
  });

  it('a month rolls over to its own allowance: an overrun beyond allowance and grants is not a debt', () => {
    const history = [month('2024-01', { allowance: MIN, grant: MIN, consume: 5 * MIN }), month('2024-02', { allowance: MIN })];
    assert.equal(balanceOf(history, '2024-01').availableMs, -3 * MIN);
    const feb = balanceOf(history, '2024-02');
    assert.equal(feb.grantsMs, 0);
    assert.equal(feb.availableMs, MIN);
  });

  it('a new month without its allowance entry yet gets it from the quota now; no quota is unlimited', () => {
    const history = [month('2024-01', { allowance: MIN, consume: MIN })];
    assert.equal(balanceOf(history, '2024-02', 2 * MIN).availableMs, 2 * MIN);
    assert.equal(balanceOf(history, '2024-02').availableMs, null, 'no allowance written and no quota given');
    const unlimited = balanceOf([month('2024-02', { allowance: MIN, consume: 5 * MIN })], '2024-02', null);
    assert.equal(unlimited.limitMs, null);
    assert.equal(unlimited.availableMs, null, 'the quota was lifted: the entries of the month do not limit it');
  });

  it('a month without a limit takes nothing from the grants', () => {
    const history = [month('2024-01', { grant: 5 * MIN, consume: 50 * MIN }), month('2024-02', { allowance: 0 })];
    assert.equal(balanceOf(history, '2024-02').availableMs, 5 * MIN);
  });

  it('adjustments move the month`s limit: a quota raised or lowered mid-month', () => {
    const raised = month('2024-05', { allowance: 10 * MIN, adjustment: 5 * MIN, consume: 12 * MIN });
    assert.equal(balanceOf([raised], '2024-05').limitMs, 15 * MIN);
    assert.equal(balanceOf([raised], '2024-05').availableMs, 3 * MIN);
    const lowered = month('2024-05', { allowance: 10 * MIN, adjustment: -8 * MIN, consume: MIN });
    assert.equal(balanceOf([lowered], '2024-05', 2 * MIN).availableMs, MIN, 'a written allowance wins over the quota given');
  });

  it('reservations count until released, across months; consumption is what stays', () => {
    const history = [
      // January: an attempt reserved 2 minutes and is still running when the month ends.
      month('2024-01', { allowance: 10 * MIN, reserve: 2 * MIN }),
      // February: it ends, consuming 1.5 minutes and releasing its 2; another holds 1.
      month('2024-02', { allowance: 10 * MIN, consume: 1.5 * MIN, release: 2 * MIN, reserve: MIN }),
    ];
    assert.equal(balanceOf(history, '2024-01').reservedMs, 2 * MIN);
    assert.equal(balanceOf(history, '2024-01').availableMs, 8 * MIN);
    const feb = balanceOf(history, '2024-02');
    assert.equal(feb.reservedMs, MIN);
    assert.equal(feb.availableMs, 10 * MIN - 1.5 * MIN - MIN);
  });

  it('later months and the order of the history do not matter', () => {
    const history = [month('2024-03', { allowance: MIN, consume: 100 * MIN }), month('2024-01', { allowance: MIN, grant: 3 * MIN })];
    assert.equal(balanceOf(history, '2024-01').availableMs, 4 * MIN);
    assert.equal(balanceOf(history, '2024-02', MIN).grantsMs, 3 * MIN);
  });

  it('a job stopped for quota is not retried, whatever its retry says', () => {
    assert.equal(shouldRetry({ max: 2, when: ['always'], exitCodes: null }, 1, 'quota_exceeded', null), false);
  });
});
