// The live side of log streaming: one feed per attempt that someone watches on this instance. A
// feed learns that the log grew from the store's `log` events (this instance's appends, and other
// instances' through LISTEN on PostgreSQL), and hands the new pieces to every viewer that is
// keeping up. This instance's appends come with their pieces, which the feed uses as they are;
// anything else (another instance's appends, a feed that fell behind) it reads from the store,
// once for all its viewers. A viewer that is not keeping up is not given anything:
// it reads from the store at its own pace and joins again (stream.ts), so nothing is ever queued
// per viewer here. A lost event costs at most one safety tick.

import type { FleetEvents } from '../../store/fleet.js';
import type { AttemptId } from '../../domain/ids.js';
import type { LogPiece } from '../../logstore/log-object.js';
import type { AttemptLogView, LogEnd, LogState } from './attempt-logs.js';
import { logFrame } from './frames.js';

/** What a feed needs of a viewer. */
export interface FeedViewer {
  /**
   * A piece of the log, in order; pieces it already has are the viewer's to skip. `frame` is the
   * piece's SSE frame for a viewer that has everything before it: encoded once for all viewers.
   */
  piece(p: LogPiece, frame: Buffer): void;
  /** The attempt ended and the feed has delivered every byte of it. */
  ended(end: LogEnd): void;
}

export interface FeedOptions {
  /** How often a fleet feed re-reads the attempt's state anyway (a lost NOTIFY, a missed end). */
  safetyTickMs: number;
  /** How often a `gantry run` attempt's file is looked at: nothing announces its growth. */
  localPollMs: number;
}

/** Appended pieces a feed keeps for its pump at most (bytes); past it, the pump reads the store. */
const FRESH_LIMIT = 4 << 20;
/**
 * The last bytes handed out that a feed keeps (copies) for its viewers that fell behind: one
 * whose socket filled up catches up from here when it is not further behind than this, instead
 * of reading the store (1,000 viewers of one job falling behind together read it 1,000 times).
 */
const RECENT_LIMIT = 256 * 1024;

class Feed {
  /** Everything before this offset has been handed to the live viewers. */
  known = -1;
  /** The log is known to have at least this many bytes. */
  target = 0;
  end: LogEnd | null = null;
  endSize = 0;
  readonly live = new Set<FeedViewer>();
  /** The last pieces handed out, copied (not views of upload bodies), about RECENT_LIMIT bytes. */
  private recent: LogPiece[] = [];
  private recentBytes = 0;
  /** Pieces this instance appended that the pump has not handed out yet, in order. */
  private fresh: LogPiece[] = [];
  private freshBytes = 0;
  private pumping = false;
  private again = false;
  /** A `gantry run` attempt's own poll; fleet feeds share their instance's safety tick (LogFeeds). */
  readonly timer: NodeJS.Timeout | null;
  readonly ready: Promise<void>;

  constructor(
    readonly view: AttemptLogView,
    pollMs: number | null,
    private readonly onError: (err: unknown) => void,
  ) {
    this.ready = this.refresh().then(
      () => {
        this.known = this.target;
      },
      (err) => {
        this.known = 0;
        onError(err);
      },
    );
    this.timer = pollMs === null ? null : setInterval(() => void this.refresh().then(() => this.pump(), onError), pollMs);
    this.timer?.unref();
  }

  async refresh(): Promise<void> {
    this.apply(await this.view.state());
  }

  apply(s: LogState): void {
    this.target = Math.max(this.target, s.size);
    if (s.end && !this.end) {
      this.end = s.end;
      this.endSize = s.size;
    }
  }

  grew(size: number, pieces?: readonly LogPiece[]): void {
    if (size > this.target) this.target = size;
    if (pieces && this.known >= 0 && this.live.size > 0) {
      for (const p of pieces) {
        this.fresh.push(p);
        this.freshBytes += p.end - p.offset;
      }
      // A pump that cannot keep up reads from the store instead: what waits here stays bounded.
      if (this.freshBytes > FRESH_LIMIT) this.dropFresh();
    }
    this.pump();
  }

  /** The pieces from `offset` up to what has been handed out, if the feed still holds them all; else null. */
  recentFrom(offset: number): LogPiece[] | null {
    const first = this.recent[0];
    if (!first || first.offset > offset || offset >= this.known) return null;
    return this.recent.filter((p) => p.end > offset);
  }

  private remember(p: LogPiece): void {
    const copy = { ...p, data: p.data === null ? null : Buffer.from(p.data) };
    this.recent.push(copy);
    this.recentBytes += copy.data?.length ?? 0;
    while (this.recentBytes > RECENT_LIMIT && this.recent.length > 1) this.recentBytes -= this.recent.shift()!.data?.length ?? 0;
  }

  private dropFresh(): void {
    this.fresh = [];
    this.freshBytes = 0;
  }

  /** The fresh pieces that continue the log at `known`; none if they start after it (read the store). */
  private takeFresh(): LogPiece[] {
    let i = 0;
    while (i < this.fresh.length && this.fresh[i]!.end <= this.known) i++;
    // One attempt's appends are contiguous and in order: the run from `known` on.
    let at = this.known;
    let j = i;
    while (j < this.fresh.length && this.fresh[j]!.offset <= at) at = this.fresh[j++]!.end;
    const out = this.fresh.slice(i, j);
    this.fresh = this.fresh.slice(j);
    this.freshBytes = this.fresh.reduce((n, p) => n + (p.end - p.offset), 0);
    return out;
  }

  /** Reads what the live viewers have not had, once for all of them. One read at a time. */
  pump(): void {
    if (this.known < 0) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.again = false;
          while (this.known < this.target) {
            const given = this.takeFresh();
            const pieces = given.length > 0 ? given : await this.view.pieces(this.known, 1 << 20);
            const fresh = pieces.filter((p) => p.end > this.known);
            if (fresh.length === 0) break;
            for (const p of fresh) {
              this.known = p.end;
              this.remember(p);
              if (this.live.size === 0) continue;
              const frame = logFrame(p, p.offset);
              for (const v of this.live) v.piece(p, frame);
            }
          }
          if (this.end && this.known >= this.endSize) for (const v of [...this.live]) v.ended(this.end);
        } while (this.again);
      } catch (err) {
        this.onError(err);
      } finally {
        this.pumping = false;
      }
    })();
  }
}

/** Reads the states of several fleet attempts' logs at once. */
export type FleetLogStates = (attemptIds: AttemptId[]) => Promise<Map<AttemptId, LogState>>;

export class LogFeeds {
  private readonly feeds = new Map<AttemptId, { feed: Feed; users: number }>();
  /**
   * One safety tick for every fleet feed of this instance, one read of the store for all of them
   * (a tick per feed made a query per watched attempt per second: 100 a second for the bench's
   * 100 watched jobs, each a round trip on PostgreSQL).
   */
  private readonly tick: NodeJS.Timeout;
  /** Open streams, ended when the server closes (a stream would otherwise hold the shutdown open). */
  private readonly streams = new Set<{ end(): void }>();
  private closed = false;
  private readonly onLog = (attemptId: AttemptId, received: number, pieces?: readonly LogPiece[]) => this.feeds.get(attemptId)?.feed.grew(received, pieces);
  /** Pipelines whose jobs moved since the last look: an attempt being watched may have ended. */
  private readonly moved = new Set<number>();
  private readonly onPipeline = (pipelineId: number) => {
    // Looked at once for a burst of moves (a pipeline's jobs finishing together), in one read.
    if (this.moved.size === 0) {
      setImmediate(() => {
        const feeds = [...this.feeds.values()].map((e) => e.feed).filter((f) => this.moved.has(f.view.pipelineId) && !f.end);
        this.moved.clear();
        for (const f of feeds.filter((f) => f.view.local)) void f.refresh().then(() => f.pump(), this.onError);
        void this.refresh(feeds.filter((f) => !f.view.local));
      });
    }
    this.moved.add(pipelineId);
  };

  constructor(
    private readonly events: FleetEvents,
    private readonly opts: FeedOptions,
    private readonly onError: (err: unknown) => void,
    private readonly states: FleetLogStates,
  ) {
    events.on('log', this.onLog);
    events.on('pipeline', this.onPipeline);
    this.tick = setInterval(() => this.refreshFleetFeeds(), opts.safetyTickMs);
    this.tick.unref();
  }

  private ticking = false;

  private refreshFleetFeeds(): void {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    void this.refresh([...this.feeds.values()].map((e) => e.feed).filter((f) => !f.view.local)).finally(() => {
      this.ticking = false;
    });
  }

  /** Re-reads the state of these fleet feeds' attempts, in one read, and pumps each. */
  private async refresh(feeds: Feed[]): Promise<void> {
    if (feeds.length === 0) return;
    try {
      const states = await this.states(feeds.map((f) => f.view.attemptId));
      for (const f of feeds) {
        const s = states.get(f.view.attemptId);
        if (s) f.apply(s);
        f.pump();
      }
    } catch (err) {
      this.onError(err);
    }
  }

  /** The attempt's feed, shared by every viewer of it on this instance; `release` when done. */
  async acquire(view: AttemptLogView): Promise<{ feed: FeedHandle; release(): void }> {
    let entry = this.feeds.get(view.attemptId);
    if (!entry) {
      entry = { feed: new Feed(view, view.local ? this.opts.localPollMs : null, this.onError), users: 0 };
      this.feeds.set(view.attemptId, entry);
    }
    entry.users++;
    const e = entry;
    await e.feed.ready;
    let released = false;
    return {
      feed: new FeedHandle(e.feed),
      release: () => {
        if (released) return;
        released = true;
        if (--e.users === 0) {
          if (e.feed.timer) clearInterval(e.feed.timer);
          this.feeds.delete(view.attemptId);
        }
      },
    };
  }

  get watched(): number {
    return this.feeds.size;
  }

  /** Registers an open stream to end at shutdown; returns its unregister. */
  track(stream: { end(): void }): () => void {
    if (this.closed) stream.end();
    this.streams.add(stream);
    return () => this.streams.delete(stream);
  }

  close(): void {
    this.closed = true;
    for (const s of [...this.streams]) s.end();
    this.streams.clear();
    this.events.off('log', this.onLog);
    this.events.off('pipeline', this.onPipeline);
    clearInterval(this.tick);
    for (const { feed } of this.feeds.values()) if (feed.timer) clearInterval(feed.timer);
    this.feeds.clear();
  }
}

/** A viewer's handle on its feed. */
export class FeedHandle {
  constructor(private readonly feed: Feed) {}

  /** Bytes already handed to live viewers: a viewer that has this much may join. */
  get known(): number {
    return this.feed.known;
  }

  /** The pieces from `offset` on that the feed still holds in memory (null: read the store). */
  recentFrom(offset: number): LogPiece[] | null {
    return this.feed.recentFrom(offset);
  }

  /** How the attempt ended and its final size, once known. */
  get end(): { end: LogEnd; size: number } | null {
    return this.feed.end ? { end: this.feed.end, size: this.feed.endSize } : null;
  }

  join(v: FeedViewer): void {
    this.feed.live.add(v);
    // It may have ended while the viewer was catching up.
    this.feed.pump();
  }

  leave(v: FeedViewer): void {
    this.feed.live.delete(v);
  }
}
