// The agent's upload loop of one attempt's log (PROTOCOL.md §9), against a fake server: what it
// sends and how it waits.

import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AttemptLog, LogBatches, uploadAlone } from '../../src/agent/remote/attempt-log.js';
import type { ProtocolAnswer, ProtocolClient, RequestOptions } from '../../src/agent/remote/protocol-client.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-attempt-log-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A server that stores what it is sent, in order, and answers each upload after `delayMs`. */
function fakeServer(delayMs: number) {
  const stored: Buffer[] = [];
  let received = 0;
  let requests = 0;
  const client = {
    async request(_method: string, _path: string, opts: RequestOptions = {}): Promise<ProtocolAnswer> {
      requests++;
      await new Promise((r) => setTimeout(r, delayMs));
      const [, start, last] = /^bytes (\d+)-(\d+)\/\*$/.exec(opts.headers!['content-range']!)!.map(Number);
      if (start! > received) return { status: 416, headers: new Headers({ 'gantry-log-received': String(received) }), body: { error: { received } }, code: 'GANTRY_E_LOG_GAP' };
      if (last! + 1 > received) {
        stored.push(opts.bytes!.subarray(received - start!));
        received = last! + 1;
      }
      return { status: 200, headers: new Headers(), body: { received, cancel: false }, code: null };
    },
  } as unknown as ProtocolClient;
  return { client, stored, requests: () => requests };
}

describe('an attempt log', () => {
  it('uploads everything in order, batches what is printed while an upload is in flight, and leaves no listener behind on the long-lived signal', async () => {
    const server = fakeServer(2);
    const stop = new AbortController();
    const log = new AttemptLog(path.join(dir, 'a.log'), 1, 'tok', 1 << 20);
    uploadAlone(log, server.client, 1_000, stop.signal);
    const want: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const line = Buffer.from(`line ${i}\n`);
      want.push(line);
      log.append(line);
      // The uploader goes idle and waits again many times.
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    assert.deepEqual(await log.finish(), { kind: 'delivered' });
    assert.equal(Buffer.concat(server.stored).toString(), Buffer.concat(want).toString());
    assert.ok(server.requests() < 300, `lines printed during an upload go in the next one (${server.requests()} uploads for 300 lines)`);
    // Each wait used to add an abort listener to the agent's signal and never remove it.
    assert.ok(getEventListeners(stop.signal, 'abort').length <= 1, `${getEventListeners(stop.signal, 'abort').length} abort listeners left`);
    log.dispose();
  });
});

/** A server taking batched uploads: stores each part as a PATCH would, answers per part. */
function fakeBatchServer(opts: { fenced?: number; notStartedOnce?: number } = {}) {
  const stored = new Map<number, Buffer[]>();
  const received = new Map<number, number>();
  const requests: { parts: number; bytes: number }[] = [];
  const notStarted = new Set(opts.notStartedOnce !== undefined ? [opts.notStartedOnce] : []);
  const client = {
    async request(method: string, p: string, o: RequestOptions = {}): Promise<ProtocolAnswer> {
      assert.equal(`${method} ${p}`, 'POST /agent/logs');
      await new Promise((r) => setTimeout(r, 2));
      const body = o.bytes!;
      const n = body.readUInt32BE(0);
      const index = JSON.parse(body.subarray(4, 4 + n).toString()) as { parts: { attempt: number; start: number; length: number; dropped?: boolean }[] };
      requests.push({ parts: index.parts.length, bytes: body.length - 4 - n });
      let at = 4 + n;
      const parts = index.parts.map((part) => {
        const bytes = part.dropped ? null : body.subarray(at, (at += part.length));
        if (part.attempt === opts.fenced) return { error: { code: 'GANTRY_E_ATTEMPT_FENCED', message: 'the attempt is canceled' } };
        if (notStarted.delete(part.attempt)) return { error: { code: 'GANTRY_E_ATTEMPT_NOT_STARTED', message: 'start first' } };
        const r = received.get(part.attempt) ?? 0;
        if (part.start > r) return { error: { code: 'GANTRY_E_LOG_GAP', message: 'gap', received: r } };
        const end = part.start + part.length;
        if (end > r) {
          stored.set(part.attempt, [...(stored.get(part.attempt) ?? []), bytes!.subarray(r - part.start)]);
          received.set(part.attempt, end);
        }
        return { received: Math.max(r, end), cancel: false };
      });
      return { status: 200, headers: new Headers(), body: { parts }, code: null };
    },
  } as unknown as ProtocolClient;
  return { client, stored, requests };
}

describe("an agent's batched log uploads", () => {
  it('carry every log in order, a part of each per request and more of a fast one, within the batch limit', async () => {
    const server = fakeBatchServer();
    const stop = new AbortController();
    const batches = new LogBatches(server.client, 64 * 1024, 1_000, stop.signal);
    const logs = [1, 2, 3].map((id) => new AttemptLog(path.join(dir, `b${id}.log`), id, `tok${id}`, 16 * 1024));
    for (const l of logs) batches.add(l);
    const want = new Map<number, Buffer[]>();
    for (let i = 0; i < 200; i++) {
      for (const l of logs) {
        // Attempt 1 prints a lot: its backlog goes up in several parts a request.
        const line = Buffer.from(`${l.attemptId}: line ${i} ${'x'.repeat(l.attemptId === 1 ? 2_000 : 10)}\n`);
        want.set(l.attemptId, [...(want.get(l.attemptId) ?? []), line]);
        l.append(line);
      }
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    assert.deepEqual(await Promise.all(logs.map((l) => l.finish())), [{ kind: 'delivered' }, { kind: 'delivered' }, { kind: 'delivered' }]);
    for (const l of logs) assert.equal(Buffer.concat(server.stored.get(l.attemptId)!).toString(), Buffer.concat(want.get(l.attemptId)!).toString());
    assert.ok(server.requests.every((r) => r.bytes <= 64 * 1024 + 16 * 1024), 'a request stays near the batch limit');
    assert.ok(server.requests.some((r) => r.parts > 3), 'a fast log sends several parts in one request');
    assert.ok(server.requests.length < 200, `${server.requests.length} requests for 600 lines`);
    for (const l of logs) {
      batches.remove(l);
      l.dispose();
    }
    stop.abort();
  });

  it('a fenced attempt stops being carried while the others go on; one not started yet is held back and sent again', async () => {
    const server = fakeBatchServer({ fenced: 2, notStartedOnce: 3 });
    const stop = new AbortController();
    const batches = new LogBatches(server.client, 1 << 20, 1_000, stop.signal);
    const logs = [1, 2, 3].map((id) => new AttemptLog(path.join(dir, `f${id}.log`), id, `tok${id}`, 1 << 20));
    for (const l of logs) {
      batches.add(l);
      l.append(Buffer.from(`output of ${l.attemptId}\n`));
    }
    const ends = await Promise.all(logs.map((l) => l.finish()));
    assert.deepEqual(ends[0], { kind: 'delivered' });
    assert.equal(ends[1]!.kind, 'fenced');
    assert.deepEqual(ends[2], { kind: 'delivered' });
    assert.equal(Buffer.concat(server.stored.get(3)!).toString(), 'output of 3\n');
    for (const l of logs) l.dispose();
    stop.abort();
  });

  it('stopping the agent ends every log as stopped', async () => {
    const server = fakeBatchServer();
    const stop = new AbortController();
    const batches = new LogBatches(server.client, 1 << 20, 1_000, stop.signal);
    const log = new AttemptLog(path.join(dir, 's1.log'), 1, 'tok', 1 << 20);
    batches.add(log);
    stop.abort();
    log.append(Buffer.from('late\n'));
    assert.deepEqual(await log.finish(), { kind: 'stopped' });
    log.dispose();
  });
});
