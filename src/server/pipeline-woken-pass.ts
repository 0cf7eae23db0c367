// A background pass that runs when any pipeline moves (here, or on another instance through the
// store's NOTIFY) and on a jittered timer besides, so whatever a crash or a lost notice left is
// picked up by the next tick: the forge status reporter and the downstream runner each own one.
// A burst of moves makes one pass; a pass asked for while one runs runs right after it.

import type { Store } from '../store/store.js';

export interface PassLog {
  warn(obj: object, msg: string): void;
}

export class PipelineWokenPass {
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly onPipeline = () => this.wake();

  /** `pass` does one batch and says whether more is waiting (then it runs again at once). */
  constructor(
    private readonly store: Store,
    private readonly pass: () => Promise<boolean>,
    private readonly log: PassLog,
    private readonly what: string,
    private readonly everyMs = 1_000,
  ) {}

  start(): void {
    this.store.fleet.events.on('pipeline', this.onPipeline);
    const tick = () => {
      if (this.stopped) return;
      // ±20% jitter so instances started together do not ask in lockstep.
      this.timer = setTimeout(() => void this.drain().finally(tick), this.everyMs * (0.8 + Math.random() * 0.4));
      this.timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.store.fleet.events.off('pipeline', this.onPipeline);
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
    await this.draining;
  }

  private wake(): void {
    if (this.stopped || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.drain();
    }, 20);
    this.soon.unref();
  }

  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          if (await this.pass()) this.again = true;
        } while (this.again && !this.stopped);
      } catch (err) {
        this.log.warn({ err }, `${this.what} failed; the next tick tries again`);
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }
}
