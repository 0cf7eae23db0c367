// Stride scheduling's rules alone (src/scheduler/fair-share.ts): the rank and the pass after an
// offer. The store runs them against real databases in test/store/fair-share-contract.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareShares, passAfterOffer, strideOf, type ShareState } from '../../src/scheduler/fair-share.js';
import { isUrgentJob, queueRankOf, rankParts } from '../../src/domain/fair-share.js';

const project = (id: number, weight: number, pass: number, first = id): ShareState => ({ id, weight, pass, first });

/** `n` offers by rank alone (nothing runs between them): the ids offered. */
function offers(projects: ShareState[], n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const best = projects.reduce((a, b) => (compareShares(b, a, () => 0) < 0 ? b : a));
    best.pass = passAfterOffer(best, projects);
    out.push(best.id);
  }
  return out;
}

describe('fair share: stride scheduling', () => {
  it('weights 3, 2 and 1 are offered 3:2:1, and a project that competes without a break is never lifted', () => {
    const ps = [project(1, 3, 0), project(2, 2, 0), project(3, 1, 0)];
    const order = offers(ps, 600);
    assert.deepEqual([1, 2, 3].map((id) => order.filter((x) => x === id).length), [300, 200, 100]);
    // Never lifted: each pass is exactly its offers times its stride.
    for (const p of ps) assert.equal(p.pass, order.filter((x) => x === p.id).length * strideOf(p.weight));
  });

  it('a project back from idle is lifted to one round behind the others, not left to catch up', () => {
    const back = project(1, 1, 0);
    const busy = project(2, 1, 50 * strideOf(1));
    assert.deepEqual(offers([back, busy], 6), [1, 1, 2, 1, 2, 1]);
    assert.equal(passAfterOffer(project(1, 1, 0), [project(2, 1, 50 * strideOf(1))]), 50 * strideOf(1), 'lifted to 49 rounds, then its own stride');
  });

  it('fewer jobs running per unit of weight goes first, in whole units; then the pass, then the one waiting longest', () => {
    const running = new Map([[1, 1], [2, 0]]);
    const heavy = project(1, 2, 5, 1);
    const light = project(2, 1, 0, 2);
    // Weight 2 with one running is level 0, as weight 1 with none: the pass decides.
    assert.ok(compareShares(light, heavy, (id) => running.get(id)!) < 0);
    running.set(1, 0).set(2, 1);
    assert.ok(compareShares(heavy, light, (id) => running.get(id)!) < 0, 'weight 1 with one running is level 1');
    assert.ok(compareShares(project(1, 1, 7, 9), project(2, 1, 7, 3), () => 0) > 0, 'same level and pass: the older first');
  });

  it('urgent jobs: their globs, and the one integer that orders them first, by priority', () => {
    assert.equal(isUrgentJob(['deploy*'], 'deploy: [eu, prod]'), true);
    assert.equal(isUrgentJob(['deploy*'], 'pre-deploy'), false);
    assert.equal(isUrgentJob([], 'deploy'), false);
    const ranks = [queueRankOf(1000, false), queueRankOf(-1000, true), queueRankOf(5, true), queueRankOf(-1000, false)];
    assert.deepEqual([...ranks].sort((a, b) => b - a).map(rankParts), [
      { priority: 5, urgent: true },
      { priority: -1000, urgent: true },
      { priority: 1000, urgent: false },
      { priority: -1000, urgent: false },
    ]);
  });
});
