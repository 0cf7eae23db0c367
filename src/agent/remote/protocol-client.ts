// The agent's HTTP side of the protocol (docs/PROTOCOL.md): one request helper that knows which
// failures are worth retrying (the server down or overloaded) and which are answers (4xx with a
// code), and a backoff that retries the former with full jitter until told to stop.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ProtocolAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or null (204, a non-JSON body). */
  body: unknown;
  /** `error.code` of an error answer. */
  code: string | null;
}

export class Unreachable extends Error {
  override readonly name = 'Unreachable';
}

export interface RequestOptions {
  json?: unknown;
  bytes?: Buffer;
  /** The type of `bytes` (default application/octet-stream). */
  contentType?: string;
  /** A file sent as the body (octet-stream, with its Content-Length), read as the socket takes it. */
  file?: string;
  /** A 2xx answer's body is written to this file instead of parsed (an error answer is still parsed). */
  saveTo?: string;
  headers?: Record<string, string>;
  /** The whole request's limit; with `file` or `saveTo`, how long the transfer may stall instead. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Statuses that mean "the server is not answering properly now": retry the same request later. */
export function isTransient(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

export class ProtocolClient {
  private token: string | null;

  constructor(
    readonly baseUrl: string,
    token: string | null,
  ) {
    this.token = token;
  }

  setToken(token: string): void {
    this.token = token;
  }

  /** One request; throws Unreachable when no HTTP answer came (refused, reset, timed out). */
  async request(method: string, path: string, opts: RequestOptions = {}, bearer = this.token): Promise<ProtocolAnswer> {
    const headers: Record<string, string> = { ...opts.headers };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    // Archives may take longer than any fixed limit: a transfer fails when it stalls, not when it is long.
    const stall = opts.file !== undefined || opts.saveTo !== undefined ? new StallTimer(opts.timeoutMs ?? 60_000) : null;
    const timeout = stall?.signal ?? AbortSignal.timeout(opts.timeoutMs ?? 30_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const url = `${this.baseUrl}/api/v1${path}`;
    try {
      let answer: { status: number; headers: Headers; text: () => Promise<string> };
      if (opts.file !== undefined) {
        answer = await sendFile(method, url, headers, opts.file, stall!, signal);
      } else if (opts.bytes !== undefined) {
        answer = await sendBytes(method, url, { 'content-type': opts.contentType ?? 'application/octet-stream', ...headers }, opts.bytes, signal);
      } else {
        let body: BodyInit | undefined;
        if (opts.json !== undefined) {
          headers['content-type'] = 'application/json';
          body = JSON.stringify(opts.json);
        }
        let res: Response;
        try {
          res = await fetch(url, { method, headers, body, signal });
          if (opts.saveTo !== undefined && res.ok && res.body) {
            await pipeline(Readable.fromWeb(res.body as never), (src: AsyncIterable<Buffer>) => metered(src, stall!), fs.createWriteStream(opts.saveTo));
            return { status: res.status, headers: res.headers, body: null, code: null };
          }
        } catch (e) {
          // The local file failing (disk full) is not the server's absence; fetch's own errors carry no syscall.
          if ((e as NodeJS.ErrnoException).syscall !== undefined) throw e;
          throw new Unreachable(`${method} ${path}: ${(e as Error).message}`);
        }
        answer = { status: res.status, headers: res.headers, text: () => res.text() };
      }
      let parsed: unknown = null;
      try {
        const text = await answer.text();
        parsed = text ? JSON.parse(text) : null;
      } catch (e) {
        if ((e as Error).name === 'AbortError' || (e as Error).name === 'TimeoutError') throw new Unreachable(`${method} ${path}: ${(e as Error).message}`);
        parsed = null;
      }
      const code = (parsed as { error?: { code?: string } } | null)?.error?.code ?? null;
      return { status: answer.status, headers: answer.headers, body: parsed, code };
    } finally {
      stall?.stop();
    }
  }
}

/** Connections kept open between byte uploads (one attempt's log chunks follow each other closely). */
const keepAlive = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/**
 * Bytes as the request body (log chunks), through node:http on kept-alive connections rather than
 * fetch: a job printing steadily makes an upload every few milliseconds, and fetch's Request,
 * Response and web streams cost the agent several times what the request itself does (the logs
 * bench: a third of a busy agent's CPU). A request that meets a kept-alive connection the server
 * has just closed is sent again at once on a new one: it never reached the server.
 */
async function sendBytes(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  signal: AbortSignal,
): Promise<{ status: number; headers: Headers; text: () => Promise<string> }> {
  const target = new URL(url);
  const once = () =>
    new Promise<{ status: number; headers: Headers; text: () => Promise<string> }>((resolve, reject) => {
      const secure = target.protocol === 'https:';
      const req = (secure ? https : http).request(target, {
        method,
        agent: secure ? keepAlive.https : keepAlive.http,
        headers: { ...headers, 'content-length': String(body.length) },
        signal,
      });
      req.on('error', (e) => reject(Object.assign(e, { reused: req.reusedSocket })));
      req.on('response', (res) => collectAnswer(res, resolve, reject));
      req.end(body);
    });
  try {
    try {
      return await once();
    } catch (e) {
      if (!(e as { reused?: boolean }).reused || (e as NodeJS.ErrnoException).code !== 'ECONNRESET' || signal.aborted) throw e;
      return await once();
    }
  } catch (e) {
    throw new Unreachable(`${method} ${target.pathname}: ${(e as Error).message}`);
  }
}

/**
 * A file as the request body, through node:http rather than fetch: fetch (undici, Node 20) reads
 * a streamed body ahead of the socket, so a 300 MB archive took 300 MB of the agent's memory;
 * here the file is read only as fast as the socket drains.
 */
async function sendFile(
  method: string,
  url: string,
  headers: Record<string, string>,
  file: string,
  stall: StallTimer,
  signal: AbortSignal,
): Promise<{ status: number; headers: Headers; text: () => Promise<string> }> {
  const size = (await fs.promises.stat(file)).size;
  const source = fs.createReadStream(file);
  let fileError: Error | null = null;
  source.on('error', (e) => (fileError = e));
  const target = new URL(url);
  try {
    return await new Promise((resolve, reject) => {
      const req = (target.protocol === 'https:' ? https : http).request(target, {
        method,
        headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(size) },
        signal,
      });
      req.on('error', reject);
      req.on('response', (res) => {
        res.on('data', () => stall.touch());
        collectAnswer(res, resolve, reject);
      });
      // An answer before the whole body was sent (a refusal) still counts: the request's own
      // errors and its answer decide, not how the upload ended (the stall timer bounds a hang).
      pipeline(source, (src: AsyncIterable<Buffer>) => metered(src, stall), req).catch(() => {
        if (fileError) reject(fileError);
      });
    });
  } catch (e) {
    if (fileError) throw fileError;
    throw new Unreachable(`${method} ${target.pathname}: ${(e as Error).message}`);
  } finally {
    source.destroy();
  }
}

/** Aborts its signal when `touch` has not been called for `ms`. */
class StallTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout;
  readonly signal = this.controller.signal;

  constructor(private readonly ms: number) {
    this.timer = this.arm();
  }

  private arm(): NodeJS.Timeout {
    return setTimeout(() => this.controller.abort(new DOMException(`no progress for ${this.ms} ms`, 'TimeoutError')), this.ms);
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

async function* metered(src: AsyncIterable<Buffer>, stall: StallTimer): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    stall.touch();
    yield chunk;
  }
}

/**
 * "Full jitter" backoff per channel (PROTOCOL.md §12): the n-th consecutive failure waits
 * random(0, min(cap, 250 ms * 2^n)); a success resets it.
 */
export class Backoff {
  private failures = 0;
  constructor(private readonly capMs: number) {}

  reset(): void {
    this.failures = 0;
  }

  async wait(signal?: AbortSignal, retryAfterMs?: number): Promise<void> {
    const ceiling = Math.min(this.capMs, 250 * 2 ** Math.min(this.failures++, 20));
    const ms = Math.max(retryAfterMs ?? 0, Math.random() * ceiling);
    await sleep(ms, signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits until the function handed to `setWake` is called or `signal` aborts. The abort listener
 * goes when the wait ends: these waits repeat for the agent's whole life on one long-lived signal,
 * and listeners left behind piled up (thousands an hour for a busy attempt's upload loop, each
 * making the next addEventListener slower).
 */
export function woken(signal: AbortSignal, setWake: (wake: (() => void) | null) => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    function done() {
      signal.removeEventListener('abort', done);
      setWake(null);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
    setWake(done);
  });
}

/**
 * Sends a request until it gets an answer that is not transient: the server down, restarting or
 * overloaded makes this wait and retry, never give up (a job's log and result must get through
 * once the server is back). Stops only when `signal` aborts (then throws Unreachable).
 */
export async function untilAnswered(
  send: () => Promise<ProtocolAnswer>,
  backoff: Backoff,
  signal?: AbortSignal,
): Promise<ProtocolAnswer> {
  for (;;) {
    if (signal?.aborted) throw new Unreachable('stopped');
    try {
      const a = await send();
      if (!isTransient(a.status)) {
        backoff.reset();
        return a;
      }
      const retryAfter = Number(a.headers.get('retry-after'));
      await backoff.wait(signal, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
    } catch (e) {
      if (!(e instanceof Unreachable)) throw e;
      await backoff.wait(signal);
    }
  }
}

/** A node:http answer read whole, in the shape the client's callers read (fetch's). */
function collectAnswer(
  res: http.IncomingMessage,
  resolve: (a: { status: number; headers: Headers; text: () => Promise<string> }) => void,
  reject: (e: Error) => void,
): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('error', reject);
  res.on('end', () => {
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
    const text = Buffer.concat(chunks).toString();
    resolve({ status: res.statusCode ?? 0, headers: h, text: async () => text });
  });
}
