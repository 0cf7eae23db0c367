// The live log stream (SSE) of an in-process server (run on SQLite and on PostgreSQL by
// log-stream*.test.ts): bytes as they
// are appended, ids that are offsets, resume by Last-Event-ID or ?from= with no gap and no
// duplicate, the end event, keep-alives, authorization, a slow viewer, and a viewer on a second
// instance fed through LISTEN/NOTIFY.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { asProjectId } from '../../src/domain/ids.js';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.js';
import { hashToken } from '../../src/server/tokens.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from '../server/harness.js';
import { PIPELINE, startAttempt, viewLog } from './log-harness.js';

export function streamSuite(label: string, openStore: () => Promise<(home: string) => Promise<Store>>, opts: { twoInstances?: boolean } = {}): void {
  describe(`live log stream (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let n = 0;
    before(async () => {
      repo = sandbox({ '.gantry.yml': PIPELINE });
      h = await startHarness(await openStore(), { deps: { logKeepAliveMs: 300 } });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });
    async function project(on = h): Promise<string> {
      const name = `p${n++}`;
      assert.equal((await on.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
      return name;
    }

    it('a viewer gets every byte as it is appended, each event id the offset after it, then the end event', async () => {
      const a = await startAttempt(h, await project());
      const v = viewLog(h, a.jobId);
      const pieces = [Buffer.from('hello\n'), Buffer.from([0, 255, 254, 0xc3, 10]), Buffer.from('\r 10%\r 50%\r100%\n'), randomBytes(300_000)];
      let want = Buffer.alloc(0);
      for (const p of pieces) {
        await a.append(p, 1_700_000_000_000);
        want = Buffer.concat([want, p]);
        await v.until(() => v.bytes.length === want.length, `${want.length} bytes`);
        assert.deepEqual(v.bytes, want);
      }
      assert.equal(v.lastId, String(want.length));
      await a.complete('failed');
      await v.until(() => v.closed, 'the stream to close');
      assert.deepEqual(v.end, { attempt: 1, status: 'failed', exitCode: 1, failureReason: 'script_failure' });
      assert.equal(v.events[v.events.length - 1]!.event, 'end');
      const first = JSON.parse(v.events.find((e) => e.event === 'log')!.data) as { offset: number; at: number };
      assert.deepEqual([first.offset, first.at], [0, 1_700_000_000_000]);
      assert.equal(v.status, 200);
    });

    it('a viewer resuming with Last-Event-ID (or ?from=) at any offset gets exactly the bytes after it', async () => {
      const a = await startAttempt(h, await project());
      const all = randomBytes(5_000);
      for (let at = 0; at < all.length; at += 1_000) await a.append(all.subarray(at, at + 1_000));
      // Live attempt: resume mid-chunk, at a chunk boundary, at the end; then the rest comes live.
      for (const from of [0, 1, 999, 1_000, 2_345, 5_000]) {
        const v = viewLog(h, a.jobId, '', { 'last-event-id': String(from) });
        await v.until(() => v.bytes.length === all.length - from, `bytes after ${from}`);
        assert.deepEqual(v.bytes, all.subarray(from));
        v.abort();
      }
      const q = viewLog(h, a.jobId, '?from=4321&attempt=1');
      await q.until(() => q.bytes.length === all.length - 4321, 'bytes after ?from');
      await a.append(Buffer.from('more\n'));
      await q.until(() => q.bytes.toString('latin1').endsWith('more\n'), 'the new bytes');
      await a.complete();
      await q.until(() => q.closed, 'end');
      assert.deepEqual(q.bytes, Buffer.concat([all, Buffer.from('more\n')]).subarray(4321));
      // Finished attempt: the same, and a resume at the very end gets only the end event.
      const full = Buffer.concat([all, Buffer.from('more\n')]);
      for (const from of [0, 17, full.length]) {
        const v = viewLog(h, a.jobId, '', { 'last-event-id': String(from) });
        await v.until(() => v.closed, 'end');
        assert.deepEqual(v.bytes, full.subarray(from));
        assert.equal(v.end!.status, 'success');
      }
      const beyond = await h.api('GET', `/jobs/${a.jobId}/log/stream`, undefined, { 'last-event-id': String(full.length + 1) });
      assert.equal(beyond.status, 416);
      assert.equal(((await beyond.json()) as { error: { code: string } }).error.code, 'GANTRY_E_RANGE_NOT_SATISFIABLE');
      const bad = await h.api('GET', `/jobs/${a.jobId}/log/stream`, undefined, { 'last-event-id': 'abc' });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: { code: string; field: string } }).error.field, 'headers.last-event-id');
    });

    it('a viewer that reconnects after every event (Last-Event-ID) assembles the log with no gap and no duplicate', async () => {
      const a = await startAttempt(h, await project());
      const all = randomBytes(20_000);
      const writer = (async () => {
        for (let at = 0; at < all.length; at += 777) {
          await a.append(all.subarray(at, at + 777));
          await new Promise((r) => setTimeout(r, 2));
        }
        await a.complete();
      })();
      let got = Buffer.alloc(0);
      let last = '0';
      for (let i = 0; i < 500; i++) {
        const v = viewLog(h, a.jobId, '', { 'last-event-id': last });
        await v.until(() => v.events.length > 0 || v.closed, 'one event');
        v.abort();
        await v.done;
        got = Buffer.concat([got, v.bytes]);
        last = v.lastId ?? last;
        if (v.end) break;
      }
      await writer;
      const rest = viewLog(h, a.jobId, '', { 'last-event-id': last });
      await rest.until(() => rest.closed, 'end');
      got = Buffer.concat([got, rest.bytes]);
      assert.deepEqual(got, all);
    });

    it('idle streams carry keep-alive comments; a job that has not run yet is waited for', async () => {
      const a = await startAttempt(h, await project());
      // The later job has no attempt until build ends.
      const v = viewLog(h, a.laterJobId);
      await v.until(() => v.comments.filter((c) => c === 'keep-alive').length >= 2, 'keep-alives');
      assert.equal(v.events.length, 0);
      await a.complete();
      // The later job is now pending with attempt 1: the stream has switched to it; it stays open.
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(v.closed, false);
      v.abort();
    });

    it('the stream checks the token like every route; a token in the URL is refused', async () => {
      const a = await startAttempt(h, await project());
      const url = `${h.url}/api/v1/jobs/${a.jobId}/log/stream`;
      assert.equal((await fetch(url)).status, 401);
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer nope' } })).status, 401);
      assert.equal((await fetch(`${url}?token=${h.admin}`)).status, 401);
      assert.equal((await fetch(`${url}?token=x`, { headers: { authorization: `Bearer ${h.admin}` } })).status, 400);
      // A project token of another project.
      const other = await project();
      const otherId = ((await (await h.api('GET', `/projects/${other}`)).json()) as { id: number }).id;
      const token = randomBytes(32).toString('hex');
      await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: asProjectId(otherId), createdAt: Date.now() });
      // The job does not exist for it: the same 404 as a job that does not exist.
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 404);
      assert.deepEqual(await r.json(), { error: { code: 'GANTRY_E_NOT_FOUND', message: `no job ${a.jobId}` } });
      assert.equal((await h.api('GET', '/jobs/99999999/log/stream')).status, 404);
    });

    it('a viewer that stops reading is dropped from the live feed, and catches up from the store byte for byte when it reads again', async () => {
      const a = await startAttempt(h, await project());
      const port = Number(new URL(h.url).port);
      const sock = net.connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write(`GET /api/v1/jobs/${a.jobId}/log/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${h.admin}\r\n\r\n`);
      const chunks: Buffer[] = [];
      sock.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((r) => setTimeout(r, 200));
      sock.pause();
      // 16 MB while the viewer reads nothing: more than its socket buffers hold.
      const all: Buffer[] = [];
      for (let i = 0; i < 16; i++) {
        const b = randomBytes(1 << 20);
        all.push(b);
        await a.append(b);
      }
      await a.complete();
      sock.resume();
      await new Promise<void>((resolve) => sock.on('end', () => resolve()));
      const text = Buffer.concat(chunks).toString('latin1');
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      // Chunked transfer encoding: undo it, then read the events.
      let events = '';
      for (let at = 0; ; ) {
        const nl = body.indexOf('\r\n', at);
        const len = parseInt(body.slice(at, nl), 16);
        if (!len) break;
        events += body.slice(nl + 2, nl + 2 + len);
        at = nl + 2 + len + 2;
      }
      const got = [...events.matchAll(/^data: (\{"offset".*)$/gm)].map((m) => Buffer.from((JSON.parse(m[1]!) as { b64: string }).b64, 'base64'));
      assert.ok(Buffer.concat(got).equals(Buffer.concat(all)), 'the bytes, in order, once');
      assert.match(events, /event: end\n/);
    });

    if (opts.twoInstances) {
      it('a viewer on instance B sees what is uploaded to instance A live (LISTEN/NOTIFY), with no safety tick', async () => {
        // B re-reads without an event only every 10 minutes: only a NOTIFY can bring the bytes.
        const b = await startHarness(await openStore(), { deps: { logSafetyTickMs: 600_000 }, home: h.home, tokens: { admin: h.admin, agent: h.agent } });
        try {
          const a = await startAttempt(h, await project());
          const v = viewLog(b, a.jobId);
          await new Promise((r) => setTimeout(r, 200));
          let want = Buffer.alloc(0);
          for (let i = 0; i < 5; i++) {
            const piece = Buffer.from(`line ${i} from A\n`);
            await a.append(piece);
            want = Buffer.concat([want, piece]);
            await v.until(() => v.bytes.length === want.length, `line ${i} on B`, 5_000);
          }
          assert.deepEqual(v.bytes, want);
          await a.complete();
          await v.until(() => v.closed, 'the end on B', 5_000);
          assert.equal(v.end!.status, 'success');
        } finally {
          await b.close();
        }
      });
    }
  });
}

