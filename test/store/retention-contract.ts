// Retention through the store, on each database (retention-sqlite.test.ts, retention-postgres.test.ts):
// pipelines deleted in bounded batches with everything that is theirs but the compute ledger's
// entries, logs and artifact records expired with what readers need to answer 410, the past's rows
// pruned, blobs swept only when nothing names them at the moment they go, and collections one at a
// time. Rows are read back with SQL of the test's own.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asJobId, asPipelineId, type AttemptId, type PipelineId } from '../../src/domain/ids.js';
import type { Agent, SchedulerSettings } from '../../src/store/fleet.js';
import type { SqlDialect } from '../../src/store/sql/dialect.js';
import { PIPELINES_PER_TRANSACTION } from '../../src/store/retention.js';
import type { Project, Store } from '../../src/store/store.js';
import { compiledJob, newPipeline } from './store-contract.js';

const SETTINGS: SchedulerSettings = { leaseMs: 60_000, offerTtlMs: 60_000, maxRunning: null, agentLostRetries: 0, killGraceMs: 1_000 };
const T0 = Date.UTC(2024, 4, 10);
const DAY = 86_400_000;
const sha = (c: string) => c.repeat(64);

export interface RetentionWorld {
  store: Store;
  /** The same database, for rows no API makes and for reading them back. */
  db: SqlDialect;
}

export function runRetentionContract(label: string, open: () => Promise<RetentionWorld>, second?: (first: RetentionWorld) => Promise<Store>): void {
  describe(`retention in the store: ${label}`, () => {
    let agents = 0;
    async function agentOf(store: Store): Promise<Agent> {
      const n = ++agents;
      const agent = await store.fleet.registerAgent({ name: `box-${n}`, tags: [], concurrency: 1, version: 't', platform: {} }, `agent-${label}-${n}`, T0);
      await store.fleet.openSession(agent.id, `s-${n}`, agent, T0, SETTINGS);
      return agent;
    }

    /**
     * A fleet pipeline of one job run to its end by `agent` at `at`: its log, and an artifact
     * record naming blob `artifact` (expiring at `expiresAt`) when given.
     */
    async function ran(
      store: Store,
      agent: Agent,
      project: Project,
      at: number,
      opts: { ref?: string; ok?: boolean; log?: string; artifact?: string; expiresAt?: number | null } = {},
    ): Promise<{ pipelineId: PipelineId; jobId: number; attemptId: AttemptId }> {
      const { pipeline, jobs } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', ref: opts.ref ?? 'main', jobs: [compiledJob('build')], createdAt: at }));
      await store.fleet.startPipeline(pipeline.id, at, SETTINGS);
      const token = `tok-${pipeline.id}`;
      const [offer] = await store.fleet.takeAttempts(agent, 1, at, SETTINGS, [token]);
      assert.equal(offer?.job.id, jobs[0]!.id);
      const id = offer!.attempt.id;
      assert.equal((await store.fleet.startAttempt(agent.id, id, token, agent.name, at + 1, SETTINGS)).kind, 'ok');
      const log = Buffer.from(opts.log ?? `log of pipeline ${pipeline.id}\n`);
      await store.fleet.appendLog(id, token, 0, log, log.length, at + 2, at + 2);
      if (opts.artifact) {
        assert.equal((await store.fleet.recordBlob(id, token, opts.artifact, 10, at + 3)).kind, 'ok');
        const r = await store.fleet.recordArtifact(id, token, { sha256: opts.artifact, size: 10, files: 1, expiresAt: opts.expiresAt ?? null }, at + 3);
        assert.equal(r.kind, 'ok');
      }
      const ok = opts.ok ?? true;
      const done = await store.fleet.completeAttempt(
        id,
        token,
        { status: ok ? 'success' : 'failed', exitCode: ok ? 0 : 1, failureReason: ok ? null : 'script_failure', logEnd: log.length },
        at + 4,
        SETTINGS,
      );
      assert.equal(done.kind, 'ok');
      return { pipelineId: pipeline.id, jobId: jobs[0]!.id, attemptId: id };
    }

    async function count(db: SqlDialect, sql: string, params: (string | number)[] = []): Promise<number> {
      return Number((await db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${sql}`, params))!.n);
    }

    it('old pipelines go a hundred per transaction with their jobs, attempts, logs, test reports and artifact records; unfinished ones and the compute ledger stay', async () => {
      const { store, db } = await open();
      const project = await store.ensureProject('batches', '/src/batches', T0);
      const agent = await agentOf(store);
      // One that really ran: a log in rows, an artifact, and the ledger's entries for its minutes.
      const real = await ran(store, agent, project, T0, { artifact: sha('a') });
      const ledgerBefore = await count(db, 'compute_ledger WHERE attempt_id = ?', [real.attemptId]);
      // And a JUnit report of its attempt, which goes with it.
      await store.testReports.record(real.attemptId, { counts: { total: 1, passed: 1, failed: 0, error: 0, skipped: 0, durationMs: 5 }, unlisted: 0, files: 1, cases: [] }, T0);
      assert.equal(await count(db, 'test_reports'), 1);
      assert.deepEqual((await store.testReports.ofPipeline(real.pipelineId)).map((r) => r.report.counts.passed), [1]);
      assert.ok(ledgerBefore >= 1, 'the attempt consumed');
      // 250 more, ended behind the store's back (their jobs never ran).
      const ended: PipelineId[] = [];
      for (let i = 0; i < 250; i++) {
        const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', createdAt: T0 + i }));
        ended.push(pipeline.id);
      }
      await db.run(`UPDATE pipelines SET status = 'failed', finished_at = ? WHERE id IN (${ended.map(() => '?').join(', ')})`, [T0, ...ended]);
      // One still running, and one canceled whose attempt is still being stopped.
      const { pipeline: running } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', createdAt: T0 }));
      await db.run("UPDATE pipelines SET status = 'running' WHERE id = ?", [running.id]);
      const { pipeline: stopping, jobs: stoppingJobs } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', createdAt: T0 }));
      await store.createAttempt(stoppingJobs[0]!.id, T0);
      await db.run("UPDATE attempts SET status = 'running' WHERE job_id = ?", [stoppingJobs[0]!.id]);
      await db.run("UPDATE pipelines SET status = 'canceled', finished_at = ? WHERE id = ?", [T0, stopping.id]);

      // What the policy is given: old ones oldest first, in pages, with their facts.
      const page = await store.retention.oldPipelines(project.id, T0 + DAY, null, 100);
      assert.equal(page.length, 100);
      assert.equal(page[0]!.id, real.pipelineId);
      const all = [...page];
      for (let after = page[page.length - 1]!; ; ) {
        const next = await store.retention.oldPipelines(project.id, T0 + DAY, after, 100);
        if (next.length === 0) break;
        all.push(...next);
        after = next[next.length - 1]!;
      }
      assert.equal(all.length, 253);
      assert.deepEqual(all.filter((p) => p.unfinishedAttempts).map((p) => p.id), [stopping.id]);
      assert.deepEqual((await store.retention.refFacts(project.id, 'main', 2)).latestSuccess, real.pipelineId);

      assert.ok(250 > 2 * PIPELINES_PER_TRANSACTION);
      const deleted = await store.retention.deletePipelines([real.pipelineId, ...ended, running.id, stopping.id], false);
      assert.equal(deleted, 251);
      assert.equal(await count(db, 'pipelines'), 2, 'the running one and the one still stopping stay');
      assert.equal(await count(db, 'jobs WHERE pipeline_id NOT IN (?, ?)', [running.id, stopping.id]), 0);
      assert.equal(await count(db, 'attempts WHERE id = ?', [real.attemptId]), 0);
      assert.equal(await count(db, 'log_chunks'), 0);
      assert.equal(await count(db, 'test_reports'), 0, 'test reports go with their attempts');
      assert.equal(await count(db, 'artifacts'), 0);
      assert.equal(await count(db, 'blobs'), 1, 'the blob row stays for the sweep');
      // Billing history outlives pipelines: the entries stay, no longer naming the attempt.
      assert.equal(await count(db, 'compute_ledger WHERE attempt_id IS NULL'), ledgerBefore);
      assert.equal((await store.getPipelineOnly(real.pipelineId)), null);
    });

    it("a ref's latest successful pipeline is only deleted once a later one of its ref succeeded, when its artifacts are kept", async () => {
      const { store } = await open();
      const project = await store.ensureProject('latest', '/src/latest', T0);
      const agent = await agentOf(store);
      const good = await ran(store, agent, project, T0);
      const bad = await ran(store, agent, project, T0 + 10, { ok: false });
      assert.equal(await store.retention.deletePipelines([good.pipelineId], true), 0, 'the later one failed: this one holds the latest artifacts');
      assert.equal(await store.retention.deletePipelines([bad.pipelineId], true), 1);
      await ran(store, agent, project, T0 + 20);
      assert.equal(await store.retention.deletePipelines([good.pipelineId], true), 1, 'a later one succeeded');
    });

    it('expired artifact records leave a tombstone (410, not 404) and their blob unreferenced; the latest of a ref is kept', async () => {
      const { store, db } = await open();
      const project = await store.ensureProject('expiry', '/src/expiry', T0);
      const agent = await agentOf(store);
      const old = await ran(store, agent, project, T0, { artifact: sha('b'), expiresAt: T0 + 100 });
      const latest = await ran(store, agent, project, T0 + 10, { artifact: sha('c'), expiresAt: T0 + 100 });
      const at = T0 + 1_000;
      const expired = await store.retention.expiredArtifacts(at, true, 0, 100);
      assert.deepEqual(expired.map((a) => a.sha256), [sha('b')], "the ref's latest success keeps its artifacts past their expiry");
      assert.equal((await store.retention.expiredArtifacts(at, false, 0, 100)).length, 2);
      assert.equal(await store.retention.expireArtifacts(expired.map((a) => a.id), at, true), 1);
      assert.equal(await store.retention.expireArtifacts(expired.map((a) => a.id), at, true), 0, 'once');
      const [gone] = await store.fleet.listArtifacts(asJobId(old.jobId), true);
      assert.deepEqual([gone!.sha256, gone!.size, gone!.expiresAt, gone!.keptAsLatest], [null, 10, T0 + 100, false]);
      const [kept] = await store.fleet.listArtifacts(asJobId(latest.jobId), true);
      assert.deepEqual([kept!.sha256, kept!.keptAsLatest], [sha('c'), true]);
      assert.equal((await store.fleet.listArtifacts(asJobId(latest.jobId), false))[0]!.keptAsLatest, false);
      assert.deepEqual((await store.retention.unreferencedBlobs(at, '', 10)).map((b) => b.sha256), [sha('b')]);
      assert.equal(await count(db, 'artifact_expiries'), 1);
      // The tombstone goes with its pipeline.
      assert.equal(await store.retention.deletePipelines([old.pipelineId], true), 1);
      assert.equal(await count(db, 'artifact_expiries'), 0);
    });

    it("log retention deletes an ended attempt's log, keeps its pipeline, and compaction names no object for it after", async () => {
      const { store, db } = await open();
      const project = await store.ensureProject('logs', '/src/logs', T0);
      const agent = await agentOf(store);
      const compacted = await ran(store, agent, project, T0);
      assert.equal(await store.fleet.finishLogCompaction(compacted.attemptId, sha('d')), true);
      const inRows = await ran(store, agent, project, T0 + 10);
      const young = await ran(store, agent, project, T0 + 5 * DAY);
      const page = await store.retention.pipelinesWithLogs(project.id, T0 + DAY, null, 100);
      assert.deepEqual(page.map((p) => p.id), [compacted.pipelineId, inRows.pipelineId]);
      assert.equal(await store.retention.expireLogs(page.map((p) => asPipelineId(p.id)), T0 + 6 * DAY), 2);
      assert.deepEqual(await store.retention.pipelinesWithLogs(project.id, T0 + DAY, null, 100), [], 'not walked again');
      for (const a of [compacted, inRows]) {
        const s = (await store.fleet.logState(a.attemptId))!;
        assert.deepEqual([s.object, s.expiredAt], [null, T0 + 6 * DAY]);
        assert.ok(await store.getPipelineOnly(a.pipelineId), 'the pipeline stays');
      }
      assert.equal(await count(db, 'log_chunks WHERE attempt_id = ?', [inRows.attemptId]), 0);
      assert.equal(await store.fleet.finishLogCompaction(inRows.attemptId, sha('e')), false);
      assert.equal((await store.fleet.logState(young.attemptId))!.expiredAt, null);
      // The object nobody names any more is the sweep's: the mark finds no attempt for it.
      assert.deepEqual([...(await store.retention.logObjectNames([sha('d')])).keys()], []);
    });

    it('a blob referenced again between mark and sweep stays; one still unreferenced goes with its file', async () => {
      const { store, db } = await open();
      const project = await store.ensureProject('blobs', '/src/blobs', T0);
      const agent = await agentOf(store);
      for (const c of ['1', '2', '3']) await db.run('INSERT INTO blobs (sha256, size, created_at) VALUES (?, 7, ?)', [sha(c), T0]);
      // Touched within the grace: an upload may be under way.
      await db.run('INSERT INTO blobs (sha256, size, created_at) VALUES (?, 7, ?)', [sha('4'), T0 + 2 * DAY]);
      const marked = await store.retention.unreferencedBlobs(T0 + DAY, '', 10);
      assert.deepEqual(marked.map((b) => b.sha256), [sha('1'), sha('2'), sha('3')]);
      // Between the mark and the sweep: a cache saved onto blob 1, an identical artifact onto blob 2.
      await db.run('INSERT INTO caches (project_id, key, blob_sha256, size, updated_at, used_at) VALUES (?, ?, ?, 7, ?, ?)', [project.id, 'deps', sha('1'), T0, T0]);
      const { pipeline, jobs } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs: [compiledJob('build')], createdAt: T0 }));
      await store.fleet.startPipeline(pipeline.id, T0, SETTINGS);
      const [offer] = await store.fleet.takeAttempts(agent, 1, T0, SETTINGS, ['t']);
      await store.fleet.startAttempt(agent.id, offer!.attempt.id, 't', agent.name, T0, SETTINGS);
      assert.equal(offer!.job.id, jobs[0]!.id);
      assert.equal((await store.fleet.recordArtifact(offer!.attempt.id, 't', { sha256: sha('2'), size: 7, files: 1, expiresAt: null }, T0)).kind, 'ok');
      const removed: string[] = [];
      const remove = async (s: string) => void removed.push(s);
      for (const b of marked) await store.retention.removeBlob(b.sha256, T0 + DAY, remove);
      assert.deepEqual(removed, [sha('3')]);
      assert.deepEqual((await db.all<{ sha256: string }>('SELECT sha256 FROM blobs ORDER BY sha256')).map((r) => r.sha256), [sha('1'), sha('2'), sha('4')]);
      assert.equal(await store.retention.removeBlob(sha('4'), T0 + DAY, remove), false, 'within the grace');

      // Log objects: named by an attempt, it stays; compaction re-checks the object under the same lock.
      const named = await ran(store, agent, project, T0 + 10);
      assert.equal(await store.fleet.finishLogCompaction(named.attemptId, sha('5'), async () => true), true);
      assert.deepEqual([...(await store.retention.logObjectNames([sha('5'), sha('6')])).entries()], [[sha('5'), [named.attemptId]]]);
      assert.equal(await store.retention.removeLogObject(sha('5'), remove), false);
      assert.equal(await store.retention.removeLogObject(sha('6'), remove), true);
      const other = await ran(store, agent, project, T0 + 20);
      assert.equal(await store.fleet.finishLogCompaction(other.attemptId, sha('6'), async () => false), false, 'the collector took the object first');
      assert.equal((await store.fleet.logState(other.attemptId))!.object, null, 'the rows stay for the next compaction');
    });

    it("deliveries, sent commit statuses and audit entries past their days are pruned, dry or not; what is still to be done stays", async () => {
      const { store, db } = await open();
      const project = await store.ensureProject('past', '/src/past', T0);
      const delivery = (id: string, received: number) => ({
        projectId: project.id,
        provider: 'github' as const,
        deliveryId: id,
        event: 'push',
        receivedAt: received,
        outcome: { status: 'ignored' as const, reason: 'test' },
      });
      await store.recordDelivery(delivery('old-done', T0));
      await store.recordDelivery(delivery('new-done', T0 + 40 * DAY));
      await store.recordDelivery({ ...delivery('old-queued', T0), outcome: { status: 'queued', gitEvent: { kind: 'ping' } as never } });
      const pipelines: number[] = [];
      for (let i = 0; i < 3; i++) pipelines.push((await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', createdAt: T0 }))).pipeline.id);
      await db.run(`UPDATE pipelines SET status = 'success', finished_at = ? WHERE id IN (?, ?)`, [T0, pipelines[0]!, pipelines[1]!]);
      await db.run(`UPDATE pipelines SET status = 'success', finished_at = ? WHERE id = ?`, [T0 + 40 * DAY, pipelines[2]!]);
      // Sent and old; still to send (a retry due) and old; sent and recent.
      for (const [i, next] of [[0, null], [1, T0 + DAY], [2, null]] as const) {
        await db.run('INSERT INTO forge_statuses (pipeline_id, status, version, next_at) VALUES (?, ?, 1, ?)', [pipelines[i]!, 'success', next]);
      }
      for (const at of [T0, T0 + 1, T0 + 40 * DAY]) {
        await store.audit.record({ at, action: 'project.update', actor: { kind: 'anonymous' }, projectId: project.id, target: { type: 'project', id: 'past' }, address: null, details: null });
      }
      const before = T0 + 30 * DAY;
      const at = T0 + 41 * DAY;
      assert.deepEqual(
        [await store.retention.pruneDeliveries(before, true), await store.retention.pruneOutbox(before, at, true), await store.retention.pruneAudit(before, true)],
        [1, 1, 2],
        'the dry run counts',
      );
      assert.equal(await count(db, 'webhook_deliveries'), 3, 'and deletes nothing');
      assert.deepEqual(
        [await store.retention.pruneDeliveries(before, false), await store.retention.pruneOutbox(before, at, false), await store.retention.pruneAudit(before, false)],
        [1, 1, 2],
      );
      assert.deepEqual((await db.all<{ delivery_id: string }>('SELECT delivery_id FROM webhook_deliveries ORDER BY delivery_id')).map((r) => r.delivery_id), ['new-done', 'old-queued']);
      assert.deepEqual((await db.all<{ pipeline_id: number | string }>('SELECT pipeline_id FROM forge_statuses ORDER BY pipeline_id')).map((r) => Number(r.pipeline_id)), [pipelines[1], pipelines[2]]);
      assert.equal(await count(db, 'audit_log'), 1);
    });

    it('collections run one at a time: a second claim finds the running one, a scheduled one skips a recent run, a run whose lease ran out is closed as abandoned', async () => {
      const first = await open();
      const { store } = first;
      const a = await store.retention.claimRun('api', 'one', T0, 1_000, null);
      assert.equal(a.kind, 'started');
      const b = await store.retention.claimRun('api', 'two', T0 + 10, 1_000, null);
      assert.deepEqual([b.kind, b.run.id, b.run.holder], ['running', a.run.id, 'one']);
      assert.equal(await store.retention.renewRun(a.run.id, T0 + 2_000), true);
      assert.equal((await store.retention.runs(T0 + 1_500)).running?.id, a.run.id);
      await store.retention.finishRun(a.run.id, T0 + 1_600, null, null);
      assert.equal((await store.retention.claimRun('schedule', 'two', T0 + 1_700, 1_000, 60_000)).kind, 'recent');
      const c = await store.retention.claimRun('schedule', 'two', T0 + 70_000, 1_000, 60_000);
      assert.equal(c.kind, 'started');
      // Its instance died: no renewal; past the lease the next claim closes it and starts anew.
      const d = await store.retention.claimRun('api', 'three', T0 + 72_000, 1_000, null);
      assert.equal(d.kind, 'started');
      assert.equal(await store.retention.renewRun(c.run.id, T0 + 73_000), false);
      const { last } = await store.retention.runs(T0 + 72_500);
      assert.deepEqual([last?.id, last?.error], [c.run.id, 'abandoned: its instance stopped renewing it']);
      if (second) {
        // Two instances claiming at once start one collection between them.
        const other = await second(first);
        await store.retention.finishRun(d.run.id, T0 + 72_600, null, null);
        const claims = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store : other).retention.claimRun('api', `racer-${i}`, T0 + 80_000, 10_000, null)),
        );
        assert.equal(claims.filter((x) => x.kind === 'started').length, 1);
        assert.equal(new Set(claims.map((x) => x.run.id)).size, 1);
        await other.close();
      }
    });
  });
}
