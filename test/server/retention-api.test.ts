// Retention and garbage collection over HTTP, in-process on SQLite (and PostgreSQL when reachable,
// required under CI=true): a project's settings, who may collect, a dry run that deletes nothing,
// a collection in the background, and what people can still open after it: a kept pipeline's log
// and a live artifact byte for byte, an expired artifact as 410, an expired log as 410. Jobs run
// through the agent protocol over HTTP (a small agent of the test's own), with real archives in the
// blob store and real compacted logs; the server's clock is the test's, so days pass at once.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createArchive } from '../../src/agent/archive.js';
import { DEFAULT_RETENTION } from '../../src/domain/retention.js';
import { defaultSchedulerSettings } from '../../src/server/app.js';
import { hashToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';
import { ProtocolAgent } from './protocol-agent.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PIPELINE = 'build:\n  script: [echo build]\n  artifacts: {paths: [out.bin]}\n';

interface Ran {
  pipelineId: number;
  jobId: number;
  log: Buffer;
  archive: Buffer;
  /** The offer's spec said this expire_in (the project's default: the job gives none). */
  expireInSeconds: number | null;
}

function retentionSuite(label: string, openStore: (home: string) => Promise<Store>): void {
  describe(`retention and garbage collection over HTTP (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let clock = Date.now() + 10 * DAY;
    let maintainer: Record<string, string>;
    let agent: ProtocolAgent;
    before(async () => {
      // The server's clock is the test's; garbage collection runs only when asked, and the periodic
      // sweeps never (they wait for a lease of healthy store, a month of the test's clock).
      h = await startHarness(openStore, {
        now: () => clock,
        deps: { retention: { ...DEFAULT_RETENTION, keepPerRef: 1 }, gcIntervalMs: null, settings: defaultSchedulerSettings({ leaseMs: 30 * DAY }) },
      });
      repo = sandbox({ '.gantry.yml': PIPELINE });
      agent = new ProtocolAgent(h.url, h.agent);
      for (const name of ['kept', 'expiring']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
      const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
      await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: (await h.store.getProject('kept'))!.id, createdAt: 1 });
      maintainer = { authorization: `Bearer ${token}` };
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const json = async <T>(res: Response, status: number): Promise<T> => {
      const text = await res.text();
      assert.equal(res.status, status, text);
      return JSON.parse(text) as T;
    };
    const errorOf = async (res: Response, status: number) => (await json<{ error: { code: string; field?: string } }>(res, status)).error;

    /** Triggers a pipeline of `project` and runs its one job to success: a log, and an archive of random bytes. */
    async function run(project: string): Promise<Ran> {
      const p = await json<{ id: number; jobs: { id: number }[] }>(await h.api('POST', `/projects/${project}/pipelines`, { ref: 'main' }), 201);
      const [offer] = await agent.take(1);
      const { attemptId: id, attemptToken } = offer!;
      const log = Buffer.from(`pipeline ${p.id} of ${project}: ${randomBytes(24).toString('hex')}\n`.repeat(50));
      const put = await agent.call('PATCH', `/attempts/${id}/log`, { bytes: log, attemptToken, headers: { 'content-range': `bytes 0-${log.length - 1}/*` } });
      assert.ok(put.status < 300, JSON.stringify(put.body));
      const dir = fs.mkdtempSync(path.join(h.base, 'work-'));
      fs.writeFileSync(path.join(dir, 'out.bin'), randomBytes(20_000));
      const info = await createArchive(dir, ['out.bin'], path.join(dir, 'a.tar.gz'));
      const archive = fs.readFileSync(path.join(dir, 'a.tar.gz'));
      assert.ok((await agent.call('PUT', `/attempts/${id}/blobs/sha256/${info.sha256}`, { bytes: archive, attemptToken })).status < 300);
      const expireInSeconds = (offer!.spec.artifacts as { expireInSeconds: number | null }).expireInSeconds;
      const rec = await agent.call('POST', `/attempts/${id}/artifacts`, { json: { sha256: info.sha256, size: info.size, files: info.files, expireInSeconds }, attemptToken });
      assert.equal(rec.status, 201, JSON.stringify(rec.body));
      const done = await agent.call('POST', `/attempts/${id}/complete`, { json: { status: 'success', exitCode: 0, failureReason: null, logEnd: log.length }, attemptToken });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      return { pipelineId: p.id, jobId: p.jobs[0]!.id, log, archive, expireInSeconds };
    }

    const bytesOf = async (res: Response) => {
      assert.equal(res.status, 200);
      return Buffer.from(await res.arrayBuffer());
    };
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

    /** Waits until every ended attempt's log is compacted (the server does it a second after each end). */
    async function compacted(): Promise<void> {
      for (let i = 0; i < 200; i++) {
        if ((await h.store.fleet.logsToCompact(1)).length === 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail('logs were not compacted');
    }

    it("a project's retention: a maintainer sets it, null takes the instance default back, a bad expire_in is 400 with the field", async () => {
      const set = await json<{ retention: unknown }>(
        await h.api('PATCH', '/projects/kept', { retention: { pipelineDays: 1, keepPerRef: 1, artifactsExpireIn: '2 days', keepLatestArtifacts: true } }, maintainer),
        200,
      );
      assert.deepEqual(set.retention, { pipelineDays: 1, keepPerRef: 1, logDays: null, artifactsExpireIn: '2 days', keepLatestArtifacts: true });
      const bad = await errorOf(await h.api('PATCH', '/projects/kept', { retention: { artifactsExpireIn: 'a fortnight' } }, maintainer), 400);
      assert.deepEqual([bad.code, bad.field], ['GANTRY_E_INVALID_REQUEST', 'body.retention.artifactsExpireIn']);
      assert.equal((await errorOf(await h.api('PATCH', '/projects/kept', { retention: { pipelineDays: -1 } }), 400)).field, 'body.retention.pipelineDays');
      assert.equal((await errorOf(await h.api('PATCH', '/projects/kept', { retention: { colour: 1 } }), 400)).field, 'body.retention.colour');
      const back = await json<{ retention: { keepPerRef: number | null } }>(await h.api('PATCH', '/projects/kept', { retention: { keepPerRef: null } }), 200);
      assert.equal(back.retention.keepPerRef, null, 'the instance default (1 here)');
      const other = await json<{ retention: unknown }>(
        await h.api('PATCH', '/projects/expiring', { retention: { logDays: 1, artifactsExpireIn: '1 day', keepLatestArtifacts: false } }),
        200,
      );
      assert.deepEqual(other.retention, { pipelineDays: null, keepPerRef: null, logDays: 1, artifactsExpireIn: '1 day', keepLatestArtifacts: false });
    });

    it('garbage collection is for admins: a maintainer is 403 whatever it asks', async () => {
      for (const [method, body] of [['POST', {}], ['POST', { dryRun: true }], ['GET', undefined]] as const) {
        assert.equal((await errorOf(await h.api(method, '/gc', body, maintainer), 403)).code, 'GANTRY_E_FORBIDDEN');
      }
      assert.equal((await errorOf(await h.api('POST', '/gc', { dryRun: 'yes' }), 400)).code, 'GANTRY_E_INVALID_REQUEST');
    });

    it('a dry run deletes nothing and counts; a collection runs in the background (202), and what people can open stays byte for byte', async () => {
      // kept: three pipelines an hour apart; only the newest of main stays after a day.
      const runs: Ran[] = [];
      for (let i = 0; i < 3; i++) {
        runs.push(await run('kept'));
        clock += HOUR;
      }
      assert.deepEqual(runs.map((r) => r.expireInSeconds), [2 * 86_400, 2 * 86_400, 2 * 86_400], "the project's default expire_in, given with the offer");
      // expiring: its artifact expires in a day and is not kept as the latest; its logs go after a day.
      const exp = await run('expiring');
      assert.equal(exp.expireInSeconds, 86_400);
      await compacted();
      const [first, second, newest] = runs as [Ran, Ran, Ran];
      clock += 3 * DAY;

      const dry = await json<Record<string, number | boolean>>(await h.api('POST', '/gc', { dryRun: true }), 200);
      assert.equal(dry.dryRun, true);
      assert.deepEqual(
        [dry.pipelines, dry.logs, dry.artifacts, dry.blobs, dry.logObjects],
        [2, 1, 1, 3, 3],
        `two pipelines with their logs and archives, one log and one artifact of expiring: ${JSON.stringify(dry)}`,
      );
      assert.equal(dry.blobBytes, first.archive.length + second.archive.length + exp.archive.length);
      assert.ok((dry.logObjectBytes as number) > 0 && dry.bytes === (dry.blobBytes as number) + (dry.logObjectBytes as number));
      assert.equal((await h.api('GET', `/pipelines/${first.pipelineId}`)).status, 200, 'the dry run deleted nothing');
      assert.deepEqual(await bytesOf(await h.api('GET', `/jobs/${first.jobId}/log`)), first.log);
      assert.deepEqual(await bytesOf(await h.api('GET', `/jobs/${exp.jobId}/log`)), exp.log);

      const started = await json<{ id: number; startedAt: string; alreadyRunning: boolean }>(await h.api('POST', '/gc', {}), 202);
      assert.equal(started.alreadyRunning, false);
      assert.equal(Date.parse(started.startedAt), clock);
      let status: { running: { id: number } | null; last: { id: number; summary: Record<string, number> | null; error: string | null } | null } | null = null;
      for (let i = 0; i < 200; i++) {
        status = await json(await h.api('GET', '/gc'), 200);
        if (status!.running === null && status!.last?.id === started.id) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const last = status!.last!;
      assert.equal(last.id, started.id);
      assert.equal(last.error, null);
      for (const k of ['pipelines', 'logs', 'artifacts', 'blobs', 'blobBytes', 'logObjects', 'logObjectBytes']) assert.equal(last.summary![k], dry[k], k);

      // Gone: the two older pipelines of kept.
      for (const r of [first, second]) assert.equal((await h.api('GET', `/pipelines/${r.pipelineId}`)).status, 404);
      // Kept: the newest pipeline's log and its artifact, past its expiry but its ref's latest.
      assert.deepEqual(await bytesOf(await h.api('GET', `/jobs/${newest.jobId}/log`)), newest.log);
      assert.deepEqual(await bytesOf(await h.api('GET', `/jobs/${newest.jobId}/artifacts/1`)), newest.archive);
      const listed = await json<{ items: { expired: boolean; keptAsLatest: boolean }[] }>(await h.api('GET', `/jobs/${newest.jobId}/artifacts`), 200);
      assert.deepEqual(listed.items.map((a) => [a.expired, a.keptAsLatest]), [[false, true]]);
      // expiring: the pipeline stays; its artifact answers 410 with its code, and its log too.
      assert.equal((await h.api('GET', `/pipelines/${exp.pipelineId}`)).status, 200);
      assert.equal((await errorOf(await h.api('GET', `/jobs/${exp.jobId}/artifacts/1`), 410)).code, 'GANTRY_E_ARTIFACT_EXPIRED');
      const gone = await json<{ items: { expired: boolean; size: number }[] }>(await h.api('GET', `/jobs/${exp.jobId}/artifacts`), 200);
      assert.deepEqual(gone.items.map((a) => [a.expired, a.size]), [[true, exp.archive.length]]);
      assert.equal((await errorOf(await h.api('GET', `/jobs/${exp.jobId}/log`), 410)).code, 'GANTRY_E_LOG_EXPIRED');
      assert.equal((await errorOf(await h.api('GET', `/jobs/${exp.jobId}/log/stream`), 410)).code, 'GANTRY_E_LOG_EXPIRED');
      // On disk: the archives and compacted logs of what went are gone, the newest's are there.
      const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length : 0);
      assert.equal(files(path.join(h.home, 'blobs', 'sha256')), 1);
      assert.equal(files(path.join(h.home, 'log-objects', 'sha256')), 1);
      assert.ok(fs.existsSync(path.join(h.home, 'blobs', 'sha256', sha(newest.archive).slice(0, 2), sha(newest.archive).slice(2))));

      // The run on demand is in the audit log; a second collection finds nothing more.
      const audit = await json<{ items: { action: string; target: { type: string; id: string } }[] }>(await h.api('GET', '/audit?limit=5'), 200);
      assert.deepEqual(audit.items.find((e) => e.action === 'gc.run')?.target, { type: 'gc', id: String(started.id) });
      const again = await json<Record<string, number>>(await h.api('POST', '/gc', { dryRun: true }), 200);
      assert.deepEqual([again.pipelines, again.logs, again.artifacts, again.blobs, again.logObjects], [0, 0, 0, 0, 0]);
    });

    it('a second call while a collection runs (on this instance or another) answers 202 with that one and starts none', async () => {
      const elsewhere = await h.store.retention.claimRun('schedule', 'another-instance', clock, 60_000, null);
      assert.equal(elsewhere.kind, 'started');
      const r = await json<{ id: number; alreadyRunning: boolean }>(await h.api('POST', '/gc', {}), 202);
      assert.deepEqual(r, { id: elsewhere.run.id, startedAt: new Date(clock).toISOString(), alreadyRunning: true });
      // No body at all (curl -X POST) is the same request.
      const bare = await fetch(`${h.url}/api/v1/gc`, { method: 'POST', headers: { authorization: `Bearer ${h.admin}` } });
      assert.deepEqual(await json(bare, 202), { id: elsewhere.run.id, startedAt: new Date(clock).toISOString(), alreadyRunning: true });
      const status = await json<{ running: { id: number; instance: string; startedBy: string } }>(await h.api('GET', '/gc'), 200);
      assert.deepEqual([status.running.id, status.running.instance, status.running.startedBy], [elsewhere.run.id, 'another-instance', 'schedule']);
      await h.store.retention.finishRun(elsewhere.run.id, clock, null, null);
    });
  });
}

retentionSuite('sqlite', (home) => openSqliteStore(path.join(home, 'gantry.db')));

const postgres = await testPostgres('retention over HTTP on PostgreSQL');
if (postgres) retentionSuite('postgres', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema(), maxConnections: 4 }));
