// Server-Sent Events on a hijacked Fastify reply: the framing (event, id, data lines), keep-alive
// comments so proxies keep the connection, and a registry so the server's shutdown ends every open
// stream (a stream never finishes by itself, and a graceful close waits for open connections).
//
// Status streams degrade before anything fails: while the server is strained (a busy event loop,
// or half its stream places taken: overload/overload.ts) each one sends at most one update a
// second, and re-reads the store for what nobody announced every 10 s instead of every tick. Every
// update is the whole current state of what changed, so one that is skipped is carried by the
// next: a viewer sees fewer steps, never a wrong state. (Log streams are not paced: their bytes
// are all sent, in order, as the socket takes them; logs/stream.ts.)

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StreamAccess } from './stream-access.js';

const KEEP_ALIVE_MS = 15_000;

export interface SseStream {
  /** One event; `data` is sent as JSON on one line. False once the stream is closed. */
  send(event: string, data: unknown, id?: string): boolean;
  readonly closed: boolean;
  /** Called once when the client goes away or the server ends the stream. */
  onClose(fn: () => void): void;
  end(): void;
  /** Whether the server is strained now: fewer updates, fewer re-reads. */
  strained(): boolean;
}

/** The open streams of one server; `closeAll` at shutdown. */
export class SseStreams {
  private readonly open = new Set<SseStream>();

  /**
   * `access`: ends a stream whose caller may no longer have it (stream-access.ts); `strained`:
   * whether streams should send fewer updates now.
   */
  constructor(
    private readonly access: StreamAccess | null = null,
    private readonly strained: () => boolean = () => false,
  ) {}

  start(request: FastifyRequest, reply: FastifyReply): SseStream {
    const strained = this.strained;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx and friends buffer responses unless told not to.
      'x-accel-buffering': 'no',
    });
    // Tells EventSource-like clients how long to wait before reconnecting.
    res.write('retry: 2000\n\n');
    const closers: (() => void)[] = [];
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      unwatch();
      clearInterval(keepAlive);
      this.open.delete(stream);
      for (const fn of closers) fn();
      if (!res.writableEnded) res.end();
    };
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    keepAlive.unref();
    const unwatch = this.access?.watch(request, () => close()) ?? (() => {});
    request.raw.on('close', close);
    res.on('error', close);
    const stream: SseStream = {
      send(event, data, id) {
        if (closed) return false;
        res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
        return true;
      },
      get closed() {
        return closed;
      },
      onClose(fn) {
        closers.push(fn);
      },
      end: close,
      strained,
    };
    this.open.add(stream);
    return stream;
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const s of [...this.open]) s.end();
  }
}

/** Changes within this window are sent as one. */
const COALESCE_MS = 100;
/** While strained, a stream's updates are at least this far apart. */
export const STRAINED_GAP_MS = 1_000;
/** While strained, a stream re-reads what nobody announces this often, whatever its tick. */
export const STRAINED_TICK_MS = 10_000;

/**
 * Runs `work` after COALESCE_MS, at most one at a time; a request that arrives while it runs
 * runs it again afterwards, so the last change is always sent. While `strained()` says so, runs
 * start at least STRAINED_GAP_MS apart.
 */
export function coalescer(work: () => Promise<void>, onError: (err: unknown) => void, strained: () => boolean = () => false) {
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let again = false;
  let lastStart = -Infinity;
  const run = async () => {
    timer = null;
    if (running) return void (again = true);
    running = true;
    lastStart = Date.now();
    try {
      await work();
    } catch (err) {
      onError(err);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (timer) return;
    const delay = strained() ? Math.max(COALESCE_MS, lastStart + STRAINED_GAP_MS - Date.now()) : COALESCE_MS;
    timer = setTimeout(() => void run(), delay);
  };
  return { schedule, cancel: () => timer && clearTimeout(timer) };
}

/**
 * Calls `fn` every `tickMs` while the stream is open, and only every STRAINED_TICK_MS while the
 * server is strained: with many streams open, their safety re-reads are most of their cost.
 */
export function safetyTick(stream: SseStream, tickMs: number, fn: () => void): void {
  let last = Date.now();
  const tick = setInterval(() => {
    const now = Date.now();
    if (stream.strained() && now - last < STRAINED_TICK_MS) return;
    last = now;
    fn();
  }, tickMs);
  stream.onClose(() => clearInterval(tick));
}

/**
 * Keeps a stream's one `event` up to date: `first` (read before the stream started, so that a
 * failed read is still an HTTP error) is sent at once, then `read()` again after each wake-up
 * (coalesced) and every `tickMs`, sent only when its JSON changed. The wake-ups are hints, the
 * store is the truth: a lost one costs at most a tick.
 */
export function followSnapshot(
  stream: SseStream,
  event: string,
  first: unknown,
  read: () => Promise<unknown>,
  opts: { tickMs: number; subscribe(wake: () => void): () => void; onError(err: unknown): void },
): void {
  let last = '';
  const sendIfChanged = (data: unknown) => {
    const text = JSON.stringify(data);
    if (text !== last && stream.send(event, data)) last = text;
  };
  sendIfChanged(first);
  const c = coalescer(async () => sendIfChanged(await read()), opts.onError, stream.strained);
  const unsubscribe = opts.subscribe(c.schedule);
  safetyTick(stream, opts.tickMs, c.schedule);
  stream.onClose(() => {
    unsubscribe();
    c.cancel();
  });
}
