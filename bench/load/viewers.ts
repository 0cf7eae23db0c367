// Live log viewers: each follows one job at a time over SSE (GET /jobs/:id/log/stream), from its
// first byte to its `end` event, as a person watching a build does, then takes the next. A viewer
// refused (429, 503) waits its Retry-After and asks again; a stream cut mid-way resumes from the
// offset it had (`from`), as `gantry logs -f` does. What each follow received is kept, to be
// compared afterwards with the log the API serves; each printed line's age on arrival is the log
// delivery time (the line's print time is on the same host's clock).

import { setMaxListeners } from 'node:events';
import { readSse } from '../../src/client/sse.js';
import { parseLine } from './job-log.js';

/** Viewers on each new job: the jobs outnumber the viewers at times, and a few watch each. */
const VIEWERS_PER_JOB = 2;
/** Jobs waiting for a viewer beyond this many are dropped, oldest first (nobody watches everything). */
const MAX_WAITING = 2_000;

export interface Follow {
  jobId: number;
  /** When the stream was first answered 200, ms since the epoch. */
  openedAt: number;
  bytes: Buffer[];
  size: number;
  ended: boolean;
  /** Bytes skipped (an event past the offset held) and bytes received twice (an event before it). */
  gapBytes: number;
  overlapBytes: number;
  reconnects: number;
}

export interface ViewerCounts {
  opens: number;
  /** Stream opens answered 429 or 503 (with Retry-After). */
  shed: number;
  /** Other failed opens and cut streams, by what happened. */
  failures: Map<string, number>;
}

export interface LatencySample {
  printedAtMs: number;
  ms: number;
}

const now = () => performance.timeOrigin + performance.now();

export class Viewers {
  readonly follows: Follow[] = [];
  readonly latency: LatencySample[] = [];
  /** Per phase (index). */
  readonly counts: ViewerCounts[] = [];
  phaseNow = 0;
  private readonly waiting: number[] = [];
  private readonly wakers: Array<() => void> = [];
  private readonly loops: Promise<void>[] = [];
  private readonly ac = new AbortController();
  private active = 0;

  constructor(
    private readonly urls: readonly string[],
    private readonly tokens: readonly string[],
  ) {
    // Every viewer's request listens on the one signal that stops them all.
    setMaxListeners(0, this.ac.signal);
  }

  private countsOf(): ViewerCounts {
    return (this.counts[this.phaseNow] ??= { opens: 0, shed: 0, failures: new Map() });
  }

  /** New jobs to watch (the discovery's). */
  offer(jobIds: number[]): void {
    for (const id of jobIds) for (let v = 0; v < VIEWERS_PER_JOB; v++) this.waiting.push(id);
    if (this.waiting.length > MAX_WAITING) this.waiting.splice(0, this.waiting.length - MAX_WAITING);
    while (this.wakers.length > 0 && this.waiting.length > 0) this.wakers.shift()!();
  }

  /** Adds viewers until there are `n`; each watches until `stop`. */
  grow(n: number): void {
    while (this.active < n) {
      const v = this.active++;
      this.loops.push(this.loop(v));
    }
  }

  async stop(): Promise<void> {
    this.ac.abort();
    for (const w of this.wakers.splice(0)) w();
    await Promise.all(this.loops);
  }

  private async next(): Promise<number | null> {
    while (this.waiting.length === 0) {
      if (this.ac.signal.aborted) return null;
      await new Promise<void>((r) => this.wakers.push(r));
    }
    return this.ac.signal.aborted ? null : this.waiting.shift()!;
  }

  private async loop(v: number): Promise<void> {
    // Viewers are people: each token is a person with a few tabs, on the instance the balancer gave.
    const token = this.tokens[v % this.tokens.length]!;
    const url = this.urls[v % this.urls.length]!;
    for (;;) {
      const jobId = await this.next();
      if (jobId === null) return;
      const f: Follow = { jobId, openedAt: 0, bytes: [], size: 0, ended: false, gapBytes: 0, overlapBytes: 0, reconnects: 0 };
      this.follows.push(f);
      await this.follow(f, url, token).catch((e: unknown) => {
        if (!this.ac.signal.aborted) this.fail(String((e as Error).message ?? e));
      });
      if (this.ac.signal.aborted) return;
    }
  }

  private fail(why: string): void {
    const c = this.countsOf();
    c.failures.set(why, (c.failures.get(why) ?? 0) + 1);
  }

  private async follow(f: Follow, url: string, token: string): Promise<void> {
    let partial = '';
    while (!f.ended && !this.ac.signal.aborted) {
      const c = this.countsOf();
      c.opens++;
      let res: Response;
      try {
        res = await fetch(`${url}/api/v1/jobs/${f.jobId}/log/stream${f.size > 0 ? `?from=${f.size}` : ''}`, { headers: { authorization: `Bearer ${token}` }, signal: this.ac.signal });
      } catch (e) {
        if (this.ac.signal.aborted) return;
        this.fail(`open: ${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).name}`);
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      if (res.status === 429 || res.status === 503) {
        await res.arrayBuffer();
        c.shed++;
        const after = res.headers.get('retry-after');
        if (after === null) this.fail(`${res.status} without Retry-After`);
        await new Promise((r) => setTimeout(r, Number(after ?? 5) * 1000 + Math.random() * 1000));
        continue;
      }
      if (res.status !== 200 || !res.body) {
        this.fail(`open: ${res.status} ${(await res.text()).slice(0, 120)}`);
        return;
      }
      if (f.openedAt === 0) f.openedAt = now();
      try {
        for await (const item of readSse(res.body)) {
          if ('comment' in item) continue;
          if (item.event === 'end') {
            f.ended = true;
            break;
          }
          if (item.event !== 'log') continue;
          const at = now();
          const ev = JSON.parse(item.data) as { offset: number; b64: string; dropped?: number };
          const data = ev.dropped !== undefined ? Buffer.alloc(0) : Buffer.from(ev.b64, 'base64');
          const end = ev.offset + (ev.dropped ?? data.length);
          if (ev.offset > f.size) f.gapBytes += ev.offset - f.size;
          if (ev.dropped !== undefined) f.gapBytes += ev.dropped;
          const fresh = ev.offset < f.size ? data.subarray(Math.min(data.length, f.size - ev.offset)) : data;
          if (ev.offset < f.size) f.overlapBytes += Math.min(data.length, f.size - ev.offset);
          if (fresh.length > 0) f.bytes.push(fresh);
          f.size = Math.max(f.size, end);
          // Whole lines only: an event may end mid-line.
          const lines = (partial + fresh.toString('latin1')).split('\n');
          partial = lines.pop()!;
          for (const line of lines) {
            const l = parseLine(line);
            // Only lines printed after the stream was open: a line caught up from the store is old news.
            if (l && l.printedAtMs >= f.openedAt) this.latency.push({ printedAtMs: l.printedAtMs, ms: at - l.printedAtMs });
          }
        }
      } catch (e) {
        if (this.ac.signal.aborted) return;
        this.fail(`stream: ${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).name}`);
      }
      if (!f.ended && !this.ac.signal.aborted) f.reconnects++;
    }
  }
}
