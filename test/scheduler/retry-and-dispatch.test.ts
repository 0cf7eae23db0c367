import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickToStart } from '../../src/scheduler/dispatch.js';
import { shouldRetry } from '../../src/scheduler/retry.js';

describe('retry', () => {
  const always = { max: 2 as const, when: ['always' as const], exitCodes: null };
  it('retries up to max times, then stops', () => {
    assert.equal(shouldRetry(always, 1, 'script_failure', 1), true);
    assert.equal(shouldRetry(always, 2, 'script_failure', 1), true);
    assert.equal(shouldRetry(always, 3, 'script_failure', 1), false);
  });
  it('retries only for the listed reasons', () => {
    const onTimeout = { max: 1 as const, when: ['stuck_or_timeout_failure' as const], exitCodes: null };
    assert.equal(shouldRetry(onTimeout, 1, 'timeout', null), true);
    assert.equal(shouldRetry(onTimeout, 1, 'script_failure', 1), false);
  });
  it('retries only for the listed exit codes', () => {
    const codes = { max: 1 as const, when: ['always' as const], exitCodes: [137] };
    assert.equal(shouldRetry(codes, 1, 'script_failure', 137), true);
    assert.equal(shouldRetry(codes, 1, 'script_failure', 1), false);
  });
  it('never retries a canceled job', () => {
    assert.equal(shouldRetry(always, 1, 'canceled', null), false);
  });
});

describe('dispatch', () => {
  const j = (key: number, priority = 0, resourceGroup: string | null = null) => ({ key, priority, resourceGroup });
  it('fills the free slots in queue order', () => {
    assert.deepEqual(pickToStart([j(1), j(2), j(3)], new Set(), 2).map((x) => x.key), [1, 2]);
  });
  it('starts higher priority first', () => {
    assert.deepEqual(pickToStart([j(1), j(2, 5), j(3)], new Set(), 2).map((x) => x.key), [2, 1]);
  });
  it('runs one job at a time per resource group, in order', () => {
    assert.deepEqual(pickToStart([j(1, 0, 'prod'), j(2, 0, 'prod'), j(3)], new Set(), 3).map((x) => x.key), [1, 3]);
    assert.deepEqual(pickToStart([j(1, 0, 'prod'), j(2)], new Set(['prod']), 3).map((x) => x.key), [2]);
  });
  it('starts nothing without a free slot', () => {
    assert.deepEqual(pickToStart([j(1)], new Set(), 0), []);
  });
});
