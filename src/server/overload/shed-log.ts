// A storm of refused requests must not become a storm of log lines, each costing the event loop
// what the refusal saved: a refused request's own log lines are left out (it is counted in
// gantry_http_shed_total), and one warning every few seconds sums up what was refused.

import type { FastifyBaseLogger } from 'fastify';
import type { ShedReason } from '../metrics.js';
import type { RouteClass } from './route-class.js';

export class ShedLog {
  private readonly quiet = new WeakSet<object>();
  private counts = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly everyMs = 10_000,
  ) {
    this.timer = setInterval(() => this.flush(), everyMs);
    this.timer.unref();
  }

  record(request: object, cls: RouteClass, reason: ShedReason): void {
    this.quiet.add(request);
    const key = `${cls}/${reason}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Whether the request was refused by the overload protection (its request log lines are left out). */
  isShed(request: object): boolean {
    return this.quiet.has(request);
  }

  flush(): void {
    if (this.counts.size === 0) return;
    const shed = Object.fromEntries(this.counts);
    const total = [...this.counts.values()].reduce((a, n) => a + n, 0);
    this.counts = new Map();
    this.log.warn({ shed }, `refused ${total} requests at once in the last ${Math.round(this.everyMs / 1000)} s (429/503 with Retry-After)`);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
