// One attempt's live feed (src/server/logs/log-feed.ts) against a fake store: what it reads and
// what its viewers get.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { asAttemptId } from '../../src/domain/ids.js';
import type { LogPiece } from '../../src/logstore/log-object.js';
import type { AttemptLogView, LogState } from '../../src/server/logs/attempt-logs.js';
import { LogFeeds, type FeedViewer } from '../../src/server/logs/log-feed.js';
import type { FleetEventMap } from '../../src/store/fleet.js';

const id = asAttemptId(7);
const piece = (offset: number, text: string): LogPiece => ({ offset, end: offset + text.length, at: 1, data: Buffer.from(text) });

/** A fleet attempt whose stored log is `stored`; counts the store reads. */
function fakeView(stored: LogPiece[]) {
  const reads: number[] = [];
  const view: AttemptLogView = {
    attemptId: id,
    pipelineId: 1,
    number: 1,
    local: false,
    state: async (): Promise<LogState> => ({ size: stored.length ? stored[stored.length - 1]!.end : 0, end: null }),
    pieces: async (start) => {
      reads.push(start);
      return stored.filter((p) => p.end > start);
    },
  };
  return { view, reads };
}

function collector(): FeedViewer & { text(): string } {
  const got: Buffer[] = [];
  return {
    piece: (p) => void got.push(p.data!),
    ended: () => undefined,
    text: () => Buffer.concat(got).toString(),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('a live log feed', () => {
  it("hands this instance's appended pieces to its viewers without reading them back, and reads the store only for what it was not given", async () => {
    const events = new EventEmitter<FleetEventMap>();
    const stored = [piece(0, 'first ')];
    const { view, reads } = fakeView(stored);
    const feeds = new LogFeeds(events, { safetyTickMs: 60_000, localPollMs: 100 }, (e) => assert.fail(String(e)), async () => new Map());
    try {
      const { feed, release } = await feeds.acquire(view);
      assert.equal(feed.known, 6, 'a new feed starts where the log is');
      const v = collector();
      feed.join(v);
      // Appended here: the event brings the pieces.
      stored.push(piece(6, 'second '), piece(13, 'third '));
      events.emit('log', id, 19, stored.slice(1));
      await settle();
      assert.equal(v.text(), 'second third ');
      assert.deepEqual(reads, [], 'nothing read back');
      // Appended by another instance (announced without pieces), then one here after it: the
      // feed reads the gap from the store, then goes on with what it was given.
      stored.push(piece(19, 'elsewhere '));
      events.emit('log', id, 29);
      stored.push(piece(29, 'here'));
      events.emit('log', id, 33, [stored[4]!]);
      await settle();
      assert.equal(v.text(), 'second third elsewhere here');
      assert.deepEqual(reads, [19]);
      // A viewer just behind catches up from what the feed handed out last, not from the store.
      assert.deepEqual(feed.recentFrom(15)?.map((p) => p.data!.toString()), ['third ', 'elsewhere ', 'here']);
      assert.equal(feed.recentFrom(2), null, 'from before what the feed holds: the store');
      assert.equal(feed.recentFrom(33), null, 'nothing handed out from there yet');
      // It keeps about 256 KiB.
      let at = 33;
      for (let k = 0; k < 40; k++) {
        const p = piece(at, 'z'.repeat(10_000));
        stored.push(p);
        at = p.end;
        events.emit('log', id, at, [p]);
        await settle();
      }
      assert.equal(feed.recentFrom(33), null);
      assert.ok(feed.recentFrom(at - 200_000)!.length >= 20);
      release();
    } finally {
      feeds.close();
    }
  });
});
