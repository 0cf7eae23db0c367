// A project's insights and a pipeline's timeline over HTTP, on SQLite (and PostgreSQL when
// reachable, required under CI=true). Jobs run through the agent protocol (a small agent of the
// test's own) on the server's clock, which is the test's: days pass at once and every duration is
// exact. Three pipelines on three days: one passes, one passes after its `test` job is retried
// (flaky), one fails; then what a viewer reads, and what one of another project cannot.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { defaultSchedulerSettings } from '../../src/server/app.js';
import { hashToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';
import { ProtocolAgent } from './protocol-agent.js';

const SECOND = 1000;
const DAY = 86_400_000;
/** Noon UTC, so a pipeline's few minutes never cross midnight. */
const START = Date.UTC(2026, 10, 20, 12, 0, 0);
const PIPELINE = ['build:', '  stage: build', '  script: [echo]', 'lint:', '  stage: build', '  script: [echo]', 'test:', '  stage: test', '  needs: [build]', '  script: [echo]', ''].join('\n');

function insightsSuite(label: string, openStore: (home: string) => Promise<Store>): void {
  describe(`insights and timelines over HTTP (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let clock = START;
    let viewerOfOther: Record<string, string>;
    let agent: ProtocolAgent;
    const ids: { pipelines: number[]; jobs: Record<string, number> } = { pipelines: [], jobs: {} };

    before(async () => {
      h = await startHarness(openStore, { now: () => clock, deps: { gcIntervalMs: null, settings: defaultSchedulerSettings({ leaseMs: 30 * DAY }) } });
      agent = new ProtocolAgent(h.url, h.agent, 4);
      repo = sandbox({ '.gantry.yml': PIPELINE });
      for (const name of ['app', 'other']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
      const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
      await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: (await h.store.getProject('other'))!.id, createdAt: 1 });
      viewerOfOther = { authorization: `Bearer ${token}` };
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    /**
     * One pipeline at `day` noon: build (20 s) and lint (5 s), then test (`seconds` s) with each
     * outcome in turn (a failure is retried through the API, as a person would).
     */
    async function pipeline(day: number, testOutcomes: Array<'success' | 'failed'>, seconds: number): Promise<number> {
      clock = START + day * DAY;
      const p = (await (await h.api('POST', '/projects/app/pipelines', { ref: 'main' })).json()) as { id: number; jobs: Array<{ id: number; name: string }> };
      for (const j of p.jobs) ids.jobs[`${p.id}:${j.name}`] = j.id;
      const first = await agent.take(2);
      clock += 5 * SECOND;
      await agent.finish(first.find((o) => o.jobName === 'lint')!, 'success');
      clock += 15 * SECOND;
      await agent.finish(first.find((o) => o.jobName === 'build')!, 'success');
      for (const [k, outcome] of testOutcomes.entries()) {
        if (k > 0) assert.equal((await h.api('POST', `/jobs/${ids.jobs[`${p.id}:test`]}/retry`)).status, 200);
        clock += SECOND;
        const [test] = await agent.take(1);
        assert.equal(test!.jobName, 'test');
        clock += seconds * SECOND;
        await agent.finish(test!, outcome);
      }
      ids.pipelines.push(p.id);
      return p.id;
    }

    it('three days: a pass, a pass after a retried failure, a failure; per day, totals, slowest and flakiest jobs', async () => {
      await pipeline(0, ['success'], 30);
      await pipeline(1, ['failed', 'success'], 40);
      await pipeline(2, ['failed'], 10);
      clock = START + 2 * DAY + 10 * 60 * SECOND;
      const res = await h.api('GET', '/projects/app/insights?days=5');
      assert.equal(res.status, 200);
      const out = (await res.json()) as {
        days: Array<{ day: string; finished: number; succeeded: number; failed: number; successRate: number | null; p50Seconds: number | null }>;
        totals: { finished: number; succeeded: number; failed: number; successRate: number };
        slowestJobs: Array<{ name: string; runs: number; p50Seconds: number; p95Seconds: number }>;
        flakiestJobs: Array<{ name: string; runs: number; flaky: number; rate: number }>;
        truncated: boolean;
      };
      assert.deepEqual(out.days.map((d) => d.day), ['2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22']);
      assert.deepEqual(out.days.map((d) => [d.finished, d.succeeded, d.failed, d.successRate]), [[0, 0, 0, null], [0, 0, 0, null], [1, 1, 0, 1], [1, 1, 0, 1], [1, 0, 1, 0]]);
      // Created -> finished: 20 s of build, 1 s to test, then the test run (twice on day 1).
      assert.deepEqual(out.days.slice(2).map((d) => d.p50Seconds), [51, 20 + 1 + 40 + 1 + 40, 31]);
      assert.deepEqual([out.totals.finished, out.totals.succeeded, out.totals.failed], [3, 2, 1]);
      assert.deepEqual(out.slowestJobs.map((j) => [j.name, j.runs, j.p50Seconds, j.p95Seconds]), [['test', 2, 30, 40], ['build', 3, 20, 20], ['lint', 3, 5, 5]]);
      assert.deepEqual(out.flakiestJobs, [{ name: 'test', runs: 3, flaky: 1, rate: 1 / 3 }]);
      assert.equal(out.truncated, false);
    });

    it("the timeline: each attempt's wait and run on the server's clock, and the critical path build -> test (lint finished early)", async () => {
      const flaky = ids.pipelines[1]!;
      const res = await h.api('GET', `/pipelines/${flaky}/timeline`);
      assert.equal(res.status, 200);
      const t = (await res.json()) as { createdAt: string; jobs: Array<{ id: number; name: string; needs: string[] | null; attempts: Array<{ number: number; status: string; queuedAt: string; startedAt: string; finishedAt: string }> }>; criticalPath: number[] };
      const byName = Object.fromEntries(t.jobs.map((j) => [j.name, j]));
      assert.deepEqual(t.criticalPath, [byName.build!.id, byName.test!.id]);
      assert.deepEqual(byName.test!.needs, ['build']);
      assert.equal(byName.lint!.needs, null);
      assert.deepEqual(byName.test!.attempts.map((a) => a.status), ['failed', 'success']);
      const ms = (s: string) => Date.parse(s) - Date.parse(t.createdAt);
      const [first, second] = byName.test!.attempts;
      assert.deepEqual([ms(first!.startedAt), ms(first!.finishedAt), ms(second!.startedAt), ms(second!.finishedAt)], [21_000, 61_000, 62_000, 102_000]);
      assert.deepEqual([ms(byName.build!.attempts[0]!.queuedAt), ms(byName.build!.attempts[0]!.finishedAt)], [0, 20_000]);
    });

    it('a caller who may not see the project gets 404 from both; a bad window is 400 with its field', async () => {
      assert.equal((await h.api('GET', '/projects/app/insights', undefined, viewerOfOther)).status, 404);
      assert.equal((await h.api('GET', `/pipelines/${ids.pipelines[0]}/timeline`, undefined, viewerOfOther)).status, 404);
      assert.equal((await h.api('GET', '/projects/other/insights', undefined, viewerOfOther)).status, 200);
      const bad = (await (await h.api('GET', '/projects/app/insights?days=91')).json()) as { error: { code: string; field?: string } };
      assert.equal(bad.error.code, 'GANTRY_E_INVALID_REQUEST');
    });
  });
}

insightsSuite('sqlite', async (home) => openSqliteStore(`${home}/gantry.db`));
const postgres = await testPostgres('insights over HTTP on PostgreSQL');
if (postgres) insightsSuite('postgres', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema(), maxConnections: 4 }));
