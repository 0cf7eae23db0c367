// Retention's decision, apart from any store: which old pipelines a rule lets go, whose settings
// win, and how an expire_in reads.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_RETENTION,
  effectiveRule,
  keptBecause,
  logsExpired,
  NO_PROJECT_RETENTION,
  parseExpireIn,
  pipelinesToDelete,
  type PipelineFacts,
  type RefFacts,
  type RetentionRule,
} from '../../src/domain/retention.js';
import type { PipelineStatus } from '../../src/domain/status.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2024, 5, 1);
const RULE: RetentionRule = { pipelineDays: 30, keepPerRef: 2, logDays: 0, artifactsExpireInSeconds: null, keepLatestArtifacts: true };

const p = (id: number, ageDays: number, status: PipelineStatus = 'failed', ref = 'main', unfinishedAttempts = false): PipelineFacts => ({
  id,
  ref,
  status,
  createdAt: NOW - ageDays * DAY,
  unfinishedAttempts,
});

describe('retention: which old pipelines go', () => {
  it('pipelines older than the age go, but the newest K of each ref stay whatever their age', () => {
    // main: 1..6 (6 newest), all 40 days old; dev: 7, 8.
    const main = [1, 2, 3, 4, 5, 6].map((id) => p(id, 40));
    const dev = [p(7, 40, 'failed', 'dev'), p(8, 40, 'failed', 'dev')];
    const refs = new Map<string, RefFacts>([
      ['main', { newest: [6, 5], latestSuccess: null }],
      ['dev', { newest: [8, 7], latestSuccess: null }],
    ]);
    assert.deepEqual(pipelinesToDelete([...main, ...dev], refs, RULE, NOW, DAY), [1, 2, 3, 4]);
    assert.deepEqual(pipelinesToDelete(main, refs, { ...RULE, keepPerRef: 0 }, NOW, DAY), [1, 2, 3, 4, 5, 6]);
  });

  it('a pipeline younger than the age stays even when it is not among the newest of its ref', () => {
    const refs = new Map<string, RefFacts>([['main', { newest: [9, 8], latestSuccess: null }]]);
    assert.equal(keptBecause(p(3, 29.9), refs.get('main')!, RULE, NOW, DAY), 'recent');
    assert.equal(keptBecause(p(3, 30.1), refs.get('main')!, RULE, NOW, DAY), null);
  });

  it("the ref's latest successful pipeline stays while the latest artifacts are kept, even when later ones failed", () => {
    // 4 succeeded; 5 and 6 (the newest two) failed: 4 holds the ref's latest artifacts.
    const refs = new Map<string, RefFacts>([['main', { newest: [6, 5], latestSuccess: 4 }]]);
    const old = [p(1, 60, 'success'), p(2, 60), p(3, 60, 'success'), p(4, 60, 'success')];
    assert.deepEqual(pipelinesToDelete(old, refs, RULE, NOW, DAY), [1, 2, 3]);
    assert.equal(keptBecause(old[3]!, refs.get('main')!, RULE, NOW, DAY), 'latest-artifacts');
    assert.deepEqual(pipelinesToDelete(old, refs, { ...RULE, keepLatestArtifacts: false }, NOW, DAY), [1, 2, 3, 4]);
  });

  it('a pipeline that has not ended, or has an attempt still being stopped, never goes', () => {
    const refs = new Map<string, RefFacts>([['main', { newest: [], latestSuccess: null }]]);
    for (const status of ['created', 'waiting_for_approval', 'pending', 'running', 'manual'] as const) {
      assert.equal(keptBecause(p(1, 400, status), refs.get('main')!, { ...RULE, keepPerRef: 0 }, NOW, DAY), 'unfinished', status);
    }
    assert.equal(keptBecause(p(1, 400, 'canceled', 'main', true), refs.get('main')!, { ...RULE, keepPerRef: 0 }, NOW, DAY), 'unfinished');
    for (const status of ['success', 'failed', 'canceled', 'skipped'] as const) {
      assert.equal(keptBecause(p(1, 400, status), refs.get('main')!, { ...RULE, keepPerRef: 0, keepLatestArtifacts: false }, NOW, DAY), null, status);
    }
  });

  it('pipelineDays 0 keeps everything: retention is off, as for an instance that sets nothing', () => {
    const refs = new Map<string, RefFacts>();
    assert.deepEqual(pipelinesToDelete([p(1, 10_000)], refs, { ...RULE, pipelineDays: 0, keepPerRef: 0 }, NOW, DAY), []);
    assert.equal(DEFAULT_RETENTION.pipelineDays, 0);
    assert.equal(DEFAULT_RETENTION.logDays, 0);
  });

  it('logs expire past logDays; 0 keeps them for ever', () => {
    assert.equal(logsExpired(NOW - 8 * DAY, { ...RULE, logDays: 7 }, NOW, DAY), true);
    assert.equal(logsExpired(NOW - 6 * DAY, { ...RULE, logDays: 7 }, NOW, DAY), false);
    assert.equal(logsExpired(0, { ...RULE, logDays: 0 }, NOW, DAY), false);
  });
});

describe("retention: a project's settings over the instance's", () => {
  it('each field the project sets wins; null takes the instance default', () => {
    const d = { ...DEFAULT_RETENTION, pipelineDays: 90, keepPerRef: 10, artifactsExpireInSeconds: 30 * 86_400 };
    assert.deepEqual(effectiveRule(NO_PROJECT_RETENTION, d), {
      pipelineDays: 90,
      keepPerRef: 10,
      logDays: 0,
      artifactsExpireInSeconds: 30 * 86_400,
      keepLatestArtifacts: true,
    });
    const own = { pipelineDays: 7, keepPerRef: null, logDays: 3, artifactsExpireIn: '2 weeks', keepLatestArtifacts: false };
    assert.deepEqual(effectiveRule(own, d), { pipelineDays: 7, keepPerRef: 10, logDays: 3, artifactsExpireInSeconds: 14 * 86_400, keepLatestArtifacts: false });
    assert.equal(effectiveRule({ ...NO_PROJECT_RETENTION, artifactsExpireIn: 'never' }, d).artifactsExpireInSeconds, null);
  });

  it("expire_in reads as GitLab writes it; never and 0 are never; anything else is refused", () => {
    assert.equal(parseExpireIn('30 days'), 30 * 86_400);
    assert.equal(parseExpireIn('1h 30m'), 5_400);
    assert.equal(parseExpireIn('3600'), 3_600);
    assert.equal(parseExpireIn('never'), null);
    assert.equal(parseExpireIn('0'), null);
    assert.equal(parseExpireIn('a fortnight'), undefined);
  });
});
