// The agent protocol's log uploads over HTTP (PROTOCOL.md §9): one attempt's PATCH by Content-Range
// and the batched POST /agent/logs, each part of which is answered as that PATCH would be.
// In-process server, SQLite and PostgreSQL (required under CI=true).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LOG_PARTS_TYPE } from '../../src/domain/version.js';
import { defaultSchedulerSettings } from '../../src/server/app.js';
import { hashToken } from '../../src/server/tokens.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';

const PIPELINE = 'one:\n  script: [echo one]\ntwo:\n  script: [echo two]\n';

interface Part {
  attempt: number;
  token: string;
  start: number;
  bytes?: Buffer;
  /** A dropped range of this many bytes (no bytes sent). */
  dropped?: number;
}

function batchBody(parts: Part[]): Buffer {
  const index = Buffer.from(
    JSON.stringify({
      parts: parts.map((p) => ({
        attempt: p.attempt,
        token: p.token,
        start: p.start,
        length: p.dropped ?? p.bytes!.length,
        producedAt: 1,
        ...(p.dropped ? { dropped: true } : {}),
      })),
    }),
  );
  const head = Buffer.alloc(4);
  head.writeUInt32BE(index.length);
  return Buffer.concat([head, index, ...parts.flatMap((p) => (p.bytes ? [p.bytes] : []))]);
}

function uploadSuite(label: string, openStore: (home: string) => Promise<Store>): void {
  describe(`log uploads over HTTP (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    const agentToken = `gantry_agentkey_test_${Math.random()}`;
    /** Two started attempts of one pipeline, with their tokens. */
    let attempts: { id: number; token: string }[];

    before(async () => {
      h = await startHarness(openStore);
      repo = sandbox({ '.gantry.yml': PIPELINE });
      assert.equal((await h.api('POST', '/projects', { name: 'up', gitUrl: repo.repo })).status, 201);
      assert.equal((await h.api('POST', '/projects/up/pipelines', { ref: 'main' })).status, 201);
      const fleet = h.store.fleet;
      const settings = defaultSchedulerSettings();
      const agent = await fleet.registerAgent({ name: 'up', tags: [], concurrency: 2, version: 't', platform: {} }, hashToken(agentToken), Date.now());
      await fleet.openSession(agent.id, 's', agent, Date.now(), settings);
      const tokens = ['tok-a', 'tok-b'];
      const offers = await fleet.takeAttempts(agent, 2, Date.now(), settings, tokens.map(hashToken));
      assert.equal(offers.length, 2);
      attempts = offers.map((o, i) => ({ id: o.attempt.id, token: tokens[i]! }));
      for (const a of attempts) assert.equal((await fleet.startAttempt(agent.id, a.id as never, hashToken(a.token), 'up', Date.now(), settings)).kind, 'ok');
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const agentFetch = (method: string, p: string, body: Buffer, headers: Record<string, string>) =>
      fetch(`${h.url}/api/v1${p}`, { method, headers: { authorization: `Bearer ${agentToken}`, ...headers }, body: new Uint8Array(body) });
    const stored = async (id: number) => {
      const r = await h.store.fleet.readLogPieces(id as never, 0, 1 << 30);
      return r!.kind === 'chunks' ? Buffer.concat(r!.pieces.map((p) => p.data ?? Buffer.alloc(0))).toString() : '';
    };

    it("one attempt's PATCH: stored, a resend, an overlap, a 1-byte range, a gap (416 with the offset), a stale token", async () => {
      const a = attempts[0]!;
      const patch = (token: string, start: number, data: string) =>
        agentFetch('PATCH', `/agent/attempts/${a.id}/log`, Buffer.from(data), {
          'content-type': 'application/octet-stream',
          'content-range': `bytes ${start}-${start + data.length - 1}/*`,
          'gantry-attempt-token': token,
        });
      const json = async (r: Response) => [r.status, await r.json()] as const;
      assert.deepEqual(await json(await patch(a.token, 0, 'h')), [200, { received: 1, cancel: false }]);
      assert.deepEqual(await json(await patch(a.token, 0, 'hello ')), [200, { received: 6, cancel: false }]);
      assert.deepEqual(await json(await patch(a.token, 0, 'hello ')), [200, { received: 6, cancel: false }]);
      const gap = await patch(a.token, 9, 'x');
      assert.equal(gap.status, 416);
      assert.equal(gap.headers.get('gantry-log-received'), '6');
      assert.equal(((await gap.json()) as { error: { code: string; received: number } }).error.received, 6);
      assert.equal((await patch('stale', 6, 'x')).status, 409);
      assert.deepEqual(await json(await patch(a.token, 4, 'o world')), [200, { received: 11, cancel: false }]);
      assert.equal(await stored(a.id), 'hello world');
    });

    it('a batched upload answers each part in its place as its PATCH would: stored, resent, a gap, a stale token, too large, a dropped range', async () => {
      const [a, b] = attempts as [{ id: number; token: string }, { id: number; token: string }];
      const post = (parts: Part[]) => agentFetch('POST', '/agent/logs', batchBody(parts), { 'content-type': LOG_PARTS_TYPE });
      const r = await post([
        { attempt: b.id, token: b.token, start: 0, bytes: Buffer.from('bee ') },
        { attempt: a.id, token: a.token, start: 0, bytes: Buffer.from('hello world') },
        { attempt: a.id, token: a.token, start: 11, bytes: Buffer.from('!\n') },
        { attempt: b.id, token: 'stale', start: 4, bytes: Buffer.from('x') },
        { attempt: b.id, token: b.token, start: 9, bytes: Buffer.from('late') },
        { attempt: b.id, token: b.token, start: 4, bytes: Buffer.alloc((1 << 20) + 1, 'y') },
        { attempt: b.id, token: b.token, start: 4, dropped: 100 },
        { attempt: b.id, token: b.token, start: 104, bytes: Buffer.from([0, 255, 10]) },
      ]);
      assert.equal(r.status, 200);
      const parts = ((await r.json()) as { parts: Array<{ received?: number; error?: { code: string; received?: number } }> }).parts;
      assert.deepEqual(
        parts.map((p) => (p.error ? `${p.error.code}${p.error.received !== undefined ? ` ${p.error.received}` : ''}` : `ok ${p.received}`)),
        ['ok 4', 'ok 11', 'ok 13', 'GANTRY_E_ATTEMPT_FENCED', 'GANTRY_E_LOG_GAP 4', 'GANTRY_E_TOO_LARGE', 'ok 104', 'ok 107'],
      );
      assert.equal(await stored(a.id), 'hello world!\n');
      const pieces = await h.store.fleet.readLogPieces(b.id as never, 0, 1 << 30);
      assert.deepEqual(
        pieces!.kind === 'chunks' ? pieces!.pieces.map((p) => [p.offset, p.end, p.data === null ? null : p.data.toString('latin1')]) : null,
        [[0, 4, 'bee '], [4, 104, null], [104, 107, '\u0000\u00ff\n']],
      );
    });

    it('a malformed batched upload is refused whole and stores nothing', async () => {
      const a = attempts[0]!;
      const before = await stored(a.id);
      const good = batchBody([{ attempt: a.id, token: a.token, start: 13, bytes: Buffer.from('more') }]);
      for (const body of [Buffer.from([0, 0]), Buffer.concat([good, Buffer.from('extra')]), good.subarray(0, good.length - 1), Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{]')])]) {
        const r = await agentFetch('POST', '/agent/logs', body, { 'content-type': LOG_PARTS_TYPE });
        assert.equal(r.status, 400);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'GANTRY_E_INVALID_REQUEST');
      }
      const noAgent = await fetch(`${h.url}/api/v1/agent/logs`, { method: 'POST', headers: { authorization: `Bearer ${h.admin}`, 'content-type': LOG_PARTS_TYPE }, body: new Uint8Array(good) });
      assert.equal(noAgent.status, 403, 'an API token is not an agent');
      assert.equal(await stored(a.id), before);
    });
  });
}

uploadSuite('SQLite', (home) => openSqliteStore(`${home}/gantry.db`));
const postgres = await testPostgres('log uploads over HTTP on PostgreSQL', 2);
if (postgres) uploadSuite('PostgreSQL', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema() }));
