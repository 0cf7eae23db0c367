// Follows one attempt's log from a byte offset until the attempt ends.
//
// Preferred: the live stream `GET /jobs/:id/log/stream?attempt=N` (Server-Sent Events:
// `event: log` with `id: <offset after>` and `data: {offset, at, b64}`, then `event: end`;
// resumed with `Last-Event-ID`). While the server has no such route (it answers 404), the log is
// polled instead: `GET /jobs/:id/log?attempt=N` with `Range: bytes=OFFSET-` every second, the body
// read as it arrives so a large log shows its first lines at once.

import { API, ApiError, authHeaders, failure } from '../api/client.js';
import { readEventStream } from '../api/sse.js';
import { SHED_CODES } from '../../src/client/shed-wait.js';
import { freshBytes } from './log-offsets.js';

export interface LogEnd {
  attempt?: number;
  status?: string;
  exitCode?: number | null;
  failureReason?: string | null;
}

export type LogMode = 'stream' | 'poll';

export interface FollowLogOptions {
  jobId: number;
  attempt: number;
  /** The byte offset to start from (what the viewer already holds). */
  from: number;
  /** Polling only: whether the attempt has ended (a last read after that, then stop). */
  isFinished(): boolean;
  onBytes(bytes: Uint8Array, at: number): void;
  onEnd(end: LogEnd | null): void;
  onMode(mode: LogMode): void;
  onError(err: unknown): void;
  signal: AbortSignal;
}

const POLL_MS = 1000;
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
  });

function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function followLog(opts: FollowLogOptions): void {
  let offset = opts.from;
  const take = (bytes: Uint8Array, start: number, at: number, end?: number) => {
    const fresh = freshBytes(offset, bytes, start, end);
    if (!fresh) return;
    offset = fresh.held;
    opts.onBytes(fresh.bytes, at);
  };

  async function stream(): Promise<'ended' | 'no-stream'> {
    let failures = 0;
    while (!opts.signal.aborted) {
      let ended = false;
      let retryAfterMs = 0;
      try {
        await readEventStream(`/jobs/${opts.jobId}/log/stream?attempt=${opts.attempt}`, {
          signal: opts.signal,
          headers: offset > 0 ? { 'last-event-id': String(offset) } : {},
          onEvent: (e) => {
            failures = 0;
            if (e.event === 'log') {
              const d = JSON.parse(e.data) as { offset: number; at: number; b64: string };
              // The event's id is the offset after it, also for a hole whose note is shorter.
              take(fromBase64(d.b64), d.offset, d.at, e.id !== null ? Number(e.id) : undefined);
            } else if (e.event === 'end') {
              ended = true;
              opts.onEnd(JSON.parse(e.data) as LogEnd);
            }
          },
        });
        if (ended) return 'ended';
      } catch (err) {
        if (opts.signal.aborted) return 'ended';
        if (err instanceof ApiError && err.status === 404) return 'no-stream';
        if (err instanceof ApiError && err.status < 500 && err.status !== 429) throw err;
        if (err instanceof ApiError && err.retryAfter !== null) retryAfterMs = err.retryAfter * 1000;
        failures++;
      }
      // Dropped (a server restart, a proxy timeout): resume from the byte we last saw; shed, not
      // before the server's Retry-After.
      await sleep(Math.max(retryAfterMs, Math.min(10_000, 1000 * 2 ** Math.min(failures, 4))), opts.signal);
    }
    return 'ended';
  }

  async function poll(): Promise<void> {
    while (!opts.signal.aborted) {
      const finishedBefore = opts.isFinished();
      const res = await fetch(`${API}/jobs/${opts.jobId}/log?attempt=${opts.attempt}`, {
        headers: { ...authHeaders(), ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
        signal: opts.signal,
        cache: 'no-store',
      });
      if (res.status === 200 || res.status === 206) {
        let start = offset;
        if (res.status === 200 && offset > 0) start = 0; // the whole log came back
        const reader = res.body!.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          take(value, start, Date.now());
          start += value.length;
        }
      } else if (res.status !== 416 && res.status !== 404) {
        // 416: nothing new; 404: the attempt has not started yet; shed: ask again after the wait.
        const err = await failure(res);
        if (!SHED_CODES.has(err.code) || err.retryAfter === null) throw err;
        await sleep(Math.max(1, err.retryAfter) * 1000, opts.signal);
        continue;
      }
      // Everything written before the attempt ended has now been read.
      if (finishedBefore) return opts.onEnd(null);
      await sleep(POLL_MS, opts.signal);
    }
  }

  void (async () => {
    try {
      opts.onMode('stream');
      if ((await stream()) === 'no-stream') {
        opts.onMode('poll');
        await poll();
      }
    } catch (err) {
      if (!opts.signal.aborted) opts.onError(err);
    }
  })();
}
