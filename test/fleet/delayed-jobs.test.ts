// Delayed jobs through a real server and a real agent (PIPELINE.md, "Delayed jobs"), as GitLab
// runs them: a `when: delayed` job whose turn came is scheduled, not queued
// (app/services/ci/process_build_service.rb: `if processable.schedulable? processable.schedule`),
// with `scheduledAt` = then + start_in, and queued at that time (Ci::BuildScheduleWorker); the
// pipeline shows `scheduled` meanwhile (lib/gitlab/ci/status/composite.rb, `any_of?(:scheduled)`);
// "Run now" is a play (it runs at once), "Unschedule" makes it manual (the build's `unschedule`
// event, app/models/ci/build.rb), and it can be canceled. On SQLite, and on PostgreSQL when one is
// at hand.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testPostgres } from '../helpers/postgres.js';
import { fleetsOn, type Fleet } from './fleet-harness.js';

interface Job {
  id: number;
  name: string;
  status: string;
  when: string;
  startedAt: string | null;
  finishedAt: string | null;
  scheduledAt: string | null;
}
interface Pipeline {
  id: number;
  status: string;
  jobs: Job[];
}

const FILE = `stages: [build, deploy, after]
build:
  stage: build
  script: echo built
deploy:
  stage: deploy
  script: echo deployed
  rules:
    - if: $LATER
      when: delayed
      start_in: 1 hour
    - when: delayed
      start_in: 3 seconds
after:
  stage: after
  script: echo after
`;

function suite(store: string, db: () => Promise<string | null>): void {
  describe(`delayed jobs on ${store}`, () => {
    const fleet = fleetsOn(db);

    async function setUp(): Promise<{ f: Fleet; get: (id: number) => Promise<Pipeline> }> {
      const f = await fleet({ '.gantry.yml': FILE });
      await f.startServer();
      await f.startAgent({ tags: [], name: 'box' });
      await f.project();
      return { f, get: async (id) => (await f.api<Pipeline>('GET', `/pipelines/${id}`)).body };
    }
    const job = (p: Pipeline, name: string): Job => p.jobs.find((j) => j.name === name)!;
    const scheduled = (p: { status: string; jobs: { name: string; status: string }[] }) => p.jobs.find((j) => j.name === 'deploy')!.status === 'scheduled';

    it('a delayed job is scheduled when its turn comes, the pipeline `scheduled`, and it runs at its time', async () => {
      const { f, get } = await setUp();
      const t = await f.trigger('demo');
      await f.waitPipeline(t.id, (p) => scheduled(p) || ['success', 'failed', 'canceled'].includes(p.status));
      const waiting = await get(t.id);
      const d = job(waiting, 'deploy');
      assert.deepEqual([waiting.status, d.status, d.when, job(waiting, 'after').status], ['scheduled', 'scheduled', 'delayed', 'created']);
      const build = job(waiting, 'build');
      const delay = Date.parse(d.scheduledAt!) - Date.parse(build.finishedAt!);
      assert.ok(delay >= 2900 && delay < 4000, `scheduled ${delay} ms after build ended`);
      const done = await get((await f.waitPipeline(t.id)).id);
      assert.equal(done.status, 'success', JSON.stringify(done));
      const ran = job(done, 'deploy');
      assert.equal(ran.status, 'success');
      assert.equal(ran.scheduledAt, null);
      assert.ok(Date.parse(ran.startedAt!) >= Date.parse(d.scheduledAt!), `started ${ran.startedAt}, due ${d.scheduledAt}`);
      assert.equal(job(done, 'after').status, 'success');
    });

    it('Run now (play) runs a scheduled job at once; Unschedule makes it manual; cancel cancels it', async () => {
      const { f, get } = await setUp();
      const waitScheduled = async (variables: Record<string, string>) => {
        const t = await f.trigger('demo', variables);
        await f.waitPipeline(t.id, (p) => scheduled(p) || ['success', 'failed', 'canceled'].includes(p.status));
        const p = await get(t.id);
        assert.equal(job(p, 'deploy').status, 'scheduled', JSON.stringify(p));
        return p;
      };

      // Run now: an hour's wait is skipped, the job and the pipeline run to the end.
      const a = await waitScheduled({ LATER: 'yes' });
      const played = await f.api<Job>('POST', `/jobs/${job(a, 'deploy').id}/play`);
      assert.equal(played.status, 200, JSON.stringify(played.body));
      assert.equal(played.body.scheduledAt, null);
      assert.equal((await f.waitPipeline(a.id, undefined, 15_000)).status, 'success');

      // Unschedule: the job is manual, not allowed to fail, so the pipeline is blocked (`manual`);
      // playing it then runs it.
      const b = await waitScheduled({ LATER: 'yes' });
      const unscheduled = await f.api<Job>('POST', `/jobs/${job(b, 'deploy').id}/unschedule`);
      assert.equal(unscheduled.status, 200, JSON.stringify(unscheduled.body));
      assert.deepEqual([unscheduled.body.status, unscheduled.body.scheduledAt], ['manual', null]);
      assert.equal((await f.waitPipeline(b.id, (p) => p.status === 'manual')).status, 'manual');
      const again = await f.api('POST', `/jobs/${job(b, 'deploy').id}/unschedule`);
      assert.equal(again.status, 409, 'only a scheduled job is unscheduled');
      assert.equal((await f.api('POST', `/jobs/${job(b, 'deploy').id}/play`)).status, 200);
      assert.equal((await f.waitPipeline(b.id)).status, 'success');

      // Cancel: the scheduled job is canceled, and the pipeline with it (the job was not allowed to fail).
      const c = await waitScheduled({ LATER: 'yes' });
      const canceled = await f.api<Job>('POST', `/jobs/${job(c, 'deploy').id}/cancel`);
      assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
      assert.deepEqual([canceled.body.status, canceled.body.scheduledAt], ['canceled', null]);
      const end = await get((await f.waitPipeline(c.id)).id);
      assert.equal(end.status, 'failed');
      assert.equal(job(end, 'after').status, 'skipped');
    });
  });
}

suite('SQLite', async () => null);
const postgres = await testPostgres('delayed jobs on PostgreSQL', 2);
if (postgres) suite('PostgreSQL', async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`);
