// A real `gantry server` killed (SIGKILL) right after it claimed a schedule's firing and before it
// made the firing's pipeline (crash point schedule.claimed): the restarted server makes that
// firing's pipeline, once, and the schedule carries on.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../../src/store/open.js';
import { asScheduleId } from '../../src/store/schedules.js';
import { waitFor } from '../helpers/processes.js';
import { Fleet } from './fleet-harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a schedule across a server crash', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('a firing claimed by a server killed before it made the pipeline is made exactly once after the restart', async () => {
    const f = new Fleet({ '.gantry.yml': 'tick:\n  script: [echo "$CI_PIPELINE_SOURCE"]\n' });
    fleets.push(f);
    await f.startServer();
    await f.project('timed');
    await f.kill(f.procs[0]!);
    const armed = await f.startServer({ env: { GANTRY_TEST_CRASH_AT: 'schedule.claimed' } });
    const made = await f.api<{ id: number }>('POST', '/projects/timed/schedules', { cron: '* * * * * *', ref: 'main' });
    assert.equal(made.status, 201);
    await waitFor('the crash at schedule.claimed', () => armed.child.exitCode !== null || armed.child.signalCode !== null, 10_000);
    assert.match(armed.output(), /crash point schedule\.claimed reached/);

    const store = await openStore(f.storeUrl);
    try {
      const project = (await store.getProject('timed'))!;
      const [orphan] = await store.schedules.staleFirings(Number.MAX_SAFE_INTEGER, 10);
      assert.ok(orphan, 'the claim was committed before the kill');
      assert.deepEqual([orphan.status, orphan.pipelineId], ['claimed', null]);
      assert.equal((await store.listPipelines({ projectId: project.id, source: 'schedule' })).items.length, 0);

      await f.startServer();
      // The dead server's claim runs out (two test leases), then the firing is redone.
      const until = Date.now() + 15_000;
      while ((await store.schedules.getFiring(orphan.scheduleId, orphan.fireAt))?.status !== 'created') {
        if (Date.now() > until) throw new Error(`the firing was not redone:\n${f.procs.at(-1)!.output().slice(-3000)}`);
        await sleep(100);
      }
      assert.equal((await f.api('PATCH', `/projects/timed/schedules/${made.body.id}`, { active: false })).status, 200);
      await sleep(500);
      const redone = (await store.schedules.getFiring(orphan.scheduleId, orphan.fireAt))!;
      const pipelines = (await store.listPipelines({ projectId: project.id, source: 'schedule', limit: 100 })).items;
      assert.ok(pipelines.some((p) => p.id === redone.pipelineId));
      // Every pipeline belongs to one firing and every firing made one: the orphan's is not doubled.
      const db = new Database(f.storeUrl.replace(/^sqlite:/, ''), { readonly: true });
      try {
        const rows = db.prepare('SELECT status, pipeline_id FROM schedule_firings').all() as Array<{ status: string; pipeline_id: number }>;
        assert.ok(rows.every((r) => r.status === 'created'), JSON.stringify(rows));
        assert.deepEqual(rows.map((r) => r.pipeline_id).sort((a, b) => a - b), pipelines.map((p) => p.id).sort((a, b) => a - b));
      } finally {
        db.close();
      }
      const schedule = (await store.schedules.scheduleById(asScheduleId(made.body.id)))!;
      assert.equal(schedule.lastError, null);
    } finally {
      await store.close();
    }
  });
});
