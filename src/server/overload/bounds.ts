// Work in flight per class, and live streams per caller. A request past its bound is refused at
// once, never queued: a queue in front of a saturated server only turns a burst into timeouts for
// everyone, the agents' requests behind it included.

import type { RouteClass } from './route-class.js';

export type BoundedClass = 'read' | 'write' | 'webhook' | 'sign-in' | 'stream';

/**
 * Why a request was not let in: its class is full, its class's bodies would pass their byte
 * budget, or its caller has its share of streams open.
 */
export type Refusal = 'class' | 'bytes' | 'caller';

export class InflightBounds {
  private readonly inflight = new Map<RouteClass, number>();
  private readonly streamsOf = new Map<string, number>();
  private readonly bytes = new Map<RouteClass, number>();

  /**
   * `limits`: per class, 0 for none; `streamsPerCaller`: 0 for none; `byteBudgets`: per class, the
   * bodies' bytes that may be in flight at once (0 or absent for none).
   */
  constructor(
    private readonly limits: Readonly<Record<BoundedClass, number>>,
    private readonly streamsPerCaller: number,
    private readonly byteBudgets: Readonly<Partial<Record<BoundedClass, number>>> = {},
  ) {}

  bytesOf(cls: RouteClass): number {
    return this.bytes.get(cls) ?? 0;
  }

  budgetOf(cls: RouteClass): number {
    return this.byteBudgets[cls as BoundedClass] ?? 0;
  }

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
  enter(cls: RouteClass, caller: string | null, bodyBytes = 0): (() => void) | Refusal {
    const limit = this.limitOf(cls);
    const now = this.count(cls);
    if (limit > 0 && now >= limit) return 'class';
    // The first request in is let in whatever its size: its route's body limit still holds it.
    const budget = this.budgetOf(cls);
    const claimed = budget > 0 ? bodyBytes : 0;
    if (claimed > 0 && now > 0 && this.bytesOf(cls) + claimed > budget) return 'bytes';
    const perCaller = cls === 'stream' && caller !== null ? caller : null;
    if (perCaller !== null && this.streamsPerCaller > 0 && (this.streamsOf.get(perCaller) ?? 0) >= this.streamsPerCaller) return 'caller';
    this.inflight.set(cls, now + 1);
    if (claimed > 0) this.bytes.set(cls, this.bytesOf(cls) + claimed);
    if (perCaller !== null) this.streamsOf.set(perCaller, (this.streamsOf.get(perCaller) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inflight.set(cls, this.count(cls) - 1);
      if (claimed > 0) this.bytes.set(cls, this.bytesOf(cls) - claimed);
      if (perCaller === null) return;
      const n = (this.streamsOf.get(perCaller) ?? 1) - 1;
      if (n > 0) this.streamsOf.set(perCaller, n);
      else this.streamsOf.delete(perCaller);
    };
  }
}
