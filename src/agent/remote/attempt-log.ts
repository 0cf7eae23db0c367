// One attempt's log on its way to the server (PROTOCOL.md §9): output is masked, appended to a
// spool file on disk, and uploaded from there in order, one request in flight, by byte offset.
// Bytes leave the spool's accounting only when the server has acknowledged them as durable, so
// output produced while the server is down is delivered when it comes back, and a resend after a
// lost answer is harmless (the server ignores bytes it has).

import fs from 'node:fs';
import { Backoff, untilAnswered, woken, type ProtocolClient } from './protocol-client.js';

const MASK = Buffer.from('[MASKED]');
/** GitLab's rule: shorter values are not masked (they would blot out ordinary output). */
const MIN_SECRET = 4;

/**
 * Replaces secret values in a stream cut anywhere. It holds back only the end of the output that
 * could be the start of a secret (so ordinary output is not delayed) until the next chunk shows
 * whether the secret follows. Multi-line values are masked line by line, since a terminal may
 * rewrite line ends.
 */
export class LogMasker {
  private readonly secrets: Buffer[];
  private readonly hold: number;
  private held = Buffer.alloc(0);

  constructor(values: readonly string[]) {
    const parts = new Set<string>();
    for (const v of values) for (const line of v.split(/\r?\n/)) if (line.length >= MIN_SECRET) parts.add(line);
    this.secrets = [...parts].map((p) => Buffer.from(p)).sort((a, b) => b.length - a.length);
    this.hold = this.secrets.length ? this.secrets[0]!.length - 1 : 0;
  }

  push(chunk: Buffer): Buffer {
    if (this.secrets.length === 0) return chunk;
    const buf = this.mask(this.held.length ? Buffer.concat([this.held, chunk]) : chunk);
    const cut = this.pendingFrom(buf);
    this.held = Buffer.from(buf.subarray(cut));
    return buf.subarray(0, cut);
  }

  flush(): Buffer {
    const out = this.held;
    this.held = Buffer.alloc(0);
    return out;
  }

  /** Where the longest end of `buf` that is a proper prefix of some secret begins (buf.length if none). */
  private pendingFrom(buf: Buffer): number {
    const from = Math.max(0, buf.length - this.hold);
    let best = buf.length;
    for (const s of this.secrets) {
      const first = s[0]!;
      for (let p = Math.max(from, buf.length - (s.length - 1)); p < best; p++) {
        if (buf[p] === first && buf.subarray(p).equals(s.subarray(0, buf.length - p))) {
          best = p;
          break;
        }
      }
    }
    return best;
  }

  private mask(buf: Buffer): Buffer {
    for (const s of this.secrets) {
      let at = buf.indexOf(s);
      if (at < 0) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at >= 0) {
        parts.push(buf.subarray(from, at), MASK);
        from = at + s.length;
        at = buf.indexOf(s, from);
      }
      parts.push(buf.subarray(from));
      buf = Buffer.concat(parts);
    }
    return buf;
  }
}

export type UploadEnd = { kind: 'delivered' } | { kind: 'fenced'; reason: string } | { kind: 'stopped' };

/** The spool file and its uploader. */
export class AttemptLog {
  private readonly fd: number;
  private end = 0;
  private acked = 0;
  /** When each not yet acknowledged range was produced: [offset, epoch ms]. */
  private marks: [number, number][] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private readonly done: Promise<UploadEnd>;

  constructor(
    private readonly file: string,
    private readonly client: ProtocolClient,
    private readonly attemptId: number,
    private readonly token: string,
    private readonly maxChunk: number,
    backoffCapMs: number,
    private readonly signal: AbortSignal,
    /** The server's size limit (PROTOCOL.md §9): unsent bytes it would drop are not sent. */
    private readonly limit: { headBytes: number; tailBytes: number } | null = null,
  ) {
    this.fd = fs.openSync(file, 'w+', 0o600);
    this.done = this.upload(new Backoff(backoffCapMs));
  }

  get size(): number {
    return this.end;
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0 || this.closed) return;
    fs.writeSync(this.fd, chunk, 0, chunk.length, this.end);
    this.marks.push([this.end, Date.now()]);
    this.end += chunk.length;
    this.wake?.();
  }

  /** No more output: resolves when every byte is acknowledged, or the attempt was fenced. */
  finish(): Promise<UploadEnd> {
    this.closed = true;
    this.wake?.();
    return this.done;
  }

  dispose(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    fs.rmSync(this.file, { force: true });
  }

  private producedAt(offset: number): number {
    let t = Date.now();
    for (const [o, at] of this.marks) {
      if (o > offset) break;
      t = at;
    }
    return t;
  }

  private async upload(backoff: Backoff): Promise<UploadEnd> {
    for (;;) {
      if (this.signal.aborted) return { kind: 'stopped' };
      if (this.acked >= this.end) {
        if (this.closed) return { kind: 'delivered' };
        await woken(this.signal, (w) => (this.wake = w));
        continue;
      }
      const start = this.acked;
      // Past the head, bytes older than the last tailBytes are already in the middle the server
      // drops: when the backlog holds such bytes (the server was away while the job printed),
      // send their range without them.
      const dropTo = this.limit && start >= this.limit.headBytes ? this.end - this.limit.tailBytes : 0;
      const drop = dropTo > start;
      const stop = drop ? dropTo : Math.min(this.end, start + this.maxChunk);
      const bytes = Buffer.allocUnsafe(drop ? 0 : stop - start);
      // The spool holds every byte below `end` (written before `end` moved), so one read fills it.
      if (!drop) bytes.fill(0, fs.readSync(this.fd, bytes, 0, bytes.length, start));
      let a;
      try {
        a = await untilAnswered(
          () =>
            this.client.request('PATCH', `/agent/attempts/${this.attemptId}/log`, {
              bytes,
              headers: {
                'content-range': `bytes ${start}-${stop - 1}/*`,
                'gantry-attempt-token': this.token,
                'gantry-produced-at': String(this.producedAt(start)),
                ...(drop ? { 'gantry-log-dropped': 'true' } : {}),
              },
            }),
          backoff,
          this.signal,
        );
      } catch {
        return { kind: 'stopped' };
      }
      const body = a.body as { received?: number; error?: { received?: number; message?: string } } | null;
      if (a.status === 200) {
        this.acked = body?.received ?? stop;
        this.marks = this.marks.filter(([o], i, all) => o >= this.acked || (all[i + 1]?.[0] ?? Infinity) > this.acked);
      } else if (a.code === 'GANTRY_E_LOG_GAP') {
        this.acked = Number(a.headers.get('gantry-log-received') ?? body?.error?.received ?? 0);
      } else if (a.code === 'GANTRY_E_ATTEMPT_NOT_STARTED') {
        await backoff.wait(this.signal);
      } else {
        return { kind: 'fenced', reason: `${a.code ?? a.status}: ${body?.error?.message ?? ''}` };
      }
    }
  }
}
