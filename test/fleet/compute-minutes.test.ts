// Compute minutes end to end (docs/RUNNING.md, "Compute minutes and quotas"): real `gantry
// server` and `gantry agent` processes on loopback, on SQLite and on PostgreSQL, with the ledger
// read back by SQL of the test's own. A project that spent its minutes takes nothing from the
// others and starts again by itself after a grant; a hard limit stops a long job after its slice;
// agents and servers killed with SIGKILL leave every attempt consumed and released exactly once;
// three server instances on one PostgreSQL database dispatching a small quota at once never spend
// more than the balance plus one slice per attempt running (under a hard limit).

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { PostgresDialect } from '../../src/store/postgres/postgres-dialect.js';
import type { SqlDialect } from '../../src/store/sql/dialect.js';
import { setPoolPriceIn } from '../../src/store/sql/fleet/ledger.js';
import { SqliteDialect } from '../../src/store/sqlite/sqlite-dialect.js';
import { reasonText } from '../../ui/queue/reason.js';
import type { QueueReason } from '../../ui/api/types.js';
import { testPostgres } from '../helpers/postgres.js';
import { Fleet, fleetsOn, freePort, type PipelineView } from './fleet-harness.js';

/**
 * The servers' lease here: twice the fleet tests' usual, so that a loaded machine (the suites of
 * other branches running beside these) does not lose agents that are alive.
 */
const LEASE_MS = 4_000;
const withLease = { env: { GANTRY_TEST_LEASE_MS: String(LEASE_MS) } };

const dialects: SqlDialect[] = [];
after(async () => {
  for (const d of dialects) await d.close().catch(() => undefined);
});

/** The fleet's database, opened by the test (to price pools and read the ledger). */
function dbOf(f: Fleet): SqlDialect {
  const url = f.storeUrl;
  const d = url.startsWith('sqlite:') ? new SqliteDialect(path.resolve(url.slice('sqlite:'.length))) : new PostgresDialect(url, { maxConnections: 2 });
  dialects.push(d);
  return d;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface AttemptLedger {
  id: number;
  status: string;
  failureReason: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  factor: number;
  consumes: { amount: number; duration: number }[];
  reserved: number;
  released: number;
  releases: number;
}

/** Every attempt of the project with what the ledger holds for it. */
async function ledgerOf(db: SqlDialect, project: string): Promise<AttemptLedger[]> {
  const attempts = await db.all<{ id: number | string; status: string; failure_reason: string | null; started_at: number | string | null; finished_at: number | string | null; cost_factor_milli: number | string | null }>(
    'SELECT a.id, a.status, a.failure_reason, a.started_at, a.finished_at, a.cost_factor_milli FROM attempts a JOIN projects p ON p.id = a.project_id WHERE p.name = ? ORDER BY a.id',
    [project],
  );
  const out: AttemptLedger[] = [];
  for (const a of attempts) {
    const e = await db.all<{ kind: string; amount_ms: number | string; duration_ms: number | string | null }>('SELECT kind, amount_ms, duration_ms FROM compute_ledger WHERE attempt_id = ? ORDER BY id', [a.id]);
    const n = (v: number | string | null) => (v === null ? null : Number(v));
    out.push({
      id: Number(a.id),
      status: a.status,
      failureReason: a.failure_reason,
      startedAt: n(a.started_at),
      finishedAt: n(a.finished_at),
      factor: n(a.cost_factor_milli) ?? 1000,
      consumes: e.filter((x) => x.kind === 'consume').map((x) => ({ amount: Number(x.amount_ms), duration: Number(x.duration_ms) })),
      reserved: e.filter((x) => x.kind === 'reserve').reduce((s, x) => s + Number(x.amount_ms), 0),
      released: e.filter((x) => x.kind === 'release').reduce((s, x) => s + Number(x.amount_ms), 0),
      releases: e.filter((x) => x.kind === 'release').length,
    });
  }
  return out;
}

/** Every ended attempt that ran was consumed once, for its real duration at its factor, and released all it held, once. */
function assertSettled(attempts: AttemptLedger[]): void {
  for (const a of attempts.filter((x) => x.startedAt !== null && x.finishedAt !== null)) {
    assert.equal(a.consumes.length, 1, `attempt ${a.id} consumed once: ${JSON.stringify(a)}`);
    const duration = a.finishedAt! - a.startedAt!;
    assert.equal(a.consumes[0]!.duration, duration, `attempt ${a.id}: its duration from start to end`);
    assert.equal(a.consumes[0]!.amount, Math.round((duration * a.factor) / 1000), `attempt ${a.id}: the duration at its factor`);
    assert.equal(a.released, a.reserved, `attempt ${a.id} released what it reserved`);
    assert.ok(a.releases <= 1 || a.reserved > 0, `attempt ${a.id}: ${a.releases} releases`);
  }
}

interface Usage {
  limitMinutes: number | null;
  grantedMinutes: number;
  usedMinutes: number;
  reservedMinutes: number;
  remainingMinutes: number | null;
}

function computeMinutesSuite(name: string, dbUrl: () => Promise<string | null>): void {
  describe(`compute minutes in a fleet (${name})`, () => {
    const make = fleetsOn(dbUrl);

    it('a project over quota takes nothing from the others: its job waits with reason quota, in words, and a grant starts it by itself', async (t) => {
      const f = await make({ '.gantry.yml': 'work:\n  script: [echo working]\n' });
      await f.startServer(withLease);
      await f.startAgent({ concurrency: 2 });
      await f.project('q');
      await f.project('other');
      assert.equal((await f.api('PUT', '/projects/q/quota', { monthlyMinutes: 0 })).status, 200);
      const waiting = await f.trigger('q');
      const other = await f.trigger('other');
      assert.equal((await f.waitPipeline(other.id)).status, 'success', "the other project's job ran");
      const queued = await until(
        'q in the queue',
        async () => (await f.api<{ items: { jobId: number; reason: QueueReason }[] }>('GET', '/queue?project=q')).body.items.find((e) => e.jobId === waiting.jobs[0]!.id),
        5_000,
      );
      assert.deepEqual(queued.reason, { code: 'quota', project: 'q', usedMinutes: 0, reservedMinutes: 0, totalMinutes: 0 });
      assert.match(reasonText(queued.reason), /project q has used 0\.0 of its 0\.0 minutes this month/);
      assert.equal((await f.pipeline(waiting.id)).jobs[0]!.status, 'pending');
      // Its minutes: a grant, and nothing else (no new pipeline, no agent restarted).
      const granted = Date.now();
      assert.equal((await f.api('POST', '/projects/q/quota/grants', { minutes: 0.5, reason: 'unblock q' })).status, 201);
      await f.waitPipeline(waiting.id, (p) => p.jobs[0]!.status !== 'pending', 5_000);
      const startedAfterMs = Date.now() - granted;
      t.diagnostic(`q's job left the queue ${startedAfterMs} ms after the grant`);
      assert.ok(startedAfterMs < 2_500, `started by itself within a couple of seconds (${startedAfterMs} ms)`);
      assert.equal((await f.waitPipeline(waiting.id)).status, 'success');
      const usage = (await f.api<Usage>('GET', '/projects/q/usage')).body;
      assert.deepEqual([usage.reservedMinutes, usage.grantedMinutes], [0, 0.5]);
      const [ran] = await ledgerOf(dbOf(f), 'q');
      assertSettled([ran!]);
      const metrics = await (await fetch(`${f.url}/metrics`)).text();
      assert.match(metrics, /^gantry_compute_minutes_total\{project="other",pool="default"\} [0-9.e-]+$/m);
      assert.match(metrics, /^gantry_compute_minutes_total\{project="q",pool="default"\} [0-9.e-]+$/m);
    });

    it('hard limit: a long job is stopped with quota_exceeded once its slice has run', async (t) => {
      const f = await make({ '.gantry.yml': 'long:\n  script: [echo begun, sleep 60]\n' });
      await f.startServer(withLease);
      await f.startAgent();
      await f.project('q');
      assert.equal((await f.api('PUT', '/projects/q/quota', { monthlyMinutes: 0, hardLimit: true })).status, 200);
      // 3 s of running at a factor of 1, less than a slice (a lease): the offer reserves it all.
      assert.equal((await f.api('POST', '/projects/q/quota/grants', { minutes: 0.05, reason: 'three seconds' })).status, 201);
      const p = await f.trigger('q');
      const done = await f.waitPipeline(p.id, undefined, 20_000);
      assert.deepEqual([done.status, done.jobs[0]!.status, done.jobs[0]!.failureReason, done.jobs[0]!.attempts], ['failed', 'failed', 'quota_exceeded', 1]);
      const log = (await f.log(done.jobs[0]!.id)).toString();
      assert.match(log, /begun/, 'its log is kept: stopped as a cancel is');
      assert.match(log, /Job stopped: its project ran out of compute minutes \(quota_exceeded\)/, 'its log says why, not "canceled"');
      assert.doesNotMatch(log, /Job canceled/);
      const [a] = await ledgerOf(dbOf(f), 'q');
      assertSettled([a!]);
      const ranMs = a!.finishedAt! - a!.startedAt!;
      t.diagnostic(`stopped after ${ranMs} ms of running, with 3 000 ms reserved in all`);
      assert.equal(a!.reserved, 3_000);
      // Reserved from the offer on, so a little less than 3 s from the start; then the stop's way to the agent.
      assert.ok(ranMs >= 2_000 && ranMs < 3_000 + LEASE_MS + 2_000, `ran ${ranMs} ms`);
    });

    it('kill -9 of an agent and of the server mid-job: every attempt is consumed and released exactly once, the lost one only up to when it was declared lost', async (t) => {
      const f = await make({ '.gantry.yml': 'slow:\n  script: [echo begun, sleep 4]\n' });
      const server = await f.startServer(withLease);
      const first = await f.startAgent({ name: 'doomed' });
      await f.project('q');
      assert.equal((await f.api('PUT', '/projects/q/quota', { monthlyMinutes: 10 })).status, 200);
      const p = await f.trigger('q');
      const jobId = p.jobs[0]!.id;
      await f.waitLog(jobId, 1, /begun/);
      const killedAt = Date.now();
      await f.kill(first);
      await f.startAgent({ name: 'survivor' });
      // The retry runs on the survivor; the server dies under it and comes back after a lease.
      await f.waitLog(jobId, 2, /begun/, 20_000);
      await f.kill(server);
      await new Promise((r) => setTimeout(r, LEASE_MS + 500));
      await f.startServer(withLease);
      const done = await f.waitPipeline(p.id, undefined, 30_000);
      assert.equal(done.status, 'success');
      const attempts = await ledgerOf(dbOf(f), 'q');
      assert.deepEqual(attempts.map((a) => [a.status, a.failureReason]), [['failed', 'agent_lost'], ['success', null]]);
      assertSettled(attempts);
      const lost = attempts[0]!;
      // Consumed to when the sweep declared it lost: the lease and a sweep after the kill, no more.
      assert.ok(lost.finishedAt! - killedAt <= LEASE_MS + 2_000, `declared lost ${lost.finishedAt! - killedAt} ms after the kill`);
      const usage = (await f.api<Usage>('GET', '/projects/q/usage')).body;
      const consumed = attempts.reduce((s, a) => s + a.consumes[0]!.amount, 0);
      assert.deepEqual([usage.reservedMinutes, usage.usedMinutes, usage.remainingMinutes], [0, Math.round(consumed / 60) / 1000, Math.round((600_000 - consumed) / 60) / 1000]);
      t.diagnostic(`lost attempt: ${lost.consumes[0]!.amount} ms consumed; its retry across the server's restart: ${attempts[1]!.consumes[0]!.amount} ms`);
    });
  });
}

computeMinutesSuite('sqlite', async () => null);

const postgres = await testPostgres('compute minutes on PostgreSQL', 3);
if (postgres) {
  const pgUrl = async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`;
  computeMinutesSuite('postgres', pgUrl);

  describe('compute minutes: three server instances on one PostgreSQL database', () => {
    const fleets: Fleet[] = [];
    after(async () => {
      for (const f of fleets) await f.teardown();
    });

    it('dispatching a small quota at once under a hard limit, they spend no more than the balance plus one slice per running attempt, and the ledger is the attempts` durations times their factors', async (t) => {
      // Each job runs at least 0.5 s (5 000 compute ms at the factor below), so they ask for more
      // than the balance however fast the machine is.
      const JOBS = 32;
      const jobs = Array.from({ length: JOBS }, (_, i) => `j${i}:\n  script: [sleep 0.5]\n`).join('');
      const f = new Fleet({ '.gantry.yml': jobs }, await pgUrl());
      fleets.push(f);
      await f.startServer(withLease);
      const urls = [f.url];
      for (let i = 0; i < 2; i++) {
        const port = await freePort();
        await f.startServer({ ...withLease, port });
        urls.push(`http://127.0.0.1:${port}`);
      }
      for (let i = 0; i < 4; i++) await f.startAgent({ concurrency: 2, server: urls[i % 3] });
      await f.project('q');
      // 2 minutes at a factor of 10 (the default pool, priced by the test): 12 s of running. A slice
      // is a lease (4 s) at that factor: 40 000 compute ms, a third of the balance. The hard limit
      // makes the bound hold whatever the jobs last on a loaded machine: a job that outruns its
      // reservation with nothing left is stopped, where a soft limit would let it run on.
      const db = dbOf(f);
      await setPoolPriceIn(db, 'default', 10_000, Date.now());
      assert.equal((await f.api('PUT', '/projects/q/quota', { monthlyMinutes: 2, hardLimit: true })).status, 200);
      const balance = 120_000;
      const slice = LEASE_MS * 10;
      const p = await f.api<PipelineView>('POST', '/projects/q/pipelines', { ref: 'main' }, urls[1]);
      assert.equal(p.status, 201);
      // Until nothing runs and the rest waits for minutes.
      const settled = await until(
        'the quota to be spent and nothing to run',
        async () => {
          const pipeline = await f.pipeline(p.body.id);
          if (pipeline.jobs.some((j) => j.status === 'running')) return null;
          const queue = (await f.api<{ items: { reason: { code: string } }[] }>('GET', '/queue?project=q')).body.items;
          if (queue.length === 0 || !queue.every((e) => e.reason.code === 'quota')) return null;
          // Not a lapsed offer's reservation the sweep has yet to return.
          return (await f.api<Usage>('GET', '/projects/q/usage')).body.reservedMinutes === 0 ? pipeline : null;
        },
        60_000,
        200,
      );
      const attempts = await ledgerOf(db, 'q');
      assertSettled(attempts);
      const ran = attempts.filter((a) => a.startedAt !== null);
      const consumed = ran.reduce((s, a) => s + a.consumes[0]!.amount, 0);
      // The most attempts running at one moment.
      const edges = ran.flatMap((a) => [
        [a.startedAt!, 1],
        [a.finishedAt!, -1],
      ]).sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
      let running = 0;
      let most = 0;
      for (const [, d] of edges) most = Math.max(most, (running += d!));
      const stopped = ran.filter((a) => a.failureReason === 'quota_exceeded').length;
      t.diagnostic(
        `balance ${balance} compute ms, slice ${slice}; ${ran.length} of ${JOBS} jobs ran (${stopped} stopped by the hard limit), at most ${most} at once, ` +
          `consuming ${consumed} (${consumed - balance} over the balance; bound ${most * slice}); ${settled.jobs.filter((j) => j.status === 'pending').length} wait for minutes`,
      );
      assert.ok(ran.length > 0 && ran.length < JOBS, `${ran.length} jobs ran`);
      assert.ok(ran.every((a) => a.status === 'success' || a.failureReason === 'quota_exceeded'), JSON.stringify(ran.map((a) => [a.status, a.failureReason])));
      assert.ok(consumed >= balance, 'the rest waits only once the balance is spent');
      assert.ok(consumed <= balance + most * slice, `${consumed} <= ${balance} + ${most} x ${slice}`);
      const usage = (await f.api<Usage>('GET', '/projects/q/usage', undefined, urls[2])).body;
      assert.deepEqual([usage.usedMinutes, usage.reservedMinutes, usage.remainingMinutes], [Math.round(consumed / 60) / 1000, 0, 0]);
      // A grant: the rest starts by itself, on whichever instance, and the pipeline ends.
      assert.equal((await f.api('POST', '/projects/q/quota/grants', { minutes: 100, reason: 'the rest' }, urls[2])).status, 201);
      const done = await f.waitPipeline(p.body.id, undefined, 90_000);
      assert.ok(done.jobs.every((j) => j.status === 'success' || j.failureReason === 'quota_exceeded'), JSON.stringify(done.jobs));
      assert.ok(done.jobs.filter((j) => j.status === 'success').length >= JOBS - stopped);
      assertSettled(await ledgerOf(db, 'q'));
    });
  });
}
