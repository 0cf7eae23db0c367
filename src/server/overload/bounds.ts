// Work in flight per class, and live streams per caller. A request past its bound is refused at
// once, never queued: a queue in front of a saturated server only turns a burst into timeouts for
// everyone, the agents' requests behind it included.

import type { RouteClass } from './route-class.js';

export type BoundedClass = 'read' | 'write' | 'webhook' | 'sign-in' | 'stream';

/** Why a request was not let in: its class is full, or its caller has its share of streams open. */
export type Refusal = 'class' | 'caller';

export class InflightBounds {
  private readonly inflight = new Map<RouteClass, number>();
  private readonly streamsOf = new Map<string, number>();

  /** `limits`: per class, 0 for none; `streamsPerCaller`: 0 for none. */
  constructor(
    private readonly limits: Readonly<Record<BoundedClass, number>>,
    private readonly streamsPerCaller: number,
  ) {}

  limitOf(cls: RouteClass): number {
    return cls in this.limits ? this.limits[cls as BoundedClass] : 0;
  }

  count(cls: RouteClass): number {
    return this.inflight.get(cls) ?? 0;
  }

  /**
   * Takes a place for a request of `cls` (a stream's also for `caller`, when known) and returns
   * the function that gives it back (call it once), or why there is none.
   */
  enter(cls: RouteClass, caller: string | null): (() => void) | Refusal {
    const limit = this.limitOf(cls);
    const now = this.count(cls);
    if (limit > 0 && now >= limit) return 'class';
    const perCaller = cls === 'stream' && caller !== null ? caller : null;
    if (perCaller !== null && this.streamsPerCaller > 0 && (this.streamsOf.get(perCaller) ?? 0) >= this.streamsPerCaller) return 'caller';
    this.inflight.set(cls, now + 1);
    if (perCaller !== null) this.streamsOf.set(perCaller, (this.streamsOf.get(perCaller) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inflight.set(cls, this.count(cls) - 1);
      if (perCaller === null) return;
      const n = (this.streamsOf.get(perCaller) ?? 1) - 1;
      if (n > 0) this.streamsOf.set(perCaller, n);
      else this.streamsOf.delete(perCaller);
    };
  }
}
