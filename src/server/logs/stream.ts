// One viewer's Server-Sent Events stream of one attempt's log (docs/API.md, "Live log").
//
//   event: log   id: <offset after the piece>   data: {"offset", "at", "b64"[, "dropped"]}
//   event: end   data: {"attempt", "status", "exitCode", "failureReason"}
//   : keep-alive
//
// The viewer is in one of two modes. Catching up: it reads pieces from the store from the offset
// it has sent, writing each and waiting for the socket to drain. Live: it has everything the feed
// has handed out, and the feed writes new pieces to it directly. A live viewer whose socket stops
// draining (more than LIVE_BUFFER bytes waiting) leaves the feed and catches up again, so what a
// slow viewer costs the server is its socket's buffer, never a queue that grows with the log.

import type { ServerResponse } from 'node:http';
import type { LogPiece } from '../../logstore/log-object.js';
import type { AttemptLogView, LogEnd } from './attempt-logs.js';
import { endFrame, frameFrom, logFrame } from './frames.js';
import type { FeedHandle, FeedViewer } from './log-feed.js';

/** What a viewer reports to the metrics: that it is open, and how late each live piece reaches it. */
export interface ViewerMetrics {
  opened(): void;
  closed(): void;
  /** A live piece written, `lateMs` after the agent read it from the job. */
  delivered(lateMs: number): void;
}

/** Bytes a live viewer's socket may hold unsent before it falls back to reading the store. */
const LIVE_BUFFER = 256 * 1024;
const CATCH_UP_READ = 256 * 1024;

export class LogStreamViewer implements FeedViewer {
  private mode: 'catch-up' | 'live' | 'done' = 'catch-up';
  /** The mode as it is now (TypeScript narrows a field across awaits; callbacks change it meanwhile). */
  private is(m: 'catch-up' | 'live' | 'done'): boolean {
    return this.mode === m;
  }
  private wake: (() => void) | null = null;
  private endSeen: LogEnd | null = null;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly view: AttemptLogView,
    private readonly feed: FeedHandle,
    /** The offset the viewer has: the next byte it gets is this one. */
    private sent: number,
    keepAliveMs: number,
    private readonly metrics: ViewerMetrics | null = null,
  ) {
    metrics?.opened();
    this.keepAlive = setInterval(() => this.res.write(': keep-alive\n\n'), keepAliveMs);
    this.keepAlive.unref();
    res.on('close', () => {
      // The viewer went away before the end. It may only have half-closed its socket (fetch's
      // abort does); a hijacked response would keep that open until the keep-alive timeout.
      if (this.mode !== 'done') res.socket?.destroy();
      this.stop();
    });
  }

  /** Runs until the attempt's end has been sent or the viewer goes away. */
  async run(): Promise<void> {
    try {
      while (this.mode !== 'done') {
        await this.catchUp();
        if (this.is('done')) break;
        const end = this.feed.end;
        if (end && this.sent >= end.size) {
          this.finish(end.end);
          break;
        }
        if (this.sent < this.feed.known) continue;
        // Live: the feed writes to us now. Wait for the end, a full socket, or the viewer leaving.
        this.mode = 'live';
        await new Promise<void>((r) => {
          this.wake = r;
          this.feed.join(this);
        });
        this.wake = null;
        this.feed.leave(this);
        if (this.endSeen) this.finish(this.endSeen);
        else if (this.is('catch-up')) await this.drained();
      }
    } finally {
      this.stop();
    }
  }

  piece(p: LogPiece, frame: Buffer): void {
    if (this.mode !== 'live' || p.end <= this.sent) return;
    this.res.write(p.offset === this.sent ? frame : logFrame(p, this.sent));
    this.sent = p.end;
    // Only live pieces: one caught up from the store is as late as the viewer came.
    this.metrics?.delivered(Date.now() - p.at);
    if (this.res.writableLength > LIVE_BUFFER) {
      this.mode = 'catch-up';
      this.wake?.();
    }
  }

  ended(end: LogEnd): void {
    if (this.mode !== 'live') return;
    this.endSeen = end;
    this.wake?.();
  }

  private async catchUp(): Promise<void> {
    for (;;) {
      if (this.mode === 'done') return;
      // Just behind the live edge (a socket that filled up), the feed still has the pieces.
      const pieces = (this.feed.recentFrom(this.sent) ?? (await this.view.pieces(this.sent, CATCH_UP_READ))).filter((p) => p.end > this.sent);
      if (pieces.length === 0) return;
      for (const p of pieces) {
        if (this.is('done')) return;
        const ok = this.res.write(frameFrom(p, this.sent));
        this.sent = p.end;
        if (!ok) await this.drained();
      }
    }
  }

  private drained(): Promise<void> {
    if (this.res.writableLength === 0 || this.mode === 'done') return Promise.resolve();
    return new Promise((r) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        r();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  private finish(end: LogEnd): void {
    if (this.mode === 'done') return;
    this.res.write(endFrame(end));
    this.res.end();
    this.stop();
  }

  private stop(): void {
    if (this.mode === 'done') return;
    this.mode = 'done';
    this.metrics?.closed();
    clearInterval(this.keepAlive);
    this.feed.leave(this);
    this.wake?.();
    if (!this.res.writableEnded) this.res.end();
  }
}
