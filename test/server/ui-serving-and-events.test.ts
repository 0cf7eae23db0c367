// What the server adds for the web UI, in-process over loopback on a real SQLite store and a real
// git repository: the app at / and its client routes (API routes untouched), GET /jobs/:id with
// attempts, and the live status streams (SSE) that show a pipeline's moves without a reload.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';

const PIPELINE = `stages: [build, test]
build:
  stage: build
  script: [echo build]
test:
  stage: test
  needs: [build]
  script: [echo test]
`;

/** Reads SSE events from a fetch body until `enough` says so; the stream is then dropped. */
async function readEvents(res: Response, enough: (events: { event: string; data: unknown }[]) => boolean, timeoutMs = 10_000) {
  const events: { event: string; data: unknown }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const timer = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    while (!enough(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return events;
}

describe('the server side of the web UI', () => {
  let h: Harness;
  let repo: Sandbox;
  let uiDir: string;
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    repo = sandbox({ '.gantry.yml': PIPELINE });
    assert.equal((await h.api('POST', '/projects', { name: 'web', gitUrl: repo.repo })).status, 201);
    uiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-ui-'));
  });
  after(async () => {
    await h.close();
    repo.cleanup();
    fs.rmSync(uiDir, { recursive: true, force: true });
  });

  it('serves the app at / and at every client route, with its hashed assets, and leaves the API alone', async () => {
    for (const p of ['/', '/login', '/agents', '/account/tokens', '/admin/audit', '/projects/web', '/projects/web/settings/members', '/pipelines/12', '/jobs/34']) {
      const res = await fetch(`${h.url}${p}`);
      assert.equal(res.status, 200, p);
      assert.match(res.headers.get('content-type')!, /^text\/html/);
      assert.match(res.headers.get('content-security-policy')!, /default-src 'self'/);
      const html = await res.text();
      assert.match(html, /<div id="app">/);
      const js = /src="(\/assets\/app-[^"]+\.js)"/.exec(html)![1]!;
      const asset = await fetch(`${h.url}${js}`);
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get('content-type')!, /^text\/javascript/);
      assert.match(asset.headers.get('cache-control')!, /immutable/);
    }
    for (const p of ['/assets/nope.js', '/nowhere', '/api/v1/nowhere']) {
      const res = await fetch(`${h.url}${p}`);
      assert.equal(res.status, 404, p);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GANTRY_E_NOT_FOUND');
    }
    assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${h.url}/api/v1/projects`)).status, 401);
  });

  it('gives a job with its pipeline, project and attempts; bad ids are 400, unknown 404', async () => {
    const p = (await (await h.api('POST', '/projects/web/pipelines', { ref: 'main', variables: { FOO: 'bar' } })).json()) as {
      id: number;
      projectId: number;
      variables: Record<string, string>;
      jobs: { id: number; name: string; needs: string[] | null }[];
    };
    assert.deepEqual(p.variables, { FOO: 'bar' });
    assert.deepEqual(
      p.jobs.map((j) => [j.name, j.needs]),
      [
        ['build', null],
        ['test', ['build']],
      ],
    );
    const res = await h.api('GET', `/jobs/${p.jobs[0]!.id}`);
    assert.equal(res.status, 200);
    const job = (await res.json()) as { name: string; pipelineId: number; projectId: number; attemptList: { number: number; status: string; logBytes: number }[] };
    assert.equal(job.name, 'build');
    assert.equal(job.pipelineId, p.id);
    assert.equal(job.projectId, p.projectId);
    // Scheduled at once: the first job has its first attempt, waiting for an agent.
    assert.deepEqual(
      job.attemptList.map((a) => [a.number, a.status, a.logBytes]),
      [[1, 'pending', 0]],
    );
    const bad = await h.api('GET', '/jobs/abc');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'GANTRY_E_INVALID_REQUEST');
    assert.equal((await h.api('GET', '/jobs/999999')).status, 404);
  });

  it("streams a pipeline's state at once and again when it moves (here: canceled)", async () => {
    const p = (await (await h.api('POST', '/projects/web/pipelines', { ref: 'main' })).json()) as { id: number };
    const res = await h.api('GET', `/pipelines/${p.id}/events`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const reading = readEvents(res, (ev) => ev.some((e) => (e.data as { status: string }).status === 'canceled'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await h.api('POST', `/pipelines/${p.id}/cancel`)).status, 200);
    const events = await reading;
    assert.equal(events[0]!.event, 'pipeline');
    assert.notEqual((events[0]!.data as { status: string }).status, 'canceled');
    assert.equal((events.at(-1)!.data as { status: string; jobs: { status: string }[] }).jobs[0]!.status, 'canceled');
  });

  it("streams a project's new pipelines after `ready`", async () => {
    const res = await h.api('GET', '/projects/web/events');
    assert.equal(res.status, 200);
    let created = 0;
    const reading = readEvents(res, (ev) => ev.some((e) => e.event === 'pipeline' && (e.data as { id: number }).id === created));
    await new Promise((r) => setTimeout(r, 200));
    created = ((await (await h.api('POST', '/projects/web/pipelines', { ref: 'main' })).json()) as { id: number }).id;
    const events = await reading;
    assert.equal(events[0]!.event, 'ready');
    const mine = events.find((e) => e.event === 'pipeline' && (e.data as { id: number }).id === created)!;
    assert.equal((mine.data as { ref: string }).ref, 'main');
  });

  it('streams the queue at once and again when a job leaves it (here: its pipeline canceled)', async () => {
    const p = (await (await h.api('POST', '/projects/web/pipelines', { ref: 'main' })).json()) as { id: number };
    const res = await h.api('GET', '/queue/events?project=web');
    assert.equal(res.status, 200);
    type Queue = { items: { pipelineId: number; jobName: string; reason: { code: string } }[] };
    const mine = (e: { data: unknown }) => (e.data as Queue).items.filter((x) => x.pipelineId === p.id);
    const reading = readEvents(res, (ev) => ev.length > 1 && mine(ev.at(-1)!).length === 0);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    assert.equal((await h.api('POST', `/pipelines/${p.id}/cancel`)).status, 200);
    const events = await reading;
    // Woken by the cancel itself, not by the 2 s re-read.
    assert.ok(Date.now() - t0 < 1_500, `${Date.now() - t0} ms`);
    assert.ok(events.every((e) => e.event === 'queue'));
    assert.deepEqual(mine(events[0]!).map((x) => [x.jobName, x.reason.code]), [['build', 'no_agent']]);
  });

  it('streams the agents at once and again when one appears (announced nowhere: the 2 s re-read finds it)', async () => {
    const res = await h.api('GET', '/agents/events');
    assert.equal(res.status, 200);
    type Agents = { items: { name: string; status: string }[] };
    const reading = readEvents(res, (ev) => ev.some((e) => (e.data as Agents).items.some((a) => a.name === 'streamed')));
    await new Promise((r) => setTimeout(r, 200));
    await h.store.fleet.registerAgent({ name: 'streamed', tags: [], concurrency: 1, version: 't', platform: {} }, 'streamed-hash', Date.now());
    const events = await reading;
    assert.equal(events[0]!.event, 'agents');
    assert.ok(!(events[0]!.data as Agents).items.some((a) => a.name === 'streamed'));
    assert.equal((events.at(-1)!.data as Agents).items.find((a) => a.name === 'streamed')!.status, 'offline');
  });

  it('refuses event streams for unknown or malformed pipelines and projects, and without a token', async () => {
    const cases: [string, number, string][] = [
      ['/pipelines/0/events', 400, 'GANTRY_E_INVALID_REQUEST'],
      ['/pipelines/999999/events', 404, 'GANTRY_E_NOT_FOUND'],
      ['/projects/nope/events', 404, 'GANTRY_E_NOT_FOUND'],
      ['/queue/events?project=nope', 404, 'GANTRY_E_NOT_FOUND'],
      ['/queue/events?limit=0', 400, 'GANTRY_E_INVALID_REQUEST'],
    ];
    for (const [p, status, code] of cases) {
      const res = await h.api('GET', p);
      assert.equal(res.status, status, p);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
    }
    assert.equal((await fetch(`${h.url}/api/v1/projects/web/events`)).status, 401);
    assert.equal((await fetch(`${h.url}/api/v1/agents/events`)).status, 401);
    assert.equal((await fetch(`${h.url}/api/v1/queue/events`)).status, 401);
  });
});
