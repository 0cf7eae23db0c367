// The agent's spool under a size limit (PROTOCOL.md §9, "The agent's spool"): the file keeps the
// head and a ring of the last tailBytes, the produced-at times only what a part may still ask
// for, and what reaches the server is the head, one dropped range and the tail, byte for byte,
// whatever the cuts, the wraps and the outages.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AttemptLog, LogBatches, uploadAlone } from '../../src/agent/remote/attempt-log.js';
import type { ProtocolAnswer, ProtocolClient, RequestOptions } from '../../src/agent/remote/protocol-client.js';
import { ProducedTimes, SpoolFile, type SizeLimit } from '../../src/agent/remote/spool.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-spool-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Bytes that differ at every offset nearby, so a byte read from the wrong place shows. */
function stream(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8) * 13) & 0xff;
  return b;
}

/** Chunk sizes: all `size`, or, for 0, a pattern of small and large ones. */
function cuts(total: number, size: number): number[] {
  const pattern = [1, 9, 2, 23, 3, 17, 40, 5];
  const out: number[] = [];
  for (let at = 0, k = 0; at < total; k++) {
    const n = Math.min(total - at, size || pattern[k % pattern.length]!);
    out.push(n);
    at += n;
  }
  return out;
}

describe("the agent's spool file", () => {
  const limits: (SizeLimit | null)[] = [{ headBytes: 10, tailBytes: 7 }, { headBytes: 10, tailBytes: 0 }, { headBytes: 0, tailBytes: 5 }, null];
  for (const limit of limits) {
    it(`${JSON.stringify(limit)}: appends cut at every size, straddling the head and the ring's wrap, read back exactly, and the file never holds more than head + tail`, () => {
      const all = stream(240);
      for (let size = 0; size <= 30; size++) {
        const file = path.join(dir, `ring-${size}.spool`);
        const spool = new SpoolFile(file, limit);
        let end = 0;
        for (const n of cuts(all.length, size)) {
          spool.append(all.subarray(end, end + n));
          end += n;
          assert.equal(spool.size, end);
          if (limit) assert.ok(fs.statSync(file).size <= limit.headBytes + limit.tailBytes, `file ${fs.statSync(file).size} bytes at ${end}`);
          const head = Math.min(end, limit?.headBytes ?? Infinity);
          const keptFrom = limit ? Math.max(limit.headBytes, end - limit.tailBytes) : 0;
          if (limit) assert.equal(spool.keptFrom, keptFrom);
          // Every range of readable bytes near the head and the end: in the head, in the ring
          // (across its wrap), and across the head boundary while nothing past it is lost yet.
          const readable = (o: number) => o < head || (o >= keptFrom && o < end);
          const offsets = [...new Set([...Array(Math.min(head, 12)).keys(), ...Array.from({ length: 12 }, (_, k) => end - 1 - k)])].filter((o) => o >= 0 && readable(o));
          for (const s of offsets) {
            for (let t = s + 1; t <= Math.min(end, s + 30) && readable(t - 1); t++) assert.ok(spool.read(s, t).equals(all.subarray(s, t)), `bytes ${s}-${t} after ${end}, cut ${size}`);
          }
          if (limit && keptFrom > limit.headBytes) assert.throws(() => spool.read(keptFrom - 1, end), /spool: bytes/);
        }
        spool.remove();
        assert.equal(fs.existsSync(file), false);
      }
    });
  }
});

describe('the produced-at times of a spool', () => {
  it('answer every offset a part may still start at as if every mark were kept, with parts handed out and answered at any time', () => {
    for (const limit of [{ headBytes: 100, tailBytes: 60 }, { headBytes: 100, tailBytes: 0 }, { headBytes: 0, tailBytes: 50 }, null]) {
      const times = new ProducedTimes(limit);
      const every: [number, number][] = [];
      const truth = (q: number) => {
        let lo = 0;
        for (let hi = every.length; lo < hi; ) {
          const mid = (lo + hi) >> 1;
          if (every[mid]![0] <= q) lo = mid + 1;
          else hi = mid;
        }
        return every[lo - 1]![1];
      };
      const head = limit?.headBytes ?? Infinity;
      let end = 0;
      let acked = 0;
      let now = 1_000;
      let inFlight: number[] = [];
      const check = (q: number, what: string) => assert.equal(times.at(q), truth(q), `${what} ${q} (acked ${acked}, end ${end}, ${JSON.stringify(limit)})`);
      for (let i = 0; i < 3_000; i++) {
        // Some marks share a millisecond.
        if (i % 3 !== 0) now += 1 + (i % 5);
        every.push([end, now]);
        times.mark(end, now);
        end += 1 + ((i * 37) % 23);
        times.prune(acked, end);
        // A carrier: a request of up to two parts, as AttemptLog.partAt cuts them, now and
        // then; it is answered after a while (long outages in between), stored or refused.
        if (inFlight.length === 0 && i % 11 === 0 && acked < end) {
          let start = acked;
          for (let k = 0; k < 2 && start < end; k++) {
            check(start, 'a part starting at');
            const dropTo = limit && start >= head ? end - limit.tailBytes : 0;
            const stop = dropTo > start ? dropTo : Math.min(end, start < head ? head : Infinity, start + 40);
            times.pin(stop);
            inFlight.push(stop);
            start = stop;
          }
        } else if (inFlight.length > 0 && i % 400 > 250 && i % 5 === 0) {
          const stored = i % 3 !== 0;
          for (const stop of inFlight) {
            if (stored) acked = Math.max(acked, stop);
            times.prune(acked, end);
            times.unpin(stop);
          }
          inFlight = [];
        }
        const tailFrom = limit ? Math.max(acked, end - limit.tailBytes) : acked;
        for (const q of [acked, head, ...inFlight, ...Array.from({ length: 20 }, (_, k) => acked + k), ...Array.from({ length: 20 }, (_, k) => tailFrom + k)]) {
          if (q < end && q >= acked && (q <= head || q >= tailFrom || q === acked || inFlight.includes(q))) check(q, 'offset');
        }
      }
    }
  });

  it('stay bounded by the limit while nothing is acknowledged, however much is printed', () => {
    const times = new ProducedTimes({ headBytes: 1_000, tailBytes: 5_000 });
    for (let i = 0; i < 200_000; i++) {
      times.mark(i * 100, 1_000 + i);
      times.prune(0, (i + 1) * 100);
    }
    // About 10 marks for the head and 50 for the tail; pruning in bulk at most doubles that.
    assert.ok(times.count <= 2 * 62 + 64, `${times.count} marks held`);
    assert.equal(times.at(0), 1_000);
    assert.equal(times.at(999), 1_009);
    assert.equal(times.at(200_000 * 100 - 5_000), 1_000 + 200_000 - 50);
  });
});

/**
 * A server that applies the size limit as the store does (PROTOCOL.md §9): chunks in order, and
 * every chunk wholly between the head and the last tailBytes replaced by one hole. It can be down
 * (503) and slow; it takes PATCHes and batched uploads. It also checks every byte it is sent
 * against what the job printed at that offset.
 */
function limitServer(limit: SizeLimit, printed: () => Buffer) {
  let chunks: { start: number; end: number; data: Buffer | null }[] = [];
  let received = 0;
  const state = { down: false, delayMs: 1, wrongBytes: 0, bytesSent: 0, producedAt: [] as [number, number][] };
  const store = (start: number, length: number, bytes: Buffer | null, producedAt: number): { received: number } | { gap: number } => {
    state.producedAt.push([start, producedAt]);
    if (start > received) return { gap: received };
    const end = start + length;
    if (bytes) {
      state.bytesSent += bytes.length;
      if (!bytes.equals(printed().subarray(start, end))) state.wrongBytes++;
    }
    if (end > received) {
      chunks.push({ start: received, end, data: bytes ? bytes.subarray(received - start) : null });
      received = end;
    }
    if (received > limit.headBytes + limit.tailBytes) {
      const middle = (c: { start: number; end: number }) => c.start >= limit.headBytes && c.end <= received - limit.tailBytes;
      const dropped = chunks.filter(middle);
      if (dropped.length > 1 || (dropped.length === 1 && dropped[0]!.data)) {
        const hole = { start: dropped[0]!.start, end: dropped.at(-1)!.end, data: null };
        chunks = [...chunks.filter((c) => c.end <= hole.start), hole, ...chunks.filter((c) => c.start >= hole.end)];
      }
    }
    return { received };
  };
  const client = {
    async request(method: string, p: string, o: RequestOptions = {}): Promise<ProtocolAnswer> {
      await new Promise((r) => setTimeout(r, state.delayMs));
      if (state.down) return { status: 503, headers: new Headers(), body: null, code: null };
      if (method === 'PATCH') {
        const [, first, last] = /^bytes (\d+)-(\d+)\/\*$/.exec(o.headers!['content-range']!)!.map(Number);
        const dropped = o.headers!['gantry-log-dropped'] === 'true';
        const r = store(first!, last! - first! + 1, dropped ? null : o.bytes!, Number(o.headers!['gantry-produced-at']));
        if ('gap' in r) return { status: 416, headers: new Headers({ 'gantry-log-received': String(r.gap) }), body: { error: { received: r.gap } }, code: 'GANTRY_E_LOG_GAP' };
        return { status: 200, headers: new Headers(), body: { received: r.received, cancel: false }, code: null };
      }
      assert.equal(`${method} ${p}`, 'POST /agent/logs');
      const body = o.bytes!;
      const n = body.readUInt32BE(0);
      const index = JSON.parse(body.subarray(4, 4 + n).toString()) as { parts: { start: number; length: number; producedAt: number; dropped?: boolean }[] };
      let at = 4 + n;
      const parts = index.parts.map((part) => {
        const r = store(part.start, part.length, part.dropped ? null : body.subarray(at, (at += part.length)), part.producedAt);
        return 'gap' in r ? { error: { code: 'GANTRY_E_LOG_GAP', message: 'gap', received: r.gap } } : { received: r.received, cancel: false };
      });
      return { status: 200, headers: new Headers(), body: { parts }, code: null };
    },
  } as unknown as ProtocolClient;
  return { client, state, chunks: () => chunks };
}

/** Lines of a job that prints `lines` of about 60 bytes, numbered, so a wrong or missing line shows. */
function line(i: number): Buffer {
  return Buffer.from(`line ${String(i).padStart(7, '0')} ${'.'.repeat(i % 97)}\n`);
}

describe('an attempt log under a size limit', () => {
  const limit = { headBytes: 4_000, tailBytes: 9_000 };
  for (const carrier of ['batched', 'alone'] as const) {
    it(`${carrier}: the server down while the ring wraps many times, then slow while it wraps under uploads in flight: the server gets the head, one dropped range and exactly the tail, every byte it is sent is the byte printed there, and the spool file stays within head + tail`, async () => {
      // Appended in place, not concatenated: copying the whole log on each of 6,000 lines made the
      // printing slow enough under load for the slow server to keep up, which this test must not let happen.
      const printedBytes = Buffer.alloc(1 << 20);
      let printedLength = 0;
      const printed = () => printedBytes.subarray(0, printedLength);
      const server = limitServer(limit, printed);
      const stop = new AbortController();
      const file = path.join(dir, `limited-${carrier}.spool`);
      const log = new AttemptLog(file, 1, 'tok', 1_024, limit);
      if (carrier === 'batched') new LogBatches(server.client, 4_096, 20, stop.signal).add(log);
      else uploadAlone(log, server.client, 20, stop.signal);
      let biggest = 0;
      /** Each line's offset and the clock just before and after it was appended. */
      const appends: [number, number, number][] = [];
      const print = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          const b = line(i);
          const before = Date.now();
          log.append(b);
          appends.push([printedLength, before, Date.now()]);
          printedLength += b.copy(printedBytes, printedLength);
          biggest = Math.max(biggest, fs.statSync(file).size);
          if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      };
      await print(0, 300);
      server.state.down = true;
      await print(300, 3_000); // ~ 30 rings' worth while nothing is acknowledged
      server.state.down = false;
      server.state.delayMs = 40;
      await print(3_000, 6_000); // answers slower than the printing: the ring wraps under every request
      assert.deepEqual(await log.finish(), { kind: 'delivered' });
      stop.abort();
      log.dispose();

      assert.equal(server.state.wrongBytes, 0, 'every byte sent was the byte printed at its offset');
      assert.ok(biggest <= limit.headBytes + limit.tailBytes, `the spool file reached ${biggest} bytes`);
      for (const [start, producedAt] of server.state.producedAt) {
        const [, before, after] = appends.filter(([o]) => o <= start).at(-1)!;
        assert.ok(before <= producedAt && producedAt <= after, `the part at ${start} says it was produced at ${producedAt}, not within ${before}-${after}`);
      }
      assert.ok(server.state.bytesSent < printedLength / 4, `${server.state.bytesSent} of ${printedLength} bytes were sent`);
      const chunks = server.chunks();
      const hole = chunks.findIndex((c) => c.data === null);
      assert.ok(hole > 0 && chunks.filter((c) => c.data === null).length === 1, 'one dropped range');
      const head = Buffer.concat(chunks.slice(0, hole).map((c) => c.data!));
      const tail = Buffer.concat(chunks.slice(hole + 1).map((c) => c.data!));
      assert.ok(head.equals(printed().subarray(0, limit.headBytes)), 'the head, exactly: no part straddles its end');
      assert.equal(chunks[hole]!.start, limit.headBytes);
      assert.equal(chunks[hole]!.end + tail.length, printedLength);
      assert.ok(tail.length >= limit.tailBytes, `the tail holds at least tailBytes (${tail.length})`);
      assert.ok(tail.equals(printed().subarray(printedLength - tail.length)), 'the tail, exactly');
    });
  }

  it('with tailBytes 0 the spool keeps only the head and everything after it goes as dropped ranges', async () => {
    const zero = { headBytes: 1_000, tailBytes: 0 };
    let printed = Buffer.alloc(0);
    const server = limitServer(zero, () => printed);
    const stop = new AbortController();
    const file = path.join(dir, 'zero.spool');
    const log = new AttemptLog(file, 1, 'tok', 300, zero);
    new LogBatches(server.client, 1_000, 20, stop.signal).add(log);
    for (let i = 0; i < 500; i++) {
      const b = line(i);
      printed = Buffer.concat([printed, b]);
      log.append(b);
      assert.ok(fs.statSync(file).size <= zero.headBytes);
      if (i === 100) server.state.down = true;
      if (i === 300) server.state.down = false;
      if (i % 40 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.deepEqual(await log.finish(), { kind: 'delivered' });
    stop.abort();
    log.dispose();
    assert.equal(server.state.wrongBytes, 0);
    const chunks = server.chunks();
    assert.ok(Buffer.concat(chunks.slice(0, -1).map((c) => c.data!)).equals(printed.subarray(0, zero.headBytes)));
    assert.deepEqual(chunks.at(-1), { start: zero.headBytes, end: printed.length, data: null });
  });
});
