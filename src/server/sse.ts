// Server-Sent Events on a hijacked Fastify reply: the framing (event, id, data lines), keep-alive
// comments so proxies keep the connection, and a registry so the server's shutdown ends every open
// stream (a stream never finishes by itself, and a graceful close waits for open connections).

import type { FastifyReply, FastifyRequest } from 'fastify';

const KEEP_ALIVE_MS = 15_000;

export interface SseStream {
  /** One event; `data` is sent as JSON on one line. False once the stream is closed. */
  send(event: string, data: unknown, id?: string): boolean;
  readonly closed: boolean;
  /** Called once when the client goes away or the server ends the stream. */
  onClose(fn: () => void): void;
  end(): void;
}

/** The open streams of one server; `closeAll` at shutdown. */
export class SseStreams {
  private readonly open = new Set<SseStream>();

  start(request: FastifyRequest, reply: FastifyReply): SseStream {
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
      clearInterval(keepAlive);
      this.open.delete(stream);
      for (const fn of closers) fn();
      if (!res.writableEnded) res.end();
    };
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    keepAlive.unref();
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
