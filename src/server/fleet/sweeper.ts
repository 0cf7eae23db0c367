// The periodic work every instance does (PROTOCOL.md §7, §12): end attempts whose lease, cancel
// or deadline ran out. Several instances sweep at once safely: each end is a conditional UPDATE
// that re-checks its condition under the row lock.
//
// An instance reaps only after its store has answered continuously for one lease length: after
// a restart or a database outage, agents get a full lease to reach a server and renew before
// anything is declared lost. Without this rule, every outage longer than a lease would kill
// every running job.

import type { SchedulerSettings } from '../../store/fleet.js';
import type { Store } from '../../store/store.js';

export interface SweeperLog {
  warn(obj: object, msg: string): void;
}

export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private healthySince: number | null = null;
  private running = false;
  private readonly periodic: { everyMs: number; last: number; run: (at: number) => Promise<void> }[] = [];

  constructor(
    private readonly store: Store,
    private readonly settings: SchedulerSettings,
    private readonly now: () => number,
    private readonly log: SweeperLog,
    private readonly everyMs = 1_000,
  ) {}

  /** Other periodic work (artifact expiry), run by the same ticks at most once per `everyMs`. */
  every(everyMs: number, run: (at: number) => Promise<void>): this {
    this.periodic.push({ everyMs, last: 0, run });
    return this;
  }

  start(): void {
    const tick = () => {
      // ±20% jitter so instances started together do not sweep in lockstep.
      this.timer = setTimeout(() => void this.tick().finally(tick), this.everyMs * (0.8 + Math.random() * 0.4));
      this.timer.unref();
    };
    tick();
  }

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const at = this.now();
      if (this.healthySince === null || at - this.healthySince < this.settings.leaseMs) {
        // Until a lease has passed, only watch the store: a failure restarts the clock.
        await this.store.ping();
        this.healthySince ??= at;
        return;
      }
      await this.store.fleet.sweep(at, this.settings);
      for (const p of this.periodic) {
        if (at - p.last < p.everyMs) continue;
        p.last = at;
        // Its failure is its own: it says nothing about whether leases may be reaped.
        await p.run(at).catch((err: unknown) => this.log.warn({ err }, 'periodic sweep failed; it runs again at its next turn'));
      }
    } catch (err) {
      this.healthySince = null;
      this.log.warn({ err }, 'sweep failed: the store does not answer; reaping waits for a lease of healthy store');
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
