// The live side of log streaming: one feed per attempt that someone watches on this instance. A
// feed learns that the log grew from the store's `log` events (this instance's appends, and other
// instances' through LISTEN on PostgreSQL), reads the new pieces from the store once, and hands
// them to every viewer that is keeping up. A viewer that is not keeping up is not given anything:
// it reads from the store at its own pace and joins again (stream.ts), so nothing is ever queued
// per viewer here. A lost event costs at most one safety tick.

import type { FleetEvents } from '../../store/fleet.js';
import type { AttemptId } from '../../domain/ids.js';
import type { LogPiece } from '../../logstore/log-object.js';
import type { AttemptLogView, LogEnd } from './attempt-logs.js';
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

class Feed {
  /** Everything before this offset has been handed to the live viewers. */
  known = -1;
  /** The log is known to have at least this many bytes. */
  target = 0;
  end: LogEnd | null = null;
  endSize = 0;
  readonly live = new Set<FeedViewer>();
  private pumping = false;
  private again = false;
  readonly timer: NodeJS.Timeout;
  readonly ready: Promise<void>;

  constructor(
    readonly view: AttemptLogView,
    tickMs: number,
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
    this.timer = setInterval(() => void this.refresh().then(() => this.pump(), onError), tickMs);
    this.timer.unref();
  }

  async refresh(): Promise<void> {
    const s = await this.view.state();
    this.target = Math.max(this.target, s.size);
    if (s.end && !this.end) {
      this.end = s.end;
      this.endSize = s.size;
    }
  }

  grew(size: number): void {
    if (size > this.target) this.target = size;
    this.pump();
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
            const pieces = await this.view.pieces(this.known, 1 << 20);
            const fresh = pieces.filter((p) => p.end > this.known);
            if (fresh.length === 0) break;
            for (const p of fresh) {
              this.known = p.end;
              if (this.live.size === 0) continue;
              const frame = Buffer.from(logFrame(p, p.offset));
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

export class LogFeeds {
  private readonly feeds = new Map<AttemptId, { feed: Feed; users: number }>();
  /** Open streams, ended when the server closes (a stream would otherwise hold the shutdown open). */
  private readonly streams = new Set<{ end(): void }>();
  private closed = false;
  private readonly onLog = (attemptId: AttemptId, received: number) => this.feeds.get(attemptId)?.feed.grew(received);
  private readonly onPipeline = (pipelineId: number) => {
    // A job moved: an attempt being watched may have ended.
    for (const { feed } of this.feeds.values()) {
      if (feed.view.pipelineId === pipelineId && !feed.end) void feed.refresh().then(() => feed.pump(), this.onError);
    }
  };

  constructor(
    private readonly events: FleetEvents,
    private readonly opts: FeedOptions,
    private readonly onError: (err: unknown) => void,
  ) {
    events.on('log', this.onLog);
    events.on('pipeline', this.onPipeline);
  }

  /** The attempt's feed, shared by every viewer of it on this instance; `release` when done. */
  async acquire(view: AttemptLogView): Promise<{ feed: FeedHandle; release(): void }> {
    let entry = this.feeds.get(view.attemptId);
    if (!entry) {
      entry = { feed: new Feed(view, view.local ? this.opts.localPollMs : this.opts.safetyTickMs, this.onError), users: 0 };
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
          clearInterval(e.feed.timer);
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
    for (const { feed } of this.feeds.values()) clearInterval(feed.timer);
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
