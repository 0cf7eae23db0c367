// The delivery queue: deliveries are recorded before the forge gets its 2xx, then taken from the
// store and turned into pipelines here. Any instance takes any due delivery (its own at once,
// through kick(); the others' by polling, after their claim lapsed because their instance died),
// so a crash right after the answer costs a delay, never a pipeline. Running one twice is
// harmless: the pipeline is created under the idempotency key `delivery <id>`, claimed in the
// pipeline's own transaction.

import type { FastifyBaseLogger } from 'fastify';
import { isGantryError, type ErrorCode } from '../../domain/errors.js';
import type { TriggeredBy } from '../../domain/triggered-by.js';
import type { Delivery, DeliveryEnd, Store } from '../../store/store.js';
import { createTriggeredPipeline, type PipelineTrigger, type TriggerDeps } from '../trigger.js';

export interface QueueOptions {
  /**
   * Deliveries processed at once by this instance. Each runs git several times (in the git
   * runner process, off this event loop) and compiles a pipeline (on it): two keep the
   * intake's answers quick on a small machine while a burst of pushes is worked off.
   */
  concurrency: number;
  /** How long a claim holds before another instance may take the delivery. */
  leaseMs: number;
  /** How often the store is asked for due deliveries besides kick(). */
  pollMs: number;
  /** Tries before a delivery that keeps failing transiently is given up as `failed`. */
  maxTries: number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = { concurrency: 2, leaseMs: 5 * 60_000, pollMs: 5_000, maxTries: 6 };

// The pipeline file's verdicts are final: running again gives the same answer for that commit.
const IGNORED: ReadonlySet<ErrorCode> = new Set(['GANTRY_E_PIPELINE_NOT_FOUND', 'GANTRY_E_PIPELINE_FILTERED']);
const FAILED: ReadonlySet<ErrorCode> = new Set(['GANTRY_E_PIPELINE_INVALID', 'GANTRY_E_REF_NOT_FOUND', 'GANTRY_E_NOT_FOUND']);

function triggerOf(d: Delivery): PipelineTrigger | null {
  const e = d.gitEvent;
  if (e === null) return null;
  return e.kind === 'push' ? { source: 'push', event: e } : { source: 'merge_request_event', event: e };
}

function triggeredBy(d: Delivery): TriggeredBy | null {
  const name = d.gitEvent?.actor;
  return name ? { kind: 'forge_user', provider: d.provider, name } : null;
}

export class DeliveryQueue {
  private active = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private claiming = false;
  private again = false;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly deps: TriggerDeps & { store: Store },
    private readonly log: FastifyBaseLogger,
    private readonly opts: QueueOptions = DEFAULT_QUEUE_OPTIONS,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.opts.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops taking deliveries; resolves when the ones running have ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.active > 0 || this.claiming) await new Promise<void>((r) => this.idle.add(r));
  }

  /** Takes due deliveries while there is room; cheap to call often (calls coalesce). */
  kick(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = true;
    void this.fill().finally(() => {
      this.claiming = false;
      this.wake();
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private wake(): void {
    if (this.active === 0 && !this.claiming) for (const r of this.idle) r();
    if (this.active === 0 && !this.claiming) this.idle.clear();
  }

  private async fill(): Promise<void> {
    while (!this.stopped && this.active < this.opts.concurrency) {
      let d: Delivery | null;
      try {
        d = await this.deps.store.claimDelivery(this.deps.now(), this.opts.leaseMs);
      } catch (e) {
        this.log.error({ err: e }, 'cannot take webhook deliveries from the store');
        return;
      }
      if (d === null) return;
      this.active++;
      void this.run(d).finally(() => {
        this.active--;
        this.wake();
        this.kick();
      });
    }
  }

  private async run(d: Delivery): Promise<void> {
    const end = await this.process(d);
    try {
      await this.deps.store.finishDelivery(d.id, end, this.deps.now());
    } catch (e) {
      // The claim lapses and the delivery is taken again; its pipeline, if made, is found by key.
      this.log.error({ err: e, delivery: d.id }, 'cannot record the end of a webhook delivery');
    }
  }

  private async process(d: Delivery): Promise<DeliveryEnd> {
    const trigger = triggerOf(d);
    if (trigger === null) return { status: 'ignored', reason: d.reason ?? 'nothing to run' };
    try {
      const project = await this.deps.store.getProject(d.projectId);
      if (!project) return { status: 'failed', reason: 'the project no longer exists' };
      const r = await createTriggeredPipeline(this.deps, project, trigger, { key: `delivery ${d.id}`, fingerprint: 'delivery' }, triggeredBy(d));
      return { status: 'done', pipelineId: r.pipeline.pipeline.id };
    } catch (e) {
      const code = isGantryError(e) ? e.code : 'GANTRY_E_INTERNAL';
      const reason = `${code}: ${e instanceof Error ? e.message : String(e)}`;
      if (IGNORED.has(code)) return { status: 'ignored', reason };
      if (FAILED.has(code) || d.tries >= this.opts.maxTries) {
        if (!FAILED.has(code)) this.log.error({ err: e, delivery: d.id }, 'webhook delivery given up');
        return { status: 'failed', reason };
      }
      // git or the store failed: try again later, 2 s, 8 s, 32 s, ... (a forge being down heals).
      this.log.warn({ delivery: d.id, reason }, 'webhook delivery will be tried again');
      return { status: 'queued', reason, dueAt: this.deps.now() + 2_000 * 4 ** (d.tries - 1) };
    }
  }
}
