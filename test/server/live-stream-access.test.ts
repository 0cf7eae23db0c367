// A live stream keeps to its caller's access now, not the access it had when it opened: a member
// removed, a user disabled, a session signed out or a token revoked loses every open stream
// (SSE: a job's log, a pipeline's and a project's events, the queue) at once on the instance that
// made the change, and within a period on any other (here: a change made in the store directly,
// as another instance would, met by the periodic check). On SQLite and on PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';
import path from 'node:path';

const PASSWORD = 'a-password-long-enough';
const RECHECK_MS = 400;

/** An open SSE response: `ended` resolves when the server ends it. */
function openStream(url: string, headers: Record<string, string>): Promise<{ status: number; ended: Promise<void>; close: () => void }> {
  const abort = new AbortController();
  return fetch(url, { headers, signal: abort.signal }).then((res) => {
    const reader = res.body!.getReader();
    const ended = (async () => {
      try {
        for (;;) if ((await reader.read()).done) return;
      } catch {
        // aborted by the test, or the connection was cut
      }
    })();
    return { status: res.status, ended, close: () => abort.abort() };
  });
}

async function endsWithin(ms: number, ended: Promise<void>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const r = await Promise.race([ended.then(() => 'ended' as const), late]);
  clearTimeout(timer);
  assert.equal(r, 'ended', `${what} still open after ${ms} ms`);
}

function suite(label: string, open: (home: string) => Promise<Store>): void {
  describe(`live streams and the caller's access now (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let pipelineId: number;
    let jobId: number;
    const streams: { close: () => void }[] = [];

    before(async () => {
      repo = sandbox({ '.gantry.yml': 'build:\n  script: [echo hi]\n' });
      h = await startHarness(open, { deps: { streamRecheckMs: RECHECK_MS } });
      assert.equal((await h.api('POST', '/projects', { name: 'alpha', gitUrl: repo.repo })).status, 201);
      const p = (await (await h.api('POST', '/projects/alpha/pipelines', { ref: 'main' })).json()) as { id: number; jobs: { id: number }[] };
      [pipelineId, jobId] = [p.id, p.jobs[0]!.id];
    });
    after(async () => {
      for (const s of streams) s.close();
      await h.close();
      repo.cleanup();
    });

    async function user(name: string, role: string): Promise<string> {
      assert.equal((await h.api('POST', '/users', { username: name, password: PASSWORD })).status, 201);
      assert.equal((await h.api('PUT', `/projects/alpha/members/${name}`, { role })).status, 200);
      return ((await (await h.api('POST', `/users/${name}/tokens`, { description: 'streams' })).json()) as { token: string }).token;
    }
    async function streamsOf(headers: Record<string, string>) {
      const opened = await Promise.all(
        [`/jobs/${jobId}/log/stream`, `/pipelines/${pipelineId}/events`, '/projects/alpha/events', '/queue/events'].map(async (p) => {
          const s = await openStream(`${h.url}/api/v1${p}`, headers);
          streams.push(s);
          assert.equal(s.status, 200, p);
          return { p, ...s };
        }),
      );
      return opened;
    }

    it('a member removed loses their open streams at once, and their next request is 404', async () => {
      const token = await user('vic', 'viewer');
      const open = await streamsOf({ authorization: `Bearer ${token}` });
      assert.equal((await h.api('DELETE', '/projects/alpha/members/vic')).status, 204);
      // The queue stream narrows to what the caller may see: it too ends, to be reopened narrower.
      for (const s of open) await endsWithin(1_500, s.ended, s.p);
      const again = await fetch(`${h.url}/api/v1/pipelines/${pipelineId}/events`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(again.status, 404);
      await again.body?.cancel();
    });

    it('a signed-in user disabled loses the streams of their session at once; one signed out too', async () => {
      await user('sam', 'developer');
      await user('sue', 'viewer');
      const cookieOf = async (username: string) => {
        const res = await fetch(`${h.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }) });
        assert.equal(res.status, 200);
        const csrf = ((await res.json()) as { csrfToken: string }).csrfToken;
        return { cookie: res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; '), csrf };
      };
      const sam = await cookieOf('sam');
      const samStreams = await streamsOf({ cookie: sam.cookie });
      assert.equal((await h.api('PATCH', '/users/sam', { disabled: true })).status, 200);
      for (const s of samStreams) await endsWithin(1_500, s.ended, `sam's ${s.p}`);

      const sue = await cookieOf('sue');
      const [log] = await streamsOf({ cookie: sue.cookie });
      const out = await fetch(`${h.url}/api/v1/session`, { method: 'DELETE', headers: { cookie: sue.cookie, 'x-csrf-token': sue.csrf } });
      assert.ok(out.status < 300, `sign-out: ${out.status}`);
      await endsWithin(1_500, log!.ended, "sue's log stream after signing out");
    });

    it('a change made elsewhere (another instance, here the store itself) ends the stream at the next periodic check', async () => {
      const token = await user('zoe', 'viewer');
      const [log, events] = await streamsOf({ authorization: `Bearer ${token}` });
      const project = (await h.store.getProject('alpha'))!;
      const zoe = (await h.store.users.getUser('zoe'))!;
      assert.equal(await h.store.users.removeMember(project.id, zoe.id, false), true);
      await endsWithin(RECHECK_MS * 4 + 1_000, log!.ended, "zoe's log stream");
      await endsWithin(RECHECK_MS * 4 + 1_000, events!.ended, "zoe's pipeline events");
    });

    it('a caller who keeps their access keeps their stream', async () => {
      const token = await user('kim', 'viewer');
      const [log] = await streamsOf({ authorization: `Bearer ${token}` });
      // Others' changes: the streams are checked again and stay.
      assert.equal((await h.api('POST', '/users', { username: 'other', password: PASSWORD })).status, 201);
      assert.equal((await h.api('PUT', '/projects/alpha/members/other', { role: 'viewer' })).status, 200);
      const r = await Promise.race([log!.ended.then(() => 'ended'), new Promise((res) => setTimeout(() => res('open'), RECHECK_MS * 3))]);
      assert.equal(r, 'open');
    });
  });
}

suite('sqlite', (home) => openSqliteStore(path.join(home, 'gantry.db')));
const postgres = await testPostgres('live streams on PostgreSQL', 1);
if (postgres) suite('postgres', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema() }));
