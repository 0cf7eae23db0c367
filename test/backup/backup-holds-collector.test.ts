// `gantry backup` holds garbage collection off while it copies (src/backup/collector-hold.ts): a
// collection under way is waited for, none starts while the hold is on, on any instance, and the
// hold is not mistaken for the last collection.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { holdCollector } from '../../src/backup/collector-hold.js';
import { isGantryError } from '../../src/domain/errors.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

describe('a backup holds the garbage collector off', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-hold-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('waits for a collection under way, refuses with GANTRY_E_BACKUP_WAITED past its wait, and while held no instance starts one', async () => {
    const file = path.join(dir, 'gantry.db');
    const store = await openSqliteStore(file);
    try {
      const gc = await store.retention.claimRun('api', 'instance A', Date.now(), 60_000, null);
      assert.equal(gc.kind, 'started');
      // A collection runs: the backup waits, says so once, and gives up after its wait.
      const waitedFor: number[] = [];
      const t0 = Date.now();
      await assert.rejects(
        holdCollector(file, { leaseMs: 60_000, waitMs: 1_500, onWait: (id) => waitedFor.push(id) }),
        (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_BACKUP_WAITED',
      );
      assert.ok(Date.now() - t0 >= 1_400);
      assert.deepEqual(waitedFor, [gc.run.id]);

      // It ends while a backup waits: the backup gets the hold.
      const held = holdCollector(file, { leaseMs: 60_000, waitMs: 10_000 });
      setTimeout(() => void store.retention.finishRun(gc.run.id, Date.now(), null, null), 300);
      const hold = await held;
      // Held: a scheduled or asked-for collection on any instance finds it running and starts none.
      const refused = await store.retention.claimRun('schedule', 'instance B', Date.now(), 60_000, 0);
      assert.equal(refused.kind, 'running');
      assert.equal(refused.run.startedBy, 'backup');
      hold.release();
      // The hold is not "the last collection", nor does it put the next one off.
      const { running, last } = await store.retention.runs(Date.now());
      assert.equal(running, null);
      assert.equal(last?.id, gc.run.id);
      // (The collection began 1.5 s ago or more, the hold within the last second: a schedule of one
      // collection a second would wait for a collection begun within it.)
      const next = await store.retention.claimRun('schedule', 'instance B', Date.now(), 60_000, 1_000);
      assert.equal(next.kind, 'started');
    } finally {
      await store.close();
    }
  });

  it('a backup killed while holding leaves a lease that lapses like a dead instance’s', async () => {
    const file = path.join(dir, 'killed.db');
    const store = await openSqliteStore(file);
    try {
      const hold = await holdCollector(file, { leaseMs: 200, waitMs: 1_000 });
      const stranded = await store.retention.runs(Date.now());
      assert.equal(stranded.running?.startedBy, 'backup');
      // What a SIGKILL leaves: no renewal, no release. A claim past the lease (as the clock of an
      // instance a second later sees it) finds it lapsed.
      const claim = await store.retention.claimRun('api', 'instance A', Date.now() + 1_000, 60_000, null);
      assert.equal(claim.kind, 'started', 'a lapsed hold does not block collections for ever');
      hold.release();
      assert.equal((await store.retention.runs(Date.now() + 1_000)).running?.id, claim.run.id, "the late release ends only its own row, not the collection's");
    } finally {
      await store.close();
    }
  });
});
