// The server's trigger-job worker (src/server/downstream/runner.ts) when a child cannot be read: a
// repository that fails for one trigger job does not hold up the others, is tried again with
// growing waits (not every second), and after MAX_READ_TRIES fails its trigger job with the reason.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { GantryError } from '../../src/domain/errors.js';
import type { SchedulerSettings } from '../../src/store/fleet.js';
import { DownstreamRunner, MAX_READ_TRIES } from '../../src/server/downstream/runner.js';
import type { GitMirrors } from '../../src/server/git-mirror.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { compiledJob, newPipeline } from '../store/store-contract.js';

const SETTINGS: SchedulerSettings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };
const BROKEN = 'b'.repeat(40);
const FINE = 'f'.repeat(40);

describe('trigger jobs whose child cannot be read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-downstream-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Each on a ref of its own: a newer pipeline of the same ref would auto-cancel the older.
  async function parent(store: Store, projectId: number, sha: string) {
    const trigger = { include: ['child.yml'], depend: true, forward: { yamlVariables: true, pipelineVariables: false } };
    const { pipeline, jobs } = await store.createPipeline(newPipeline(projectId as never, { sha, ref: `ref-${sha[0]}`, runsOn: 'fleet', jobs: [compiledJob('kid', 0, { script: [], trigger })] }));
    await store.fleet.startPipeline(pipeline.id, 1_000, SETTINGS);
    return { pipeline, kid: jobs[0]! };
  }

  it('one failing repository holds up no other trigger job, is retried with growing waits, and fails its job with the reason in the end', async () => {
    const store = await openSqliteStore(path.join(dir, 'gantry.db'));
    try {
      const project = await store.ensureProject('family', '/src/family', 1);
      const broken = await parent(store, project.id, BROKEN);
      const fine = await parent(store, project.id, FINE);
      const reads: string[] = [];
      const mirrors = {
        async files(_p: unknown, sha: string) {
          reads.push(sha);
          if (sha === BROKEN) throw new GantryError('GANTRY_E_GIT', 'cannot fetch the repository of project family: unreachable');
          return { read: (f: string) => (f === 'child.yml' ? 'c1:\n  script: [echo child]\n' : null), list: () => ['child.yml'] };
        },
      } as unknown as GitMirrors;
      let clock = 10_000;
      const warnings: string[] = [];
      const runner = new DownstreamRunner({ store, mirrors, now: () => clock, log: { warn: (_o, msg) => warnings.push(msg) } });

      // The first pass: the broken one fails, the fine one (after it in the list) gets its child.
      await runner.drain();
      const fineNow = await store.getPipeline(fine.pipeline.id);
      assert.equal(fineNow!.children?.length, 1, 'the other trigger job made its child');
      assert.deepEqual(await store.fleet.pendingBridges(10), [{ jobId: broken.kid.id, pipelineId: broken.pipeline.id }]);

      // Within its wait it is not read again, however often the worker passes.
      const before = reads.filter((s) => s === BROKEN).length;
      for (let i = 0; i < 5; i++) await runner.drain();
      assert.equal(reads.filter((s) => s === BROKEN).length, before, 'no read before its time');

      // Each time its wait is over it is read again; after the last try its job fails with why.
      for (let i = 1; i < MAX_READ_TRIES; i++) {
        clock += 61_000;
        await runner.drain();
      }
      assert.equal(reads.filter((s) => s === BROKEN).length, MAX_READ_TRIES);
      const job = (await store.getPipeline(broken.pipeline.id))!.jobs[0]!;
      assert.equal(job.status, 'failed');
      assert.equal(job.failureReason, 'downstream_pipeline_creation_failed');
      assert.match(job.downstreamError ?? '', new RegExp(`could not be read after ${MAX_READ_TRIES} tries: cannot fetch the repository`));
      assert.deepEqual(await store.fleet.pendingBridges(10), []);
      assert.equal(warnings.length, MAX_READ_TRIES - 1);
    } finally {
      await store.close();
    }
  });
});
