// Schedules on real servers: the API, per-second firings with CI_PIPELINE_SOURCE=schedule, the
// catch-up after a restart, firings whose server died half way, and two PostgreSQL instances
// firing one schedule with no leader: one pipeline per firing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asProjectId, type ProjectId } from '../../src/domain/ids.js';
import { firingKey } from '../../src/server/schedules/firer.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { ScheduleId } from '../../src/store/schedules.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';

const PIPELINE = `nightly:
  script: [echo "$CI_PIPELINE_SOURCE $WHO"]
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sqlite = (home: string) => openSqliteStore(path.join(home, 'gantry.db'));

interface ScheduleJson {
  id: number;
  cron: string;
  timezone: string;
  active: boolean;
  nextRunAt: string | null;
  lastPipelineId: number | null;
  lastError: string | null;
  variables: Record<string, string>;
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function schedulePipelines(store: Store, projectId: ProjectId) {
  const page = await store.listPipelines({ projectId, source: 'schedule', limit: 100 });
  return page.items;
}

describe('schedules', () => {
  let repo: Sandbox;
  before(() => {
    repo = sandbox({ '.gantry.yml': PIPELINE });
  });
  after(() => repo.cleanup());

  describe('on one server (SQLite)', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(sqlite);
    });
    after(async () => h.close());
    let n = 0;
    async function project(): Promise<{ id: number; name: string }> {
      const res = await h.api('POST', '/projects', { name: `sched-${n++}`, gitUrl: repo.repo });
      assert.equal(res.status, 201);
      return json(res);
    }

    it('a schedule is created, read, listed, changed and deleted; a bad cron or time zone is 422 with its code', async () => {
      const p = await project();
      const before = Date.now();
      const res = await h.api('POST', `/projects/${p.name}/schedules`, { description: 'nightly', cron: '30 2 * * *', timezone: 'Europe/Berlin', ref: 'main', variables: { WHO: 'cron' } });
      assert.equal(res.status, 201);
      const s = await json<ScheduleJson>(res);
      assert.equal(s.active, true);
      const next = Date.parse(s.nextRunAt!);
      assert.ok(next > before && next <= before + 25 * 3600_000);
      // 02:30 in Berlin is 00:30 or 01:30 UTC, depending on daylight saving time.
      assert.match(s.nextRunAt!, /T0[01]:30:00\.000Z$/);
      assert.deepEqual(await json(await h.api('GET', `/projects/${p.id}/schedules/${s.id}`)), s);
      assert.deepEqual((await json<{ items: ScheduleJson[] }>(await h.api('GET', `/projects/${p.name}/schedules`))).items, [s]);

      const paused = await json<ScheduleJson>(await h.api('PATCH', `/projects/${p.name}/schedules/${s.id}`, { active: false }));
      assert.deepEqual([paused.active, paused.nextRunAt, paused.cron], [false, null, '30 2 * * *']);
      const utc = await json<ScheduleJson>(await h.api('PATCH', `/projects/${p.name}/schedules/${s.id}`, { active: true, timezone: 'UTC', cron: '15 4 * * 1' }));
      assert.match(utc.nextRunAt!, /T04:15:00\.000Z$/);
      assert.equal(new Date(utc.nextRunAt!).getUTCDay(), 1);

      for (const [body, code, field] of [
        [{ cron: '61 * * * *', ref: 'main' }, 'GANTRY_E_SCHEDULE_CRON', 'body.cron'],
        [{ cron: 'every day', ref: 'main' }, 'GANTRY_E_SCHEDULE_CRON', 'body.cron'],
        [{ cron: '0 0 30 2 *', ref: 'main' }, 'GANTRY_E_SCHEDULE_CRON', 'body.cron'],
        [{ cron: '* * * * * * *', ref: 'main' }, 'GANTRY_E_SCHEDULE_CRON', 'body.cron'],
        [{ cron: '0 3 * * *', timezone: 'Mars/Olympus', ref: 'main' }, 'GANTRY_E_SCHEDULE_TIMEZONE', 'body.timezone'],
      ] as const) {
        const bad = await h.api('POST', `/projects/${p.name}/schedules`, body);
        assert.equal(bad.status, 422, JSON.stringify(body));
        const err = (await json<{ error: { code: string; field: string; message: string } }>(bad)).error;
        assert.deepEqual([err.code, err.field], [code, field]);
      }
      const badPatch = await h.api('PATCH', `/projects/${p.name}/schedules/${s.id}`, { timezone: 'Nowhere/Else' });
      assert.equal(badPatch.status, 422);
      assert.equal((await h.api('PATCH', `/projects/${p.name}/schedules/${s.id}`, {})).status, 400);
      assert.equal((await h.api('POST', `/projects/${p.name}/schedules`, { cron: '* * * * *' })).status, 400);

      assert.equal((await h.api('DELETE', `/projects/${p.name}/schedules/${s.id}`)).status, 204);
      assert.equal((await h.api('DELETE', `/projects/${p.name}/schedules/${s.id}`)).status, 404);
      assert.equal((await h.api('GET', `/projects/${p.name}/schedules/${s.id}`)).status, 404);
    });

    it('a per-second schedule makes one pipeline per firing, with CI_PIPELINE_SOURCE=schedule and its variables', async () => {
      const p = await project();
      const s = await json<ScheduleJson>(
        await h.api('POST', `/projects/${p.name}/schedules`, { description: 'every second', cron: '* * * * * *', ref: 'main', variables: { WHO: 'cron' } }),
      );
      await sleep(3_200);
      await h.api('PATCH', `/projects/${p.name}/schedules/${s.id}`, { active: false });
      await sleep(300);
      const made = await schedulePipelines(h.store, asProjectId(p.id));
      assert.ok(made.length >= 2 && made.length <= 4, `${made.length} pipelines`);
      for (const pl of made) {
        const full = (await h.store.getPipeline(pl.id))!;
        assert.equal(full.pipeline.predefinedVariables.CI_PIPELINE_SOURCE, 'schedule');
        assert.deepEqual(full.pipeline.variables, { WHO: 'cron' });
        assert.deepEqual(full.pipeline.triggeredBy, { kind: 'schedule', scheduleId: s.id, name: 'every second' });
        // rules: if $CI_PIPELINE_SOURCE == "schedule" kept the job.
        assert.deepEqual(full.jobs.map((j) => j.name), ['nightly']);
      }
      const after = await json<ScheduleJson>(await h.api('GET', `/projects/${p.name}/schedules/${s.id}`));
      assert.equal(after.lastPipelineId, made[0]!.id);
      assert.equal(after.lastError, null);
      // A web trigger of the same project is told apart.
      const web = await h.api('POST', `/projects/${p.name}/pipelines`, { ref: 'main', source: 'web', variables: { CI_PIPELINE_SOURCE: 'schedule' } });
      assert.equal(web.status, 201);
    });

    it('a firing that cannot make a pipeline (unknown ref) records why, and the schedule goes on', async () => {
      const p = await project();
      const s = await json<ScheduleJson>(await h.api('POST', `/projects/${p.name}/schedules`, { cron: '* * * * * *', ref: 'no-such-branch' }));
      await sleep(1_800);
      const got = await json<ScheduleJson>(await h.api('GET', `/projects/${p.name}/schedules/${s.id}`));
      await h.api('DELETE', `/projects/${p.name}/schedules/${s.id}`);
      assert.equal(got.lastPipelineId, null);
      assert.match(got.lastError ?? '', /^GANTRY_E_REF_NOT_FOUND/);
      assert.ok(Date.parse(got.nextRunAt!) > Date.now() - 2_000);
    });
  });

  describe('across restarts (SQLite)', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-sched-'));
    after(() => fs.rmSync(base, { recursive: true, force: true }));

    it('firings missed while the server was down make one catch-up pipeline on start, not one each', async () => {
      const first = await startHarness(sqlite, { base });
      await first.api('POST', '/projects', { name: 'catchup', gitUrl: repo.repo });
      const s = await json<ScheduleJson>(await first.api('POST', '/projects/catchup/schedules', { cron: '0 * * * *', ref: 'main' }));
      await first.close();
      // Back five hours later: five hourly firings were missed.
      const skew = 5 * 3600_000 + 60_000;
      const later = await startHarness(sqlite, { base, now: () => Date.now() + skew });
      try {
        const project = (await later.store.getProject('catchup'))!;
        const until = Date.now() + 5_000;
        while ((await schedulePipelines(later.store, project.id)).length === 0 && Date.now() < until) await sleep(50);
        await sleep(1_200);
        assert.equal((await schedulePipelines(later.store, project.id)).length, 1);
        const now = await json<ScheduleJson>(await later.api('GET', `/projects/catchup/schedules/${s.id}`));
        assert.ok(Date.parse(now.nextRunAt!) > Date.now() + skew, 'the next firing is in the future of the new clock');
        assert.ok(Date.parse(now.nextRunAt!) <= Date.now() + skew + 3600_000);
      } finally {
        await later.close();
      }
    });

    it('a firing whose server died after claiming it is made once by the next start; one whose pipeline was made is not made again', async () => {
      const first = await startHarness(sqlite, { base });
      await first.api('POST', '/projects', { name: 'crashed', gitUrl: repo.repo });
      const s = await json<ScheduleJson>(await first.api('POST', '/projects/crashed/schedules', { cron: '0 0 1 1 *', ref: 'main' }));
      const project = (await first.store.getProject('crashed'))!;
      const id = s.id as ScheduleId;
      // What a server killed half way leaves behind: two claimed firings whose claims ran out; the
      // second one's pipeline was created (under its key) before the kill.
      const past = Date.now() - 1_000;
      const a = Date.parse(s.nextRunAt!);
      const next = a + 366 * 24 * 3600_000;
      assert.equal(await first.store.schedules.claimFiring(id, a, next, past), true);
      assert.equal(await first.store.schedules.claimFiring(id, next, next + 366 * 24 * 3600_000, past), true);
      const premade = await first.store.createPipelineOnce(
        { projectId: project.id, ref: 'main', sha: 'f'.repeat(40), source: 'schedule', variables: {}, fileVariables: {}, pipelineFile: '.gantry.yml', jobs: [], createdAt: 1, runsOn: 'fleet' },
        { key: firingKey(id, next), fingerprint: 'whatever-it-was' },
      );
      assert.equal(premade.created, true);
      await first.close();

      const again = await startHarness(sqlite, { base });
      try {
        const until = Date.now() + 5_000;
        while (Date.now() < until && (await again.store.schedules.getFiring(id, a))?.status !== 'created') await sleep(50);
        await sleep(600);
        const fa = await again.store.schedules.getFiring(id, a);
        const fb = await again.store.schedules.getFiring(id, next);
        assert.equal(fa!.status, 'created');
        assert.equal(fb!.status, 'created');
        assert.equal(fb!.pipelineId, premade.created ? premade.pipeline.pipeline.id : null);
        const made = await schedulePipelines(again.store, project.id);
        assert.deepEqual(made.map((p) => p.id).sort((x, y) => x - y), [fa!.pipelineId!, fb!.pipelineId!].sort((x, y) => x - y));
      } finally {
        await again.close();
      }
    });
  });

  describe('two server instances on one PostgreSQL', async () => {
    const pg = await testPostgres('schedules on two PostgreSQL instances', 2);
    if (!pg) return;

    it('a per-second schedule fired by two instances for a few seconds makes exactly one pipeline per firing', async () => {
      const schema = await pg.freshSchema();
      const open = () => openPostgresStore(pg.url, { schema });
      const a = await startHarness(open);
      const b = await startHarness(open, { tokens: { admin: a.admin, agent: a.agent } }).catch(async (e: unknown) => {
        await a.close();
        throw e;
      });
      try {
        assert.equal((await a.api('POST', '/projects', { name: 'both', gitUrl: repo.repo })).status, 201);
        const s = await json<ScheduleJson>(await a.api('POST', '/projects/both/schedules', { cron: '* * * * * *', ref: 'main' }));
        await sleep(4_200);
        // Either instance may stop it.
        await b.api('PATCH', `/projects/both/schedules/${s.id}`, { active: false });
        await sleep(1_000);
        const keys = await pg.admin.query<{ key: string; pipeline_id: string }>(`SELECT key, pipeline_id FROM ${schema}.idempotency_keys ORDER BY key`);
        const pipelines = await pg.admin.query<{ id: string }>(`SELECT id FROM ${schema}.pipelines WHERE source = 'schedule'`);
        const firings = await pg.admin.query<{ fire_at: string; status: string; pipeline_id: string }>(
          `SELECT fire_at, status, pipeline_id FROM ${schema}.schedule_firings ORDER BY fire_at`,
        );
        assert.ok(pipelines.rows.length >= 3, `${pipelines.rows.length} pipelines`);
        // One firing row, one key and one pipeline per firing, and no pipeline without a firing.
        assert.equal(firings.rows.length, pipelines.rows.length);
        assert.equal(keys.rows.length, pipelines.rows.length);
        assert.ok(firings.rows.every((f) => f.status === 'created'));
        assert.equal(new Set(firings.rows.map((f) => f.pipeline_id)).size, firings.rows.length);
        // Firings are whole seconds, each once; at most one was folded into the next by a slow tick.
        const times = firings.rows.map((f) => Number(f.fire_at));
        assert.ok(times.every((t) => t % 1000 === 0));
        const span = (times[times.length - 1]! - times[0]!) / 1000 + 1;
        assert.ok(span - times.length <= 1, `${times.length} firings over ${span} s`);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
});
