// Delayed jobs (`when: delayed`, docs/PIPELINE.md "Delayed jobs") are queued when their time
// comes. The time is in the store (`jobs.scheduled_at`), so every instance asks, once a second;
// the store queues each due job once, under its pipeline's lock, so instances asking together do
// no harm and a delayed job runs on time while any instance is up. Unlike the reaper (sweeper.ts),
// this needs no lease of healthy store first: queuing a due job late is the only risk of waiting.

import type { Store } from '../../store/store.js';

export interface DueJobsLog {
  warn(obj: object, msg: string): void;
}

export class DueJobs {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly log: DueJobsLog,
    private readonly everyMs = 1_000,
  ) {}

  start(): void {
    const tick = () => {
      // ±20% jitter so instances started together do not ask in lockstep.
      this.timer = setTimeout(() => void this.tick().finally(() => this.timer !== null && tick()), this.everyMs * (0.8 + Math.random() * 0.4));
      this.timer.unref();
    };
    tick();
  }

  /** Queues the jobs due now; how many. */
  async tick(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      return await this.store.fleet.promoteDueJobs(this.now());
    } catch (err) {
      this.log.warn({ err }, 'delayed jobs could not be queued; trying again in a second');
      return 0;
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
