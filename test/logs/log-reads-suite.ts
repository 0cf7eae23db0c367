// Reading a job's log on an in-process server (run on SQLite and PostgreSQL by log-reads*.test.ts):
// sections, arrival times and search; compaction into one blob-store object with every read the
// same before, after, and across a compaction cut short; the size limit's head, tail and note.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { encodeLogObject } from '../../src/logstore/log-object.js';
import { defaultSchedulerSettings, logLimitOf } from '../../src/server/app.js';
import { LogCompactor } from '../../src/server/logs/compactor.js';
import { AttemptLogs } from '../../src/server/logs/attempt-logs.js';
import { frameFrom } from '../../src/server/logs/frames.js';
import { FileLogStore } from '../../src/logstore/file-log-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from '../server/harness.js';
import { PIPELINE, startAttempt, viewLog, type TestAttempt } from './log-harness.js';

const start = (t: number, name: string, opts = '') => `\x1b[0Ksection_start:${t}:${name}${opts}\r\x1b[0K`;
const end = (t: number, name: string) => `\x1b[0Ksection_end:${t}:${name}\r\x1b[0K`;

export function readsSuite(label: string, openStore: () => Promise<(home: string) => Promise<Store>>): void {
  describe(`reading logs (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let compactor: LogCompactor;
    let blobs: DirBlobStore;
    let n = 0;
    before(async () => {
      repo = sandbox({ '.gantry.yml': PIPELINE });
      // The server's own compaction (every 5 s, once a lease of healthy store has passed) must not
      // race the tests', which compact by hand and look at what each compaction did.
      h = await startHarness(await openStore(), { deps: { settings: defaultSchedulerSettings({ leaseMs: 3_600_000 }) } });
      blobs = new DirBlobStore(path.join(h.home, 'log-objects'));
      compactor = new LogCompactor(h.store.fleet, blobs, (err) => {
        throw err;
      });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });
    async function attempt(): Promise<TestAttempt> {
      const name = `p${n++}`;
      assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
      return startAttempt(h, name);
    }
    const json = async <T>(p: string): Promise<T> => {
      const r = await h.api('GET', p);
      assert.equal(r.status, 200, await r.clone().text());
      return (await r.json()) as T;
    };
    const raw = async (jobId: number, range?: string) => {
      const r = await h.api('GET', `/jobs/${jobId}/log`, undefined, range ? { range } : {});
      return { status: r.status, range: r.headers.get('content-range'), dropped: r.headers.get('gantry-log-dropped'), body: Buffer.from(await r.arrayBuffer()) };
    };

    it('sections: the agent-style and the script-printed markers, nested, cut between uploads, with offsets, times and durations', async () => {
      const a = await attempt();
      const text =
        `${start(1000, 'prepare_script')}Preparing\nok\n${end(1001, 'prepare_script')}` +
        `${start(1002, 'step_script')}Executing\n${start(1003, 'build', '[collapsed=true]')}compiling\n${end(1010, 'build')}done\n${end(1012, 'step_script')}` +
        `${start(1013, 'never_closed')}x\n`;
      const bytes = Buffer.from(text);
      // Cut inside every marker: 7-byte uploads.
      for (let at = 0; at < bytes.length; at += 7) await a.append(bytes.subarray(at, at + 7), 5_000_000 + at);
      const s = await json<{ finished: boolean; sections: Record<string, unknown>[] }>(`/jobs/${a.jobId}/log/sections`);
      assert.equal(s.finished, false);
      assert.deepEqual(
        s.sections.map((x) => [x.name, x.depth, x.options, x.startedAt, x.finishedAt, x.durationMs]),
        [
          ['prepare_script', 0, null, 1_000_000, 1_001_000, 1000],
          ['step_script', 0, null, 1_002_000, 1_012_000, 10_000],
          ['build', 1, 'collapsed=true', 1_003_000, 1_010_000, 7000],
          ['never_closed', 0, null, 1_013_000, null, null],
        ],
      );
      const build = s.sections[2]!;
      assert.equal(build.startOffset, text.indexOf('\x1b[0Ksection_start:1003'));
      assert.equal(build.endOffset, text.indexOf('done\n'));
      // Arrival times come from the upload that held the marker's first byte.
      assert.equal(build.startArrivedAt, 5_000_000 + Math.floor(Number(build.startOffset) / 7) * 7);
    });

    it('readers of the same range at the same time share one read of the store and one frame per piece', async () => {
      const a = await attempt();
      for (let i = 0; i < 5; i++) await a.append(randomBytes(10_000));
      const logs = new AttemptLogs(h.store, new FileLogStore(path.join(h.home, 'logs')), blobs);
      const job = (await h.store.getJob(a.jobId as never))!;
      const view = (await logs.view(job, 1, 'fleet'))!;
      const fleet = h.store.fleet;
      const real = fleet.readLogPieces.bind(fleet);
      let reads = 0;
      fleet.readLogPieces = (...args) => {
        reads++;
        return real(...args);
      };
      try {
        // A hundred viewers connecting together, as after a link is shared.
        const together = await Promise.all(Array.from({ length: 100 }, () => view.pieces(0, 1 << 20)));
        assert.equal(reads, 1);
        assert.ok(together.every((p) => p === together[0]));
        assert.deepEqual(Buffer.concat(together[0]!.map((p) => p.data!)).length, 50_000);
        assert.equal(frameFrom(together[0]![0]!, 0), frameFrom(together[1]![0]!, 0), 'one frame for all');
        assert.notEqual(frameFrom(together[0]![0]!, 1), frameFrom(together[1]![0]!, 1), 'a frame from inside a piece is its own');
        // Once answered, a read is a new read: the log may have grown.
        await a.append(Buffer.from('more'));
        const later = await view.pieces(0, 1 << 20);
        assert.equal(reads, 2);
        assert.equal(later.reduce((n, p) => n + p.data!.length, 0), 50_004);
      } finally {
        fleet.readLogPieces = real;
      }
    });

    it('times: each piece of a byte range with its arrival time, paged', async () => {
      const a = await attempt();
      await a.append(Buffer.from('one\n'), 1_000);
      await a.append(Buffer.from('two\nthree\n'), 2_000);
      await a.append(Buffer.from('four\n'), 3_000);
      const t = await json<{ pieces: unknown[]; next: number | null }>(`/jobs/${a.jobId}/log/times?start=5&limit=1`);
      assert.deepEqual(t.pieces, [{ offset: 4, end: 14, at: 2_000 }]);
      assert.equal(t.next, 14);
      const all = await json<{ pieces: { at: number }[]; next: number | null }>(`/jobs/${a.jobId}/log/times`);
      assert.deepEqual(all.pieces.map((p) => p.at), [1_000, 2_000, 3_000]);
      assert.equal(all.next, null);
    });

    it('search: line numbers, offsets and the start of each line, case-insensitive on request, limited, on binary and megabyte lines', async () => {
      const a = await attempt();
      const big = Buffer.alloc(3 << 20, 'x');
      big.write('NEEDLE', 2 << 20);
      await a.append(Buffer.from('first needle\nnothing\n\x00\xff binary needle\r\n'));
      await a.append(big);
      await a.append(Buffer.from('\n\x1b[31mred Needle\x1b[0m\nneed'));
      await a.append(Buffer.from('le split across uploads'));
      type R = { hits: { line: number; offset: number; text: string; truncated: boolean }[]; limited: boolean };
      const r = await json<R>(`/jobs/${a.jobId}/log/search?q=needle`);
      assert.deepEqual(r.hits.map((x) => x.line), [1, 3, 6]);
      assert.equal(r.hits[0]!.text, 'first needle');
      assert.equal(r.hits[1]!.offset, 21);
      assert.equal(r.hits[2]!.text, 'needle split across uploads');
      const ci = await json<R>(`/jobs/${a.jobId}/log/search?q=NEEDLE&ignoreCase=true`);
      assert.deepEqual(ci.hits.map((x) => [x.line, x.truncated]), [[1, false], [3, false], [4, true], [5, false], [6, false]]);
      assert.equal(ci.hits[2]!.text, 'x'.repeat(500));
      assert.equal(ci.hits[3]!.text, 'red Needle', 'ANSI escapes are removed from the text');
      const lim = await json<R>(`/jobs/${a.jobId}/log/search?q=needle&ignoreCase=true&limit=2`);
      assert.deepEqual([lim.hits.length, lim.limited], [2, true]);
      const bad = await h.api('GET', `/jobs/${a.jobId}/log/search`);
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'GANTRY_E_INVALID_REQUEST');
      assert.equal((await h.api('GET', `/jobs/${a.jobId}/log/search?q=x&limit=0`)).status, 400);
    });

    it('compaction: the rows become one object; whole, ranged, streamed, sectioned and searched reads are the same before and after', async () => {
      const a = await attempt();
      const parts = [Buffer.from(`${start(100, 'step_script')}hello\n`), randomBytes(2_500_000), Buffer.from('\r10%\r100%\n\x00\xff'), Buffer.from(`${end(105, 'step_script')}bye\n`)];
      for (const [i, p] of parts.entries()) await a.append(p, 7_000 + i);
      await a.complete();
      const whole = Buffer.concat(parts);
      const snapshot = async () => {
        const ranges = [];
        for (const r of ['bytes=0-0', 'bytes=5-1000000', 'bytes=-3', `bytes=${whole.length - 10}-`, 'bytes=2000000-2600000']) ranges.push(await raw(a.jobId, r));
        const v = viewLog(h, a.jobId, '', { 'last-event-id': '17' });
        await v.until(() => v.closed, 'stream end');
        return {
          whole: (await raw(a.jobId)).body,
          ranges,
          stream: v.bytes,
          ats: v.events.filter((e) => e.event === 'log').map((e) => (JSON.parse(e.data) as { at: number }).at),
          sections: await json(`/jobs/${a.jobId}/log/sections`),
          times: await json(`/jobs/${a.jobId}/log/times`),
          search: await json(`/jobs/${a.jobId}/log/search?q=bye`),
        };
      };
      const beforeIt = await snapshot();
      assert.deepEqual(beforeIt.whole, whole);
      assert.deepEqual(beforeIt.stream, whole.subarray(17));
      assert.deepEqual(beforeIt.ats, [7_000, 7_001, 7_002, 7_003]);
      // A compaction cut short after the object was stored: the rows still answer, the object is not named.
      const objectParts = await encodeLogObject(
        (async function* () {
          const r = await h.store.fleet.readLogPieces(a.attemptId, 0, 1 << 30);
          assert.equal(r!.kind, 'chunks');
          yield r!.kind === 'chunks' ? r!.pieces : [];
        })(),
      );
      const sha = createHash('sha256').update(Buffer.concat(objectParts)).digest('hex');
      await blobs.put(sha, Readable.from(objectParts), { maxBytes: 1 << 30 });
      assert.deepEqual(await snapshot(), beforeIt);
      assert.equal((await h.store.fleet.logState(a.attemptId))!.object, null);
      // The real compaction finds the same object (same bytes, same name) and switches over.
      assert.deepEqual(await h.store.fleet.logsToCompact(100), [a.attemptId]);
      assert.equal(await compactor.compact(a.attemptId), true);
      assert.equal((await h.store.fleet.logState(a.attemptId))!.object, sha);
      const r = await h.store.fleet.readLogPieces(a.attemptId, 0, 1 << 20);
      assert.equal(r!.kind, 'object');
      assert.deepEqual(await h.store.fleet.logsToCompact(100), []);
      assert.equal(await compactor.compact(a.attemptId), false, 'a second compaction changes nothing');
      const afterIt = await snapshot();
      assert.deepEqual(afterIt, beforeIt);
      assert.ok((await blobs.size(sha))! < whole.length + 1000);
    });

    it('compaction streams: a 16 MiB log becomes the object the whole-log encoder builds, the compactor never more than one read of rows and one block ahead of the blob store, and a failed one leaves no spool file', async () => {
      const a = await attempt();
      // Incompressible, so the object's bytes track the log's and what is held shows.
      const pieceBytes = 64 << 10;
      for (let i = 0; i < 256; i++) await a.append(randomBytes(pieceBytes), 9_000 + i);
      await a.complete();
      const whole = (await raw(a.jobId)).body;
      assert.equal(whole.length, 16 << 20);
      const expected = Buffer.concat(
        await encodeLogObject(
          (async function* () {
            const r = await h.store.fleet.readLogPieces(a.attemptId, 0, 1 << 30);
            yield r!.kind === 'chunks' ? r!.pieces : [];
          })(),
        ),
      );

      // Watch both ends of the compaction: log bytes read from the store, object bytes taken by
      // the blob store (each written before the next is asked for).
      let read = 0;
      let taken = 0;
      let failAtRead = 3;
      let reads = 0;
      const fleet = new Proxy(h.store.fleet, {
        get(target, key, receiver) {
          if (key !== 'readLogPieces') return Reflect.get(target, key, receiver) as unknown;
          return async (...args: Parameters<typeof target.readLogPieces>) => {
            if (++reads === failAtRead) throw new Error('the store went away');
            const r = await target.readLogPieces(...args);
            for (const p of r?.kind === 'chunks' ? r.pieces : []) read += p.data?.length ?? 0;
            return r;
          };
        },
      });
      const tmp = path.join(blobs.root, 'tmp');
      const spooled = () => (fs.existsSync(tmp) ? fs.readdirSync(tmp) : []);
      let leads: number[] = [];
      let parts: number[] = [];
      let spoolSeen: string[] = [];
      const watched = new Proxy(blobs, {
        get(target, key, receiver) {
          if (key !== 'putContent') return Reflect.get(target, key, receiver) as unknown;
          return (body: AsyncIterable<Buffer>, opts: { maxBytes: number }) =>
            target.putContent(
              (async function* () {
                for await (const part of body) {
                  leads.push(read - taken);
                  parts.push(part.length);
                  if (parts.length === 2) spoolSeen = spooled();
                  taken += part.length;
                  yield part;
                }
              })(),
              opts,
            );
        },
      });
      const streaming = new LogCompactor(fleet, watched, (err) => {
        throw err;
      });

      // A compaction whose third read of rows fails: nothing named, no spool file left, rows still the log.
      await assert.rejects(streaming.compact(a.attemptId), /the store went away/);
      assert.equal((await h.store.fleet.logState(a.attemptId))!.object, null);
      assert.deepEqual(spooled(), []);
      assert.equal(spoolSeen.length, 1);
      assert.match(spoolSeen[0]!, /\.part$/, 'a crash would leave a *.part in tmp/, which the stray sweep removes');

      [read, taken, reads, failAtRead, leads, parts] = [0, 0, 0, -1, [], []];
      assert.equal(await streaming.compact(a.attemptId), true);
      const sha = (await h.store.fleet.logState(a.attemptId))!.object!;
      assert.equal(sha, createHash('sha256').update(expected).digest('hex'));
      assert.deepEqual(await blobs.read(sha, 0, expected.length + 1), expected);
      assert.deepEqual(spooled(), []);
      assert.deepEqual((await raw(a.jobId)).body, whole);
      // Blocks of about 1 MiB of log (one piece more at most); the whole log was 16 MiB.
      assert.ok(parts.length > 16, `${parts.length} parts`);
      assert.ok(Math.max(...parts) <= (1 << 20) + pieceBytes + 1024, `largest part ${Math.max(...parts)}`);
      // Ahead of the store by at most one read of rows (4 MiB, and the row that crosses it) and one block.
      const bound = (4 << 20) + pieceBytes + (1 << 20);
      assert.ok(Math.max(...leads) <= bound, `held up to ${Math.max(...leads)} bytes of log (bound ${bound})`);
    });

    it('a running attempt is never compacted; an empty finished one has nothing to compact', async () => {
      const a = await attempt();
      await a.append(Buffer.from('still running\n'));
      await compactor.kick();
      assert.equal((await h.store.fleet.logState(a.attemptId))!.object, null);
      const b = await attempt();
      await b.complete();
      await compactor.kick();
      assert.deepEqual((await raw(b.jobId)).body, Buffer.alloc(0));
    });

    it('the size limit keeps the head and the tail, says what was dropped, and every read agrees, before and after compaction', async () => {
      const a = await attempt();
      const limit = logLimitOf(10_000);
      const lines: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        const line = Buffer.from(`line ${String(i).padStart(4, '0')} ${'.'.repeat(89)}\n`);
        lines.push(line);
        await a.append(line, Date.now(), limit);
      }
      const all = Buffer.concat(lines);
      assert.equal(all.length, 20_000);
      const check = async () => {
        const whole = (await raw(a.jobId)).body.toString();
        assert.ok(whole.startsWith(all.subarray(0, 5_000).toString()), 'the head is kept');
        assert.ok(whole.endsWith(all.subarray(15_000).toString()), 'the tail is kept');
        assert.match(whole, /\[gantry\] 10000 bytes of output dropped here \(bytes 5000 to 14999\)/);
        assert.ok(!whole.includes('line 0050 ') && !whole.includes('line 0149 '));
        // A range that meets the hole stops at it; one inside it is the note.
        const r1 = await raw(a.jobId, 'bytes=4990-5100');
        assert.equal(r1.status, 206);
        assert.equal(r1.range, 'bytes 4990-4999/20000');
        assert.deepEqual(r1.body, all.subarray(4990, 5000));
        const r2 = await raw(a.jobId, 'bytes=6000-');
        assert.equal(r2.range, 'bytes 6000-14999/20000');
        assert.equal(r2.dropped, '6000-14999');
        assert.match(r2.body.toString(), /10000 bytes of output dropped/);
        const r3 = await raw(a.jobId, 'bytes=15000-');
        assert.deepEqual(r3.body, all.subarray(15_000));
        const v = viewLog(h, a.jobId, '', { 'last-event-id': '4000' });
        await v.until(() => v.bytes.length === Buffer.byteLength(whole) - 4000, 'every byte');
        v.abort();
        const hole = v.events.map((e) => (e.event === 'log' ? (JSON.parse(e.data) as { dropped?: number; offset: number }) : null)).find((d) => d?.dropped);
        assert.deepEqual([hole!.offset, hole!.dropped], [5_000, 10_000]);
        assert.equal(v.bytes.toString(), whole.slice(4000));
        const s = await json<{ hits: { line: number }[] }>(`/jobs/${a.jobId}/log/search?q=line 0199`);
        assert.equal(s.hits.length, 1);
      };
      await check();
      await a.complete();
      await compactor.kick();
      assert.notEqual((await h.store.fleet.logState(a.attemptId))!.object, null);
      await check();
    });
  });
}
