// One attempt's log on its way to the server (PROTOCOL.md §9): output is masked, appended to a
// spool file on disk, and uploaded from there in order by byte offset, in the agent's batched
// uploads (or, to a server without them, one request of its own in flight).
// Bytes leave the spool's accounting only when the server has acknowledged them as durable, so
// output produced while the server is down is delivered when it comes back, and a resend after a
// lost answer is harmless (the server ignores bytes it has).

import { LOG_PARTS_TYPE } from '../../domain/version.js';
import { Backoff, sleep, untilAnswered, woken, type ProtocolAnswer, type ProtocolClient } from './protocol-client.js';
import { ProducedTimes, SpoolFile, type SizeLimit } from './spool.js';

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

/** One upload's worth of an attempt's stream: [start, stop), its bytes (null: a dropped range), when its first byte was produced. */
export interface LogPartOut {
  start: number;
  stop: number;
  bytes: Buffer | null;
  producedAt: number;
}

/** What the server said about one part (PROTOCOL.md §9): stored up to `received`, or refused with a code. */
export type PartAnswer = { ok: true; received: number } | { ok: false; code: string | null; received?: number; message?: string };

/**
 * The spool file of one attempt and what the server has acknowledged of it. Bytes leave the
 * accounting only when acknowledged; whoever carries them (an attempt's own upload loop, or the
 * agent's batched uploads) asks for the next part and reports the answer.
 */
export class AttemptLog {
  private readonly spool: SpoolFile;
  private readonly times: ProducedTimes;
  private acked = 0;
  private closed = false;
  private result: UploadEnd | null = null;
  private settle!: (r: UploadEnd) => void;
  private readonly done = new Promise<UploadEnd>((r) => (this.settle = r));
  /** Told when there is something new to send, or the log is closed. */
  onChange: (() => void) | null = null;
  /** A carrier holds the log back until then (the server said: not started yet). */
  notBefore = 0;

  constructor(
    file: string,
    readonly attemptId: number,
    readonly token: string,
    private readonly maxChunk: number,
    /** The server's size limit (PROTOCOL.md §9): unsent bytes it would drop are not sent, nor kept. */
    private readonly limit: SizeLimit | null = null,
  ) {
    this.spool = new SpoolFile(file, limit);
    this.times = new ProducedTimes(limit);
  }

  get size(): number {
    return this.end;
  }

  private get end(): number {
    return this.spool.size;
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0 || this.closed) return;
    const at = this.end;
    this.spool.append(chunk);
    this.times.mark(at, Date.now());
    this.times.prune(this.acked, this.end);
    this.onChange?.();
  }

  /** No more output: resolves when every byte is acknowledged, or the attempt was fenced or stopped. */
  finish(): Promise<UploadEnd> {
    this.closed = true;
    this.checkDelivered();
    this.onChange?.();
    return this.done;
  }

  /** Bytes wait to be sent (and the log is still being carried). */
  get wants(): boolean {
    return this.result === null && this.acked < this.end;
  }

  get ended(): boolean {
    return this.result !== null;
  }

  /** Bytes not yet acknowledged (or carried) from `from` on. */
  pendingFrom(from: number): number {
    return this.result === null ? Math.max(0, this.end - from) : 0;
  }

  /** The next part to send, from the first unacknowledged byte: at most `maxBytes` (and the chunk limit) of bytes, or a dropped range. */
  nextPart(maxBytes = this.maxChunk): LogPartOut {
    return this.partAt(this.acked, maxBytes);
  }

  /** The part that starts at `start` (the end of a part already in the same request, or the first unacknowledged byte). */
  partAt(start: number, maxBytes = this.maxChunk): LogPartOut {
    // Past the head, bytes older than the last tailBytes are already in the middle the server
    // drops: when the backlog holds such bytes (the server was away while the job printed),
    // send their range without them. The spool keeps no more than that (spool.ts): what is
    // sent as bytes is read now, from the head or the last tailBytes.
    const dropTo = this.limit && start >= this.limit.headBytes ? this.end - this.limit.tailBytes : 0;
    if (dropTo > start) return this.handOut({ start, stop: dropTo, bytes: null, producedAt: this.times.at(start) });
    // A part in the head stops at its end: the bytes after it may be gone from the spool's ring.
    const headEnd = this.limit && start < this.limit.headBytes ? this.limit.headBytes : Infinity;
    const stop = Math.min(this.end, headEnd, start + Math.max(1, Math.min(maxBytes, this.maxChunk)));
    return this.handOut({ start, stop, bytes: this.spool.read(start, stop), producedAt: this.times.at(start) });
  }

  /** Every part handed out is sent and answered (`answer`): its stop may become the acknowledged offset. */
  private handOut(part: LogPartOut): LogPartOut {
    this.times.pin(part.stop);
    return part;
  }

  /** Takes the server's answer to a part: 'later' if the part should wait before it is sent again. */
  answer(part: LogPartOut, a: PartAnswer): 'go' | 'later' {
    const next = this.take(a);
    this.times.unpin(part.stop);
    return next;
  }

  private take(a: PartAnswer): 'go' | 'later' {
    if (this.result) return 'go';
    if (a.ok) {
      this.acked = Math.max(this.acked, a.received);
      this.times.prune(this.acked, this.end);
      this.checkDelivered();
      return 'go';
    }
    if (a.code === 'GANTRY_E_LOG_GAP') {
      // Resend from what the server has. Never below what it acknowledged: it keeps that, and a
      // gap answered to a later part of the same request may have been read before the earlier
      // part was stored (PostgreSQL runs batches side by side).
      this.acked = Math.max(this.acked, a.received ?? 0);
      this.times.prune(this.acked, this.end);
      return 'go';
    }
    if (a.code === 'GANTRY_E_ATTEMPT_NOT_STARTED') return 'later';
    this.end_({ kind: 'fenced', reason: `${a.code}: ${a.message ?? ''}` });
    return 'go';
  }

  /** Nothing more will be carried (the agent is stopping). */
  stop(): void {
    this.end_({ kind: 'stopped' });
  }

  dispose(): void {
    this.spool.remove();
  }

  private checkDelivered(): void {
    if (this.closed && this.acked >= this.end) this.end_({ kind: 'delivered' });
  }

  private end_(r: UploadEnd): void {
    if (this.result) return;
    this.result = r;
    this.settle(r);
    this.onChange?.();
  }
}

/**
 * One attempt's upload loop, one PATCH of its log in flight at a time (PROTOCOL.md §9): for a
 * server that does not take batched uploads. While a request is in flight, output accumulates;
 * the next request takes all of it, so uploads are immediate when output is slow and batched
 * when it is fast.
 */
export function uploadAlone(log: AttemptLog, client: ProtocolClient, backoffCapMs: number, signal: AbortSignal): void {
  const backoff = new Backoff(backoffCapMs);
  let wake: (() => void) | null = null;
  log.onChange = () => wake?.();
  void (async () => {
    while (!log.ended) {
      if (signal.aborted) return log.stop();
      if (!log.wants) {
        await woken(signal, (w) => (wake = w));
        continue;
      }
      const part = log.nextPart();
      let a: ProtocolAnswer;
      try {
        a = await untilAnswered(
          () =>
            client.request('PATCH', `/agent/attempts/${log.attemptId}/log`, {
              bytes: part.bytes ?? Buffer.alloc(0),
              headers: {
                'content-range': `bytes ${part.start}-${part.stop - 1}/*`,
                'gantry-attempt-token': log.token,
                'gantry-produced-at': String(part.producedAt),
                ...(part.bytes === null ? { 'gantry-log-dropped': 'true' } : {}),
              },
            }),
          backoff,
          signal,
        );
      } catch {
        return log.stop();
      }
      const body = a.body as { received?: number; error?: { received?: number; message?: string } } | null;
      const answer: PartAnswer =
        a.status === 200
          ? { ok: true, received: body?.received ?? part.stop }
          : { ok: false, code: a.code ?? `HTTP ${a.status}`, received: Number(a.headers.get('gantry-log-received') ?? body?.error?.received ?? 0), message: body?.error?.message };
      if (log.answer(part, answer) === 'later') await backoff.wait(signal);
    }
  })();
}

/** How long batched uploads wait, when output starts after a quiet moment, for the other jobs' output to join. */
const LINGER_MS = 5;
/** How long a log the server called not started waits before it is sent again. */
const NOT_STARTED_WAIT_MS = 250;

/**
 * The agent's batched log uploads (PROTOCOL.md §9, "Batched upload"): one request in flight for
 * all its attempts, carrying a part of each that has new output, the attempts taken in turn when
 * they do not all fit. A busy agent's jobs print at once; one request per job per burst of output
 * cost the agent and the server more than the bytes (the logs bench: 100 jobs printing 10 bursts
 * a second made ~1,000 requests a second, each ~1 ms of CPU on each side).
 */
export class LogBatches {
  private readonly logs = new Set<AttemptLog>();
  private wake: (() => void) | null = null;
  private turn = 0;

  constructor(
    private readonly client: ProtocolClient,
    private readonly maxBytes: number,
    backoffCapMs: number,
    private readonly signal: AbortSignal,
  ) {
    void this.run(new Backoff(backoffCapMs));
  }

  add(log: AttemptLog): void {
    this.logs.add(log);
    log.onChange = () => this.wake?.();
    if (this.signal.aborted) log.stop();
    this.wake?.();
  }

  remove(log: AttemptLog): void {
    this.logs.delete(log);
    log.onChange = null;
  }

  private async run(backoff: Backoff): Promise<void> {
    let idle = true;
    while (!this.signal.aborted) {
      const now = Date.now();
      for (const l of this.logs) if (l.ended) this.logs.delete(l);
      const ready = [...this.logs].filter((l) => l.wants && l.notBefore <= now);
      if (ready.length === 0) {
        const soonest = Math.min(...[...this.logs].filter((l) => l.wants).map((l) => l.notBefore));
        const timer = Number.isFinite(soonest) ? setTimeout(() => this.wake?.(), Math.max(1, soonest - now)) : null;
        await woken(this.signal, (w) => (this.wake = w));
        if (timer) clearTimeout(timer);
        idle = true;
        continue;
      }
      // Output that follows a quiet moment waits a little for the other jobs' output (if there
      // are other jobs); output that came while the last request was in flight goes at once (it
      // has waited already).
      if (idle && this.logs.size > 1) await sleep(LINGER_MS, this.signal);
      idle = false;
      const batch = this.take([...this.logs].filter((l) => l.wants && l.notBefore <= Date.now()));
      if (batch.length === 0) continue;
      const index = Buffer.from(
        JSON.stringify({
          parts: batch.map(({ log, part }) => ({
            attempt: log.attemptId,
            token: log.token,
            start: part.start,
            length: part.stop - part.start,
            producedAt: part.producedAt,
            ...(part.bytes === null ? { dropped: true } : {}),
          })),
        }),
      );
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32BE(index.length, 0);
      const body = Buffer.concat([head, index, ...batch.flatMap(({ part }) => (part.bytes ? [part.bytes] : []))]);
      let a: ProtocolAnswer;
      try {
        a = await untilAnswered(() => this.client.request('POST', '/agent/logs', { bytes: body, contentType: LOG_PARTS_TYPE }), backoff, this.signal);
      } catch {
        break;
      }
      const answers = a.status === 200 ? ((a.body as { parts?: unknown[] } | null)?.parts ?? []) : [];
      batch.forEach(({ log, part }, i) => {
        const x = answers[i] as { received?: number; error?: { code?: string; received?: number; message?: string } } | undefined;
        const answer: PartAnswer =
          a.status !== 200
            ? // The whole request was refused (an agent bug, or this agent deregistered): no part can go.
              { ok: false, code: a.code ?? `HTTP ${a.status}`, message: (a.body as { error?: { message?: string } } | null)?.error?.message }
            : x?.received !== undefined
              ? { ok: true, received: x.received }
              : { ok: false, code: x?.error?.code ?? null, received: x?.error?.received, message: x?.error?.message ?? 'no answer for this part' };
        if (answer.ok && answer.received < part.start) log.answer(part, { ok: false, code: 'GANTRY_E_LOG_GAP', received: answer.received });
        else if (log.answer(part, answer) === 'later') log.notBefore = Date.now() + NOT_STARTED_WAIT_MS;
      });
    }
    for (const l of this.logs) l.stop();
  }

  /**
   * Parts of each log that has output, starting with the one after the last batch's first,
   * within maxBytes: first a part of each, then more of those with more (a job printing fast
   * sends up to maxBytes a request, its parts one after the other, not one chunk).
   */
  private take(ready: AttemptLog[]): { log: AttemptLog; part: LogPartOut }[] {
    const out: { log: AttemptLog; part: LogPartOut }[] = [];
    let left = this.maxBytes;
    const first = this.turn++ % ready.length;
    const order = ready.map((_, k) => ready[(first + k) % ready.length]!);
    const next = new Map<AttemptLog, number>();
    for (let round = 0; left > 0 && out.length < 256; round++) {
      let added = false;
      for (const log of order) {
        if (left <= 0 || out.length >= 256) break;
        const from = round === 0 ? -1 : next.get(log);
        if (from === undefined) continue;
        if (from >= 0 && log.pendingFrom(from) === 0) continue;
        const part = from < 0 ? log.nextPart(left) : log.partAt(from, left);
        out.push({ log, part });
        next.set(log, part.stop);
        left -= part.bytes?.length ?? 0;
        added = true;
      }
      if (!added) break;
    }
    // A request answers its parts in order, so one log's parts stay in order within it.
    return out;
  }
}
