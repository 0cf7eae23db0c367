// Compute minutes over HTTP (a real in-process server on SQLite, loopback, a real git repository):
// who may read and set a quota and give grants, the validation of their bodies, a month's usage as
// JSON and as billing lines in CSV, the instance's usage for admins, and the Prometheus counter.
// Attempts run through the store's own fleet calls (as the agent routes make them), so their
// times are the test's.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { monthOf } from '../../src/domain/compute-minutes.js';
import { hashToken } from '../../src/server/tokens.js';
import type { SchedulerSettings } from '../../src/store/fleet.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';

const SETTINGS: SchedulerSettings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };

describe('compute minutes over HTTP', () => {
  let h: Harness;
  let repo: Sandbox;
  let maintainer: Record<string, string>;
  let stranger: Record<string, string>;
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    repo = sandbox({ '.gantry.yml': 'build:\n  script: [echo hi]\n' });
    for (const name of ['web', 'other']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
    const tokenOf = async (project: string) => {
      const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
      await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: (await h.store.getProject(project))!.id, createdAt: 1 });
      return { authorization: `Bearer ${token}` };
    };
    maintainer = await tokenOf('web');
    stranger = await tokenOf('other');
  });
  after(async () => {
    await h.close();
    repo.cleanup();
  });

  const error = async (res: Response) => ((await res.json()) as { error: { code: string; field?: string } }).error;
  const expectError = async (res: Response, status: number, code: string, field?: string) => {
    assert.equal(res.status, status);
    const e = await error(res);
    assert.equal(e.code, code);
    if (field !== undefined) assert.equal(e.field, field);
  };

  it('a quota: maintainers read it, only admins set it; hardLimit left out stays; bad bodies are 400 with the field', async () => {
    assert.deepEqual(await (await h.api('GET', '/projects/web/quota', undefined, maintainer)).json(), { monthlyMinutes: null, hardLimit: false, grants: [] });
    await expectError(await h.api('PUT', '/projects/web/quota', { monthlyMinutes: 10 }, maintainer), 403, 'GANTRY_E_FORBIDDEN');
    await expectError(await h.api('GET', '/projects/web/quota', undefined, stranger), 404, 'GANTRY_E_NOT_FOUND');
    const set = await h.api('PUT', '/projects/web/quota', { monthlyMinutes: 10, hardLimit: true });
    assert.equal(set.status, 200);
    assert.deepEqual(await set.json(), { monthlyMinutes: 10, hardLimit: true, grants: [] });
    assert.deepEqual(await (await h.api('PUT', '/projects/web/quota', { monthlyMinutes: 20 })).json(), { monthlyMinutes: 20, hardLimit: true, grants: [] });
    for (const [bad, field] of [
      [{ monthlyMinutes: -1 }, 'body.monthlyMinutes'],
      [{ monthlyMinutes: 1.5 }, 'body.monthlyMinutes'],
      [{ monthlyMinutes: 'ten' }, 'body.monthlyMinutes'],
      [{ monthlyMinutes: 5, hardLimit: 'yes' }, 'body.hardLimit'],
      [{ monthlyMinutes: 5, colour: 'red' }, 'body.colour'],
      [{ hardLimit: true }, 'body.monthlyMinutes'],
    ] as const) {
      await expectError(await h.api('PUT', '/projects/web/quota', bad), 400, 'GANTRY_E_INVALID_REQUEST', field);
    }
    await expectError(await h.api('PUT', '/projects/nope/quota', { monthlyMinutes: 1 }), 404, 'GANTRY_E_NOT_FOUND');
    // Lifted: unlimited again.
    assert.equal(((await (await h.api('PUT', '/projects/web/quota', { monthlyMinutes: null, hardLimit: false })).json()) as { monthlyMinutes: null }).monthlyMinutes, null);
  });

  it('grants: admins give them, once per Idempotency-Key, with a reason; the audit log has both kinds of change', async () => {
    await expectError(await h.api('POST', '/projects/web/quota/grants', { minutes: 1, reason: 'please' }, maintainer), 403, 'GANTRY_E_FORBIDDEN');
    const first = await h.api('POST', '/projects/web/quota/grants', { minutes: 0.5, reason: 'launch week' }, { 'idempotency-key': 'g-1' });
    assert.equal(first.status, 201);
    const grant = (await first.json()) as { id: number; minutes: number; reason: string; by: string; at: string };
    assert.deepEqual([grant.minutes, grant.reason, grant.by], [0.5, 'launch week', 'admin token']);
    const again = await h.api('POST', '/projects/web/quota/grants', { minutes: 0.5, reason: 'launch week' }, { 'idempotency-key': 'g-1' });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await again.json(), grant);
    await expectError(await h.api('POST', '/projects/web/quota/grants', { minutes: 2, reason: 'launch week' }, { 'idempotency-key': 'g-1' }), 409, 'GANTRY_E_IDEMPOTENCY_MISMATCH');
    assert.equal((await h.api('POST', '/projects/web/quota/grants', { minutes: 0.5, reason: 'launch week' })).status, 201, 'no key: a grant each time');
    for (const [bad, field] of [
      [{ minutes: 0, reason: 'x' }, 'body.minutes'],
      [{ minutes: -3, reason: 'x' }, 'body.minutes'],
      [{ minutes: 0.000001, reason: 'x' }, 'body.minutes'],
      [{ minutes: 1 }, 'body.reason'],
      [{ minutes: 1, reason: '' }, 'body.reason'],
    ] as const) {
      await expectError(await h.api('POST', '/projects/web/quota/grants', bad), 400, 'GANTRY_E_INVALID_REQUEST', field);
    }
    const view = (await (await h.api('GET', '/projects/web/quota', undefined, maintainer)).json()) as { grants: { minutes: number }[] };
    assert.deepEqual(view.grants.map((g) => g.minutes), [0.5, 0.5]);
    const audit = (await (await h.api('GET', '/projects/web/audit?limit=100')).json()) as { items: { action: string; details: Record<string, unknown> }[] };
    const mine = audit.items.filter((e) => e.action.startsWith('quota.')).reverse();
    assert.deepEqual(
      mine.map((e) => [e.action, e.details]),
      [
        ['quota.set', { monthlyMinutes: 10, hardLimit: true }],
        ['quota.set', { monthlyMinutes: 20, hardLimit: true }],
        ['quota.set', { monthlyMinutes: null, hardLimit: false }],
        ['quota.grant', { minutes: 0.5, reason: 'launch week' }],
        ['quota.grant', { minutes: 0.5, reason: 'launch week' }],
      ],
      'a replayed grant is not a change',
    );
  });

  it("a month's usage as JSON and as billing lines; the instance's usage is an admin's; the counter is on /metrics", async () => {
    assert.equal((await h.api('PUT', '/projects/web/quota', { monthlyMinutes: 3 })).status, 200);
    const created = (await (await h.api('POST', '/projects/web/pipelines', { ref: 'main' })).json()) as { id: number; jobs: { id: number }[] };
    // One attempt of 1.5 s, run as an agent would through the store.
    const fleet = h.store.fleet;
    const agent = await fleet.registerAgent({ name: 'box', tags: [], concurrency: 1, version: 't', platform: {} }, 'hash-box', Date.now());
    await fleet.openSession(agent.id, 's', agent, Date.now(), SETTINGS);
    const start = Date.now();
    const [offer] = await fleet.takeAttempts(agent, 1, start, SETTINGS, ['tok']);
    assert.ok(offer);
    assert.equal((await fleet.startAttempt(agent.id, offer.attempt.id, 'tok', 'box', start, SETTINGS)).kind, 'ok');
    const running = (await (await h.api('GET', '/projects/web/usage', undefined, maintainer)).json()) as Record<string, unknown>;
    assert.deepEqual(running, {
      month: monthOf(start),
      limitMinutes: 3,
      grantedMinutes: 1,
      usedMinutes: 0,
      reservedMinutes: 0.5,
      remainingMinutes: 3.5,
      byPool: {},
      days: [],
    });
    await fleet.completeAttempt(offer.attempt.id, 'tok', { status: 'success', exitCode: 0, failureReason: null, logEnd: 0 }, start + 1_500, SETTINGS);
    const usage = (await (await h.api('GET', `/projects/web/usage?month=${monthOf(start)}`, undefined, maintainer)).json()) as Record<string, unknown>;
    assert.deepEqual(usage, {
      month: monthOf(start),
      limitMinutes: 3,
      grantedMinutes: 1,
      usedMinutes: 0.025,
      reservedMinutes: 0,
      remainingMinutes: 3.975,
      byPool: { default: { minutes: 0.025, jobSeconds: 1.5 } },
      // Billed on the UTC day the attempt ended: what the usage page charts.
      days: [{ day: new Date(start + 1_500).toISOString().slice(0, 10), byPool: { default: 0.025 } }],
    });
    const csv = await h.api('GET', '/projects/web/usage?format=csv', undefined, maintainer);
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type')!, /^text\/csv/);
    assert.equal(await csv.text(), `pipeline,job,attempt,pool,factor,seconds,minutes\n${created.id},${created.jobs[0]!.id},1,default,1,1.500,0.025000\n`);
    const past = (await (await h.api('GET', '/projects/web/usage?month=2020-01')).json()) as Record<string, unknown>;
    assert.deepEqual([past.usedMinutes, past.limitMinutes, past.byPool], [0, null, {}]);
    await expectError(await h.api('GET', '/projects/web/usage?month=2999-01'), 400, 'GANTRY_E_INVALID_REQUEST', 'querystring.month');
    await expectError(await h.api('GET', '/projects/web/usage?month=2024-13'), 400, 'GANTRY_E_INVALID_REQUEST', 'querystring.month');
    await expectError(await h.api('GET', '/projects/web/usage?format=xml'), 400, 'GANTRY_E_INVALID_REQUEST', 'querystring.format');
    await expectError(await h.api('GET', '/projects/web/usage', undefined, stranger), 404, 'GANTRY_E_NOT_FOUND');

    await expectError(await h.api('GET', '/usage', undefined, maintainer), 403, 'GANTRY_E_FORBIDDEN');
    const all = (await (await h.api('GET', '/usage')).json()) as { month: string; usedMinutes: number; days: unknown[]; projects: { project: string; usedMinutes: number; limitMinutes: number | null }[] };
    assert.deepEqual([all.month, all.usedMinutes], [monthOf(start), 0.025]);
    assert.deepEqual(all.days, [{ day: new Date(start + 1_500).toISOString().slice(0, 10), byPool: { default: 0.025 } }]);
    assert.deepEqual(all.projects.map((p) => [p.project, p.limitMinutes, p.usedMinutes]), [['web', 3, 0.025]]);
    const lines = await (await h.api('GET', '/usage?format=csv')).text();
    assert.equal(lines, `project,pipeline,job,attempt,pool,factor,seconds,minutes\nweb,${created.id},${created.jobs[0]!.id},1,default,1,1.500,0.025000\n`);

    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    assert.match(metrics, /^gantry_compute_minutes_total\{project="web",pool="default"\} 0\.025$/m);
  });
});
