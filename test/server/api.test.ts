// The HTTP API end to end, in-process: a real server on loopback, a real store (SQLite; and
// PostgreSQL when reachable, required under CI=true), real git repositories made by the test.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asJobId, asPipelineId } from '../../src/domain/ids.js';
import { defaultSchedulerSettings } from '../../src/server/app.js';
import { hashToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { TakenOffer } from '../../src/store/fleet.js';
import type { Store } from '../../src/store/store.js';
import { pipelineJson } from '../../src/views/pipeline-json.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';
import { testPostgres } from '../helpers/postgres.js';

const PIPELINE = `stages: [build, test]
build:
  stage: build
  script: [echo build]
test:
  stage: test
  parallel: 2
  script: [echo "test $CI_NODE_INDEX"]
only-on-release:
  stage: test
  script: [echo release]
  rules:
    - if: $RELEASE == "yes"
`;

function apiSuite(label: string, openStore: (home: string) => Promise<Store>, opts: { sqliteFile?: boolean } = {}): void {
  describe(`HTTP API (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    before(async () => {
      h = await startHarness(openStore);
      repo = sandbox({ '.gantry.yml': PIPELINE });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    let n = 0;
    async function project(gitUrl = repo.repo): Promise<{ id: number; name: string }> {
      const res = await h.api('POST', '/projects', { name: `proj-${n++}`, gitUrl });
      assert.equal(res.status, 201);
      return (await res.json()) as { id: number; name: string };
    }

    describe('authentication', () => {
      it('every API route answers 401 without a token or with an unknown one, and 403 with an agent token', async () => {
        for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'Basic abc' }] as Array<Record<string, string>>) {
          for (const [method, p] of [['GET', '/projects'], ['POST', '/projects'], ['GET', '/pipelines/1'], ['GET', '/jobs/1/log']] as const) {
            const res = await fetch(`${h.url}/api/v1${p}`, { method, headers });
            assert.equal(res.status, 401, `${method} ${p}`);
            assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GANTRY_E_UNAUTHENTICATED');
          }
        }
        const res = await h.api('GET', '/projects', undefined, { authorization: `Bearer ${h.agent}` });
        assert.equal(res.status, 403);
      });

      it('health, readiness, metrics and the OpenAPI document need no token', async () => {
        for (const p of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json']) {
          assert.equal((await fetch(`${h.url}${p}`)).status, 200, p);
        }
      });

      it('a project-scoped API token sees its project only: another project does not exist for it (404)', async () => {
        const mine = await project();
        const other = await project();
        const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
        await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: mine.id as never, createdAt: 1 });
        const auth = { authorization: `Bearer ${token}` };
        assert.equal((await h.api('GET', `/projects/${mine.id}`, undefined, auth)).status, 200);
        const hidden = await h.api('GET', `/projects/${other.id}`, undefined, auth);
        assert.equal(hidden.status, 404);
        assert.deepEqual(await hidden.json(), await (await h.api('GET', '/projects/999999')).json().then((b: { error: { message: string } }) => ({ error: { ...b.error, message: `no project "${other.id}"` } })));
        assert.equal((await h.api('POST', '/projects', { name: 'nope-scoped', gitUrl: '/x' }, auth)).status, 403);
        const list = (await (await h.api('GET', '/projects', undefined, auth)).json()) as { items: Array<{ id: number }> };
        assert.deepEqual(list.items.map((p) => p.id), [mine.id]);
        assert.ok((await h.store.findToken(hashToken(token)))!.lastUsedAt !== null);
      });
    });

    describe('projects', () => {
      it('a project is created, found by id and by name, and a second one of the same name is refused', async () => {
        const res = await h.api('POST', '/projects', { name: 'web-app', gitUrl: 'https://git.example/web.git' });
        assert.equal(res.status, 201);
        const p = (await res.json()) as { id: number; name: string; gitUrl: string; createdAt: string };
        assert.equal(res.headers.get('location'), `/api/v1/projects/${p.id}`);
        assert.equal(p.name, 'web-app');
        assert.equal(p.gitUrl, 'https://git.example/web.git');
        assert.ok(!Number.isNaN(Date.parse(p.createdAt)));
        assert.deepEqual(await (await h.api('GET', `/projects/${p.id}`)).json(), p);
        assert.deepEqual(await (await h.api('GET', '/projects/web-app')).json(), p);
        const dup = await h.api('POST', '/projects', { name: 'web-app', gitUrl: '/else' });
        assert.equal(dup.status, 409);
        assert.equal(((await dup.json()) as { error: { code: string } }).error.code, 'GANTRY_E_CONFLICT');
        const missing = await h.api('GET', '/projects/nope');
        assert.equal(missing.status, 404);
        assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'GANTRY_E_NOT_FOUND');
      });

      it('a malformed project is refused with the field named', async () => {
        for (const [body, field] of [
          [{ name: 'x' }, 'body.gitUrl'],
          [{ name: '123', gitUrl: '/x' }, 'body.name'],
          [{ name: 'a b', gitUrl: '/x' }, 'body.name'],
          [{ name: 'ok', gitUrl: '--upload-pack=evil' }, 'body.gitUrl'],
          [{ name: 'ok', gitUrl: '/x', extra: 1 }, 'body.extra'],
        ] as const) {
          const res = await h.api('POST', '/projects', body);
          assert.equal(res.status, 400, JSON.stringify(body));
          const e = ((await res.json()) as { error: { code: string; field: string } }).error;
          assert.equal(e.code, 'GANTRY_E_INVALID_REQUEST');
          assert.equal(e.field, field);
        }
      });

      it('projects page oldest first with a cursor', async () => {
        for (let i = 0; i < 3; i++) await project();
        const all = ((await (await h.api('GET', '/projects?limit=100')).json()) as { items: Array<{ id: number }> }).items.map((p) => p.id);
        const seen: number[] = [];
        let after = 0;
        for (;;) {
          const page = (await (await h.api('GET', `/projects?limit=2&after=${after}`)).json()) as { items: Array<{ id: number }>; next: number | null };
          seen.push(...page.items.map((p) => p.id));
          if (page.next === null) break;
          after = page.next;
        }
        assert.deepEqual(seen, all);
      });
    });

    describe('variables', () => {
      it('values are write-only: listed without values, replaced, deleted', async () => {
        const p = await project();
        assert.equal((await h.api('PUT', `/projects/${p.name}/variables/DEPLOY_TOKEN`, { value: 'v1', masked: true })).status, 204);
        assert.equal((await h.api('PUT', `/projects/${p.id}/variables/A_PLAIN`, { value: 'plain' })).status, 204);
        assert.equal((await h.api('PUT', `/projects/${p.id}/variables/DEPLOY_TOKEN`, { value: 'v2', masked: true })).status, 204);
        const list = (await (await h.api('GET', `/projects/${p.id}/variables`)).json()) as { items: Array<Record<string, unknown>> };
        assert.deepEqual(list.items.map((v) => [v.key, v.masked, Object.keys(v).sort().join()]), [
          ['A_PLAIN', false, 'key,masked,protected,updatedAt'],
          ['DEPLOY_TOKEN', true, 'key,masked,protected,updatedAt'],
        ]);
        assert.equal((await h.api('DELETE', `/projects/${p.id}/variables/A_PLAIN`)).status, 204);
        assert.equal((await h.api('DELETE', `/projects/${p.id}/variables/A_PLAIN`)).status, 404);
        assert.equal((await h.api('PUT', `/projects/${p.id}/variables/1BAD`, { value: 'x' })).status, 400);
        assert.equal((await h.api('PUT', `/projects/${p.id}/variables/OK`, {})).status, 400);
      });

      if (opts.sqliteFile) {
        it('a value is not stored in plaintext anywhere in the database files', async () => {
          const p = await project();
          const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
          assert.equal((await h.api('PUT', `/projects/${p.id}/variables/SECRET`, { value: secret, masked: true })).status, 204);
          const files = fs.readdirSync(h.home).filter((f) => f.startsWith('gantry.db'));
          assert.ok(files.length > 0);
          for (const f of files) assert.ok(!fs.readFileSync(path.join(h.home, f)).includes(secret), f);
          const stored = (await h.store.listVariables(p.id as never))[0]!;
          assert.ok(!stored.ciphertext.includes(secret));
        });
      }
    });

    describe('triggering pipelines', () => {
      it("a trigger compiles the commit's pipeline file, stores every job with source api, and starts it: the first stage's jobs pending", async () => {
        const p = await project();
        const res = await h.api('POST', `/projects/${p.name}/pipelines`, { ref: 'main', variables: { RELEASE: 'yes' } });
        assert.equal(res.status, 201);
        const body = (await res.json()) as { id: number; status: string; sha: string; source: string; ref: string; jobs: Array<{ name: string; status: string }> };
        assert.equal(res.headers.get('location'), `/api/v1/pipelines/${body.id}`);
        assert.equal(body.status, 'running');
        assert.equal(body.source, 'api');
        assert.equal(body.ref, 'main');
        assert.equal(body.sha, repo.git('rev-parse', 'HEAD').trim());
        assert.deepEqual(body.jobs.map((j) => j.name), ['build', 'test 1/2', 'test 2/2', 'only-on-release']);
        assert.deepEqual(body.jobs.map((j) => j.status), ['pending', 'created', 'created', 'created']);
        const stored = await h.store.getPipeline(asPipelineId(body.id));
        assert.deepEqual(stored!.pipeline.variables, { RELEASE: 'yes' });
        assert.equal(stored!.jobs[1]!.spec.parallel!.total, 2);
        // Rules see the predefined variables: without RELEASE the job is left out.
        const plain = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' })).json()) as { jobs: unknown[] };
        assert.equal(plain.jobs.length, 3);
      });

      it('a pipeline records who triggered it: the caller\'s token, shown in the pipeline and in the list', async () => {
        const p = await project();
        type Shown = { id: number; triggeredBy: { kind: string; tokenId: number; tokenKind: string; name: string } | null };
        const byAdmin = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main', source: 'web' })).json()) as Shown;
        assert.equal(typeof byAdmin.triggeredBy!.tokenId, 'number');
        assert.deepEqual({ ...byAdmin.triggeredBy, tokenId: 0 }, { kind: 'token', tokenId: 0, tokenKind: 'admin', name: 'admin token' });
        const token = `gantry_api_${randomBytes(32).toString('base64url')}`;
        await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: p.id as never, createdAt: 1 });
        const tokenId = (await h.store.findToken(hashToken(token)))!.id;
        const res = await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' }, { authorization: `Bearer ${token}` });
        const byApi = (await res.json()) as Shown;
        assert.deepEqual(byApi.triggeredBy, { kind: 'token', tokenId, tokenKind: 'api', name: `API token #${tokenId}` });
        assert.deepEqual(((await (await h.api('GET', `/pipelines/${byApi.id}`)).json()) as Shown).triggeredBy, byApi.triggeredBy);
        const list = (await (await h.api('GET', `/projects/${p.id}/pipelines`)).json()) as { items: Shown[] };
        assert.deepEqual(list.items.map((x) => x.triggeredBy), [byApi.triggeredBy, byAdmin.triggeredBy]);
        // A replay of an Idempotency-Key by someone else is still the first caller's pipeline.
        const key = { 'idempotency-key': `who-${p.id}` };
        const first = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' }, key)).json()) as Shown;
        const again = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' }, { ...key, authorization: `Bearer ${token}` })).json()) as Shown;
        assert.equal(again.id, first.id);
        assert.equal(again.triggeredBy!.tokenKind, 'admin');
      });

      it('GET /pipelines/:id is exactly the shape gantry run --json prints', async () => {
        const p = await project();
        const created = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' })).json()) as { id: number };
        const got = await (await h.api('GET', `/pipelines/${created.id}`)).json();
        assert.deepEqual(got, JSON.parse(JSON.stringify(pipelineJson((await h.store.getPipeline(asPipelineId(created.id)))!))));
        assert.deepEqual(got, created);
        assert.equal((await h.api('GET', '/pipelines/999999')).status, 404);
        assert.equal((await h.api('GET', '/pipelines/abc')).status, 400);
      });

      it('a new commit is seen (the mirror is fetched), a sha is honoured, and an unknown ref or sha is 422', async () => {
        const r = sandbox({ '.gantry.yml': 'one:\n  script: [echo 1]\n' });
        try {
          const p = await project(`file://${r.repo}`);
          const first = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' })).json()) as { sha: string; jobs: Array<{ name: string }> };
          const oldSha = first.sha;
          r.write('.gantry.yml', 'one:\n  script: [echo 1]\ntwo:\n  script: [echo 2]\n');
          r.commit('second');
          r.git('tag', 'v1');
          const second = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' })).json()) as { sha: string; jobs: Array<{ name: string }> };
          assert.equal(second.sha, r.git('rev-parse', 'HEAD').trim());
          assert.deepEqual(second.jobs.map((j) => j.name), ['one', 'two']);
          const old = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main', sha: oldSha })).json()) as { sha: string; jobs: unknown[] };
          assert.equal(old.sha, oldSha);
          assert.equal(old.jobs.length, 1);
          const tag = await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'v1' });
          assert.equal(tag.status, 201);
          for (const body of [{ ref: 'no-such-branch' }, { ref: 'main', sha: 'deadbeef'.repeat(5) }]) {
            const res = await h.api('POST', `/projects/${p.id}/pipelines`, body);
            assert.equal(res.status, 422);
            assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GANTRY_E_REF_NOT_FOUND');
          }
          for (const ref of ['-x', 'a..b', 'a b', '']) assert.equal((await h.api('POST', `/projects/${p.id}/pipelines`, { ref })).status, 400, ref);
        } finally {
          r.cleanup();
        }
      });

      it('an invalid pipeline file is 422 with every diagnostic (file, line, column, code) and nothing is stored', async () => {
        const r = sandbox({ '.gantry.yml': 'build:\n  stage: build\n  script: [make]\ntest:\n  needs: [nope]\n  script: [t]\n' });
        try {
          const p = await project(r.repo);
          const res = await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' }, { 'idempotency-key': 'bad-1' });
          assert.equal(res.status, 422);
          const e = ((await res.json()) as { error: { code: string; diagnostics: Array<Record<string, unknown>> } }).error;
          assert.equal(e.code, 'GANTRY_E_PIPELINE_INVALID');
          assert.ok(e.diagnostics.length >= 1);
          const needs = e.diagnostics.find((d) => d.code === 'GANTRY_E_NEEDS_UNKNOWN')!;
          assert.deepEqual([needs.file, needs.line, typeof needs.column, typeof needs.message], ['.gantry.yml', 5, 'number', 'string']);
          assert.equal((await h.store.listPipelines({ projectId: p.id as never })).items.length, 0);
          assert.equal(await h.store.getIdempotencyKey(p.id as never, 'bad-1'), null);
          r.write('.gantry.yml', 'nothing: here\n');
          r.write('.gantry.yml', '');
          fs.rmSync(path.join(r.repo, '.gantry.yml'));
          r.commit('no file');
          const none = await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' });
          assert.equal(none.status, 422);
          assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'GANTRY_E_PIPELINE_NOT_FOUND');
        } finally {
          r.cleanup();
        }
      });

      it('an Idempotency-Key replays the original pipeline for the same body and refuses another body', async () => {
        const p = await project();
        const key = { 'idempotency-key': 'deploy-42' };
        const first = await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main', variables: { A: '1', B: '2' } }, key);
        assert.equal(first.status, 201);
        const original = await first.json();
        const again = await h.api('POST', `/projects/${p.id}/pipelines`, { variables: { B: '2', A: '1' }, ref: 'main' }, key);
        assert.equal(again.status, 200);
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
        assert.deepEqual(await again.json(), original);
        const other = await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main', variables: { A: '2' } }, key);
        assert.equal(other.status, 409);
        assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'GANTRY_E_IDEMPOTENCY_MISMATCH');
        // Per project: the same key elsewhere is a new request.
        const q = await project();
        assert.equal((await h.api('POST', `/projects/${q.id}/pipelines`, { ref: 'main' }, key)).status, 201);
        assert.equal((await h.store.listPipelines({ projectId: p.id as never })).items.length, 1);
      });

      it('10 concurrent identical requests with one Idempotency-Key make one pipeline', async () => {
        const p = await project();
        const results = await Promise.all(
          Array.from({ length: 10 }, () => h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' }, { 'idempotency-key': 'burst' })),
        );
        const statuses = results.map((r) => r.status).sort();
        assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
        const ids = new Set(await Promise.all(results.map(async (r) => ((await r.json()) as { id: number }).id)));
        assert.equal(ids.size, 1);
        assert.equal((await h.store.listPipelines({ projectId: p.id as never })).items.length, 1);
      });
    });

    describe('listing, canceling, logs', () => {
      it('pipelines list newest first, filter by status, ref and source, and page with before', async () => {
        const p = await project();
        repo.git('branch', '-f', 'feature');
        const ids: number[] = [];
        for (const ref of ['main', 'feature', 'main', 'main', 'feature']) {
          ids.push(((await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref })).json()) as { id: number }).id);
        }
        await h.api('POST', `/pipelines/${ids[2]}/cancel`);
        type Page = { items: Array<{ id: number; ref: string; status: string; projectId: number }>; next: number | null };
        const list = async (q: string) => (await (await h.api('GET', `/projects/${p.id}/pipelines${q}`)).json()) as Page;
        assert.deepEqual((await list('')).items.map((x) => x.id), [...ids].reverse());
        assert.ok((await list('')).items.every((x) => x.projectId === p.id));
        assert.deepEqual((await list('?ref=feature')).items.map((x) => x.id), [ids[4], ids[1]]);
        assert.deepEqual((await list('?status=canceled')).items.map((x) => x.id), [ids[2]]);
        assert.deepEqual((await list('?source=api&status=running&ref=main')).items.map((x) => x.id), [ids[3], ids[0]]);
        assert.deepEqual((await list('?source=push')).items, []);
        const seen: number[] = [];
        let q = '?limit=2';
        for (;;) {
          const page = await list(q);
          seen.push(...page.items.map((x) => x.id));
          if (page.next === null) break;
          q = `?limit=2&before=${page.next}`;
        }
        assert.deepEqual(seen, [...ids].reverse());
        for (const bad of ['?status=nope', '?limit=0', '?limit=101', '?source=x', '?before=-1', '?before=1e400', '?limit=1e400', '?other=1']) {
          assert.equal((await h.api('GET', `/projects/${p.id}/pipelines${bad}`)).status, 400, bad);
        }
      });

      it('cancel moves every unfinished job and the pipeline to canceled; a finished pipeline is 409', async () => {
        const p = await project();
        const created = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' })).json()) as { id: number; jobs: Array<{ id: number }> };
        // One job already done, one waiting with a queued attempt: cancel leaves the first alone.
        const [done, queued] = created.jobs;
        await h.store.moveJob(asJobId(done!.id), 'skipped', { at: Date.now() });
        await h.store.moveJob(asJobId(queued!.id), 'pending', { at: Date.now() });
        const attempt = await h.store.createAttempt(asJobId(queued!.id), Date.now());
        const res = await h.api('POST', `/pipelines/${created.id}/cancel`);
        assert.equal(res.status, 200);
        const body = (await res.json()) as { status: string; finishedAt: string | null; jobs: Array<{ status: string }> };
        assert.equal(body.status, 'canceled');
        assert.ok(body.finishedAt);
        assert.deepEqual(body.jobs.map((j) => j.status), ['skipped', 'canceled', 'canceled']);
        assert.equal((await h.store.getAttempt(attempt.id))!.status, 'canceled');
        const again = await h.api('POST', `/pipelines/${created.id}/cancel`);
        assert.equal(again.status, 409);
        assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'GANTRY_E_ILLEGAL_TRANSITION');
        assert.equal((await h.api('POST', '/pipelines/999999/cancel')).status, 404);
      });

      it("a job's log is served raw, whole or by Range, for the latest or a given attempt", async () => {
        const p = await project();
        const created = (await (await h.api('POST', `/projects/${p.id}/pipelines`, { ref: 'main' })).json()) as { id: number; jobs: Array<{ id: number }> };
        const jobId = created.jobs[0]!.id;
        // A job of a later stage has no attempt yet: no log.
        const never = await h.api('GET', `/jobs/${created.jobs[1]!.id}/log`);
        assert.equal(never.status, 404);
        const bytes1 = Buffer.from('first attempt\n');
        const bytes2 = Buffer.concat([Buffer.from('hello \x1b[32mworld\x1b[0m\n'), Buffer.from([0, 255, 254, 10])]);
        // An agent runs the job twice (a script failure retried by hand), uploading in two pieces.
        const fleet = h.store.fleet;
        const settings = defaultSchedulerSettings();
        const agent = await fleet.registerAgent({ name: 'a', tags: [], concurrency: 1, version: 't', platform: {} }, 'agent-hash', Date.now());
        await fleet.openSession(agent.id, 's1', agent, Date.now(), settings);
        for (const [i, data] of [bytes1, bytes2].entries()) {
          if (i === 1) await fleet.retryJob(asJobId(jobId), Date.now(), settings);
          // Earlier tests left jobs queued: take until this one comes (the others stay offered).
          let offer: TakenOffer | undefined;
          for (let n = 0; n < 500 && offer?.job.id !== jobId; n++) [offer] = await fleet.takeAttempts(agent, 1, Date.now(), settings, [`t${i}`]);
          assert.equal(offer!.job.id, jobId);
          const id = offer!.attempt.id;
          assert.equal((await fleet.startAttempt(agent.id, id, `t${i}`, 'a', Date.now(), settings)).kind, 'ok');
          await fleet.appendLog(id, `t${i}`, 0, data.subarray(0, 5), 5, Date.now(), Date.now());
          await fleet.appendLog(id, `t${i}`, 5, data.subarray(5), data.length, Date.now(), Date.now());
          const done = await fleet.completeAttempt(id, `t${i}`, { status: 'failed', exitCode: 1, failureReason: 'script_failure', logEnd: data.length }, Date.now(), settings);
          assert.equal(done.kind, 'ok');
        }
        const whole = await h.api('GET', `/jobs/${jobId}/log`);
        assert.equal(whole.status, 200);
        assert.equal(whole.headers.get('content-type'), 'application/octet-stream');
        assert.equal(whole.headers.get('accept-ranges'), 'bytes');
        assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes2);
        assert.deepEqual(Buffer.from(await (await h.api('GET', `/jobs/${jobId}/log?attempt=1`)).arrayBuffer()), bytes1);
        const part = await h.api('GET', `/jobs/${jobId}/log`, undefined, { range: 'bytes=6-10' });
        assert.equal(part.status, 206);
        assert.equal(part.headers.get('content-range'), `bytes 6-10/${bytes2.length}`);
        assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes2.subarray(6, 11));
        const tail = await h.api('GET', `/jobs/${jobId}/log`, undefined, { range: 'bytes=-4' });
        assert.deepEqual(Buffer.from(await tail.arrayBuffer()), Buffer.from([0, 255, 254, 10]));
        const from = await h.api('GET', `/jobs/${jobId}/log`, undefined, { range: `bytes=${bytes2.length - 2}-` });
        assert.deepEqual(Buffer.from(await from.arrayBuffer()), bytes2.subarray(bytes2.length - 2));
        const beyond = await h.api('GET', `/jobs/${jobId}/log`, undefined, { range: `bytes=${bytes2.length}-` });
        assert.equal(beyond.status, 416);
        assert.equal(beyond.headers.get('content-range'), `bytes */${bytes2.length}`);
        assert.equal(((await beyond.json()) as { error: { code: string } }).error.code, 'GANTRY_E_RANGE_NOT_SATISFIABLE');
        assert.equal((await h.api('GET', `/jobs/${jobId}/log?attempt=3`)).status, 404);
        assert.equal((await h.api('GET', `/jobs/${jobId}/log?attempt=1e400`)).status, 400);
        assert.equal((await h.api('GET', '/jobs/999999/log')).status, 404);
      });
    });

    describe('documents and robustness', () => {
      it('the OpenAPI document is JSON and lists every API route', async () => {
        const doc = (await (await fetch(`${h.url}/api/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
        assert.match(doc.openapi, /^3\./);
        const have = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
        assert.deepEqual(have, [
          'DELETE /api/v1/agent/self',
          'DELETE /api/v1/agents/{id}',
          'DELETE /api/v1/projects/{project}/forge',
          'DELETE /api/v1/projects/{project}/fork-authors/{provider}/{author}',
          'DELETE /api/v1/projects/{project}/members/{username}',
          'DELETE /api/v1/projects/{project}/schedules/{id}',
          'DELETE /api/v1/projects/{project}/trigger-tokens/{id}',
          'DELETE /api/v1/projects/{project}/variables/{key}',
          'DELETE /api/v1/session',
          'DELETE /api/v1/users/{username}/tokens/{id}',
          'GET /.well-known/openid-configuration',
          'GET /api/v1/agent/attempts/{id}/artifacts/{jobId}',
          'GET /api/v1/agent/attempts/{id}/caches/{key}',
          'GET /api/v1/agents',
          'GET /api/v1/agents/events',
          'GET /api/v1/audit',
          'GET /api/v1/gc',
          'GET /api/v1/jobs/{id}',
          'GET /api/v1/jobs/{id}/artifacts',
          'GET /api/v1/jobs/{id}/artifacts/{attempt}',
          'GET /api/v1/jobs/{id}/log',
          'GET /api/v1/jobs/{id}/log/search',
          'GET /api/v1/jobs/{id}/log/sections',
          'GET /api/v1/jobs/{id}/log/stream',
          'GET /api/v1/jobs/{id}/log/times',
          'GET /api/v1/jobs/{id}/tests',
          'GET /api/v1/pipelines/{id}',
          'GET /api/v1/pipelines/{id}/events',
          'GET /api/v1/pipelines/{id}/tests',
          'GET /api/v1/pipelines/{id}/timeline',
          'GET /api/v1/pools',
          'GET /api/v1/projects',
          'GET /api/v1/projects/{project}',
          'GET /api/v1/projects/{project}/audit',
          'GET /api/v1/projects/{project}/badges/coverage.svg',
          'GET /api/v1/projects/{project}/badges/pipeline.svg',
          'GET /api/v1/projects/{project}/environments',
          'GET /api/v1/projects/{project}/environments/{name}/deployments',
          'GET /api/v1/projects/{project}/events',
          'GET /api/v1/projects/{project}/forge',
          'GET /api/v1/projects/{project}/fork-authors',
          'GET /api/v1/projects/{project}/insights',
          'GET /api/v1/projects/{project}/members',
          'GET /api/v1/projects/{project}/pipelines',
          'GET /api/v1/projects/{project}/protected-refs',
          'GET /api/v1/projects/{project}/quota',
          'GET /api/v1/projects/{project}/ref-filters',
          'GET /api/v1/projects/{project}/schedules',
          'GET /api/v1/projects/{project}/schedules/{id}',
          'GET /api/v1/projects/{project}/trigger-tokens',
          'GET /api/v1/projects/{project}/usage',
          'GET /api/v1/projects/{project}/variables',
          'GET /api/v1/projects/{project}/webhooks/deliveries',
          'GET /api/v1/queue',
          'GET /api/v1/queue/events',
          'GET /api/v1/session',
          'GET /api/v1/session/methods',
          'GET /api/v1/session/oidc/callback',
          'GET /api/v1/session/oidc/start',
          'GET /api/v1/usage',
          'GET /api/v1/users',
          'GET /api/v1/users/{username}/tokens',
          'GET /oauth/discovery/keys',
          'PATCH /api/v1/agent/attempts/{id}/log',
          'PATCH /api/v1/projects/{project}',
          'PATCH /api/v1/projects/{project}/schedules/{id}',
          'PATCH /api/v1/users/{username}',
          'POST /api/v1/admin/id-token-keys/rotate',
          'POST /api/v1/agent/attempts/{id}/artifacts',
          'POST /api/v1/agent/attempts/{id}/complete',
          'POST /api/v1/agent/attempts/{id}/start',
          'POST /api/v1/agent/attempts/{id}/tests',
          'POST /api/v1/agent/heartbeat',
          'POST /api/v1/agent/isolation-check',
          'POST /api/v1/agent/jobs/request',
          'POST /api/v1/agent/logs',
          'POST /api/v1/agent/register',
          'POST /api/v1/agent/sessions',
          'POST /api/v1/gc',
          'POST /api/v1/jobs/{id}/approve',
          'POST /api/v1/jobs/{id}/cancel',
          'POST /api/v1/jobs/{id}/play',
          'POST /api/v1/jobs/{id}/reject',
          'POST /api/v1/jobs/{id}/retry',
          'POST /api/v1/jobs/{id}/unschedule',
          'POST /api/v1/pipelines/{id}/approve',
          'POST /api/v1/pipelines/{id}/cancel',
          'POST /api/v1/pipelines/{id}/reject',
          'POST /api/v1/pipelines/{id}/retry',
          'POST /api/v1/projects',
          'POST /api/v1/projects/{project}/lint',
          'POST /api/v1/projects/{project}/pipelines',
          'POST /api/v1/projects/{project}/pushes',
          'POST /api/v1/projects/{project}/quota/grants',
          'POST /api/v1/projects/{project}/schedules',
          'POST /api/v1/projects/{project}/trigger',
          'POST /api/v1/projects/{project}/trigger-tokens',
          'POST /api/v1/projects/{project}/webhooks',
          'POST /api/v1/session',
          'POST /api/v1/users',
          'POST /api/v1/users/{username}/tokens',
          'POST /api/v1/webhooks/{provider}/{project}',
          'PUT /api/v1/agent/attempts/{id}/blobs/sha256/{hex}',
          'PUT /api/v1/agent/attempts/{id}/caches/{key}',
          'PUT /api/v1/pools/{pool}',
          'PUT /api/v1/projects/{project}/environments/{name}',
          'PUT /api/v1/projects/{project}/forge',
          'PUT /api/v1/projects/{project}/members/{username}',
          'PUT /api/v1/projects/{project}/protected-refs',
          'PUT /api/v1/projects/{project}/quota',
          'PUT /api/v1/projects/{project}/ref-filters',
          'PUT /api/v1/projects/{project}/variables/{key}',
        ]);
      });

      it('/metrics counts requests by route template, method and status, and pipelines created', async () => {
        const text = async () => (await (await fetch(`${h.url}/metrics`)).text());
        const count = (t: string, labels: string) =>
          Number(new RegExp(`^gantry_http_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(t)?.[1] ?? 0);
        const labels = 'route="/api/v1/pipelines/:id",method="GET",status="404"';
        const before = count(await text(), labels);
        await h.api('GET', '/pipelines/424242');
        await h.api('GET', '/pipelines/424243');
        const t = await text();
        assert.equal(count(t, labels), before + 2);
        assert.match(t, /^gantry_http_request_duration_seconds_bucket\{le="0\.005",route="\/api\/v1\/pipelines\/:id",method="GET",status="404"\} \d+$/m);
        assert.match(t, /^gantry_pipelines_created_total [1-9]\d*$/m);
        assert.match(t, /^process_cpu_user_seconds_total /m);
      });

      it('bad input is answered 400/404/415 as JSON, never with a stack trace, and the server lives on', async () => {
        const cases: Array<[RequestInit & { path: string }, number]> = [
          [{ path: '/projects', method: 'POST', body: '{"name": ', headers: { 'content-type': 'application/json' } }, 400],
          [{ path: '/projects', method: 'POST', body: '', headers: { 'content-type': 'application/json' } }, 400],
          [{ path: '/projects', method: 'POST', body: '[1,2]', headers: { 'content-type': 'application/json' } }, 400],
          [{ path: '/projects', method: 'POST', body: '<name>x</name>', headers: { 'content-type': 'application/xml' } }, 415],
          [{ path: '/projects', method: 'POST', body: 'name=x', headers: { 'content-type': 'text/plain' } }, 400],
          [{ path: '/no/such/route', method: 'GET' }, 404],
          [{ path: '/pipelines/1e400', method: 'GET' }, 400],
          [{ path: '/projects', method: 'POST', body: JSON.stringify({ name: 'big', gitUrl: 'x'.repeat(2 * 1024 * 1024) }), headers: { 'content-type': 'application/json' } }, 413],
        ];
        for (const [{ path: p, ...init }, status] of cases) {
          const res = await fetch(`${h.url}/api/v1${p}`, { ...init, headers: { authorization: `Bearer ${h.admin}`, ...(init.headers as object) } });
          assert.equal(res.status, status, `${init.method} ${p}`);
          const text = await res.text();
          const body = JSON.parse(text) as { error: { code: string; message: string } };
          assert.match(body.error.code, /^GANTRY_E_/);
          assert.doesNotMatch(text, /\bat .*\.js:\d+/);
        }
        // Raw garbage on the socket: the connection is dropped, the server is not.
        await new Promise<void>((resolve) => {
          const s = net.connect(Number(new URL(h.url).port), '127.0.0.1', () => s.end(randomBytes(4096)));
          s.on('close', () => resolve());
          s.on('error', () => resolve());
          s.resume();
        });
        assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
      });
    });
  });
}

apiSuite('sqlite', (home) => openSqliteStore(path.join(home, 'gantry.db')), { sqliteFile: true });

const postgres = await testPostgres('the HTTP API on PostgreSQL', 2);
if (postgres) apiSuite('postgres', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema() }));
