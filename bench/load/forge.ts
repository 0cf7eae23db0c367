// The webhook generator: signed GitHub push deliveries sent open-loop at a fixed rate, as forges
// send them whatever the answers take. Like a forge it redelivers a refused delivery (429, 503,
// no answer) later under the same delivery id, after Retry-After; and some deliveries are
// deliberate resends of an id sent a little earlier, which the intake's dedup must absorb.
//
// The mix (docs/BENCHMARKS.md, "The fleet under load"): two cores cannot make 100 pipelines a
// second, so most deliveries push refs the project's ref filter turns away at the intake (the
// cheap path: recorded `ignored`, no git work); a few push `skip/*` refs that pass the filter and
// are turned away by the pipeline file's `workflow: rules` (the expensive refusal: git, compile);
// a known number push `load/*` refs, one pipeline each.

import { createRequire } from 'node:module';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';

export type DeliveryKind = 'pipeline' | 'workflow' | 'filtered';

export interface Delivery {
  id: string;
  kind: DeliveryKind;
  ref: string;
  phase: number;
  /** Sends of this id so far, resends and redeliveries included. */
  sends: number;
  /** Answered 2xx at least once: the intake owes it a record. */
  acked: boolean;
  /** Statuses of its answers. */
  statuses: number[];
}

/** How often a send is a deliberate resend of an earlier id (not a redelivery after a refusal). */
const RESEND_EVERY = 20;
/** A refused delivery is redelivered at most this many times; past it the forge gives up. */
const MAX_SENDS = 40;
const SEND_TIMEOUT_MS = 30_000;
/**
 * Requests the forge has open at once. Open loop without a cap, a server that stops answering
 * makes the sender hold 300 new sockets a second for 30 s each: the bench process ran out of file
 * descriptors (20,000) in phase 2. A forge's senders are finite too; a send past the cap waits
 * its turn here, and the wait is counted (`held`).
 */
const MAX_INFLIGHT = 512;

export interface ForgeCounts {
  sent: number;
  /** Answers by status, and failures without an answer. */
  byStatus: Map<string, number>;
  redeliveries: number;
  resends: number;
  /** 5xx other than a 503 with Retry-After, 429 without it, or any other unexpected answer. */
  unexpected: string[];
  /** Sends that waited for one of the forge's MAX_INFLIGHT places. */
  held: number;
}

interface Example {
  name: string;
  examples: Array<Record<string, unknown>>;
}

export class Forge {
  readonly deliveries = new Map<string, Delivery>();
  /** Per phase (index), what was sent and answered. */
  readonly counts: ForgeCounts[] = [];
  private readonly order: string[] = [];
  private readonly payload: Record<string, unknown>;
  private inflight = 0;
  private readonly places: Array<() => void> = [];
  private pending = new Set<Promise<void>>();
  private seq = 0;
  private rand = 12345;
  stopped = false;
  /** The phase sends are counted in (the drain after the last is a phase too). */
  phaseNow = 0;

  constructor(
    private readonly urls: readonly string[],
    private readonly project: string,
    private readonly secret: string,
    sha: string,
  ) {
    const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as Example[];
    this.payload = structuredClone(examples.find((e) => e.name === 'push')!.examples.find((e) => e.created === true && String(e.ref).startsWith('refs/heads/'))!);
    this.payload.after = sha;
    this.payload.before = '0000000000000000000000000000000000000000';
  }

  private random(): number {
    // A fixed sequence: the same mix every run.
    this.rand = (this.rand * 1103515245 + 12345) % 2147483648;
    return this.rand / 2147483648;
  }

  private countsOf(phase: number): ForgeCounts {
    return (this.counts[phase] ??= { sent: 0, byStatus: new Map(), redeliveries: 0, resends: 0, unexpected: [], held: 0 });
  }

  /**
   * Sends `perSecond` deliveries a second for `seconds`, `pipelines` of them making one pipeline
   * each and as many turned away by `workflow: rules`, evenly spread; returns when the last is sent.
   */
  async phase(phase: number, perSecond: number, seconds: number, pipelines: number): Promise<void> {
    this.phaseNow = phase;
    const total = Math.round(perSecond * seconds);
    const t0 = performance.now();
    let i = 0;
    while (i < total && !this.stopped) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * perSecond) / 1000) + 1);
      for (; i < due; i++) {
        // Slot i makes a pipeline when floor(i * pipelines / total) steps; a workflow refusal half a step later.
        const makesPipeline = Math.floor(((i + 1) * pipelines) / total) > Math.floor((i * pipelines) / total);
        const refused = Math.floor(((i + 1) * pipelines + total / 2) / total) > Math.floor((i * pipelines + total / 2) / total);
        if (!makesPipeline && !refused && this.order.length > 0 && i % RESEND_EVERY === RESEND_EVERY - 1) {
          // A deliberate resend of one of the last 50 ids.
          const id = this.order[Math.max(0, this.order.length - 1 - Math.floor(this.random() * 50))]!;
          this.countsOf(phase).resends++;
          this.send(this.deliveries.get(id)!);
          continue;
        }
        const n = this.seq++;
        const kind: DeliveryKind = makesPipeline ? 'pipeline' : refused ? 'workflow' : 'filtered';
        const ref = kind === 'pipeline' ? `load/${n}` : kind === 'workflow' ? `skip/${n}` : `feature/${n}`;
        const d: Delivery = { id: `load-${n}`, kind, ref, phase, sends: 0, acked: false, statuses: [] };
        this.deliveries.set(d.id, d);
        this.order.push(d.id);
        this.send(d);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Waits for every send and redelivery under way (at most `ms`). */
  async settle(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    // Polled, not raced: a Promise.race over thousands of pending sends, again each time one of them
    // settles, leaves a reaction on every one of them per call (it filled 4 GB of heap in a drain).
    while (this.pending.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 500));
    return this.pending.size === 0;
  }

  get inFlight(): number {
    return this.inflight;
  }

  private send(d: Delivery, redelivery = false): void {
    const p = this.deliver(d, redelivery).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async deliver(d: Delivery, redelivery: boolean): Promise<void> {
    const c = this.countsOf(this.phaseNow);
    if (redelivery) c.redeliveries++;
    if (this.inflight >= MAX_INFLIGHT) {
      c.held++;
      while (this.inflight >= MAX_INFLIGHT) await new Promise<void>((r) => this.places.push(r));
    }
    c.sent++;
    d.sends++;
    this.inflight++;
    const body = Buffer.from(JSON.stringify({ ...this.payload, ref: `refs/heads/${d.ref}` }));
    // A load balancer in front of the two instances: each send goes to the next one.
    const url = this.urls[(d.sends + Number(d.id.slice(5))) % this.urls.length]!;
    let retryAfterS: number | null = null;
    try {
      const res = await fetch(`${url}/api/v1/webhooks/github/${this.project}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': d.id, ...signatureHeaders('github', body, this.secret) },
        body: new Uint8Array(body),
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
      const text = await res.text();
      const status = res.status;
      d.statuses.push(status);
      c.byStatus.set(String(status), (c.byStatus.get(String(status)) ?? 0) + 1);
      const retryAfter = res.headers.get('retry-after');
      if (status >= 200 && status < 300) d.acked = true;
      else if ((status === 429 || status === 503) && retryAfter !== null && /^\d+$/.test(retryAfter)) retryAfterS = Number(retryAfter);
      else {
        c.unexpected.push(`${status} ${retryAfter === null ? 'without' : 'with'} Retry-After: ${text.slice(0, 200)}`);
        retryAfterS = 5;
      }
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const why = err.name === 'TimeoutError' ? 'timeout' : (err.cause?.code ?? err.name);
      c.byStatus.set(why, (c.byStatus.get(why) ?? 0) + 1);
      retryAfterS = 5;
    } finally {
      this.inflight--;
      this.places.shift()?.();
    }
    if (retryAfterS === null || this.stopped || d.acked || d.sends >= MAX_SENDS) return;
    // As a forge does: later, under the same id, not before Retry-After, backing off as refusals
    // repeat (1, 2, 4 .. 60 s), with jitter so that the refused do not all return together.
    const backoffS = Math.min(60, 2 ** (d.sends - 1));
    await new Promise((r) => setTimeout(r, Math.max(retryAfterS!, backoffS) * 1000 + Math.random() * 1000));
    if (!this.stopped && !d.acked) this.send(d, true);
  }
}
