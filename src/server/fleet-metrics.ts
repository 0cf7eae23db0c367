// The fleet's metrics (issue 19; names fixed for dashboards: docs/ops/): gauges read from the
// store at scrape time, the same on every instance (aggregate them with max), and this
// instance's histograms and counters of what it did (sum them).

import { Counter, Gauge, Histogram } from 'prom-client';
import type { FleetGauges, FleetStore, SchedulerSettings } from '../store/fleet.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';

/** A scrape of several gauges reads the store once; Prometheus servers scraping together share a read. */
const SNAPSHOT_MS = 2_000;

/** Histograms this instance observes where the events happen (the agent routes). */
export interface FleetMetrics {
  /** Ready to started, by the pool of the agent that started it. */
  queueDuration: Histogram<'pool'>;
  /** From when a poll found work (its arrival, or the wake-up that announced work) to its offers. */
  dispatchDuration: Histogram;
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function installFleetMetrics(metrics: Metrics, store: Store, settings: SchedulerSettings, now: () => number): FleetMetrics {
  const registers = [metrics.registry];
  let snapshot: { at: number; value: Promise<FleetGauges> } | null = null;
  const gauges = (): Promise<FleetGauges> => {
    const t = now();
    if (!snapshot || t - snapshot.at > SNAPSHOT_MS) snapshot = { at: t, value: store.fleet.fleetGauges(t, settings) };
    return snapshot.value;
  };
  // A store that cannot answer leaves the gauges out of this scrape (a gap, not a false zero).
  const read = () => gauges().catch(() => null);

  /** A gauge set afresh from the snapshot at each scrape: series that no longer apply go. */
  const fleetGauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (set: (labels: Record<L, string>, v: number) => void, g: FleetGauges) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        this.reset();
        const g = await read();
        if (g) fill((labels, v) => this.set(labels, v), g);
      },
    });

  fleetGauge('gantry_agents', 'Agents by pool and state (idle, busy, offline); the same on every instance', ['pool', 'state'], (set, g) => {
    for (const pool of g.pools) for (const state of ['idle', 'busy', 'offline']) set({ pool, state }, 0);
    for (const a of g.agents) set({ pool: a.pool, state: a.state }, a.count);
  });
  fleetGauge('gantry_jobs_running', 'Jobs running, by the pool they run in; the same on every instance', ['pool'], (set, g) => {
    for (const pool of g.pools) set({ pool }, 0);
    for (const r of g.running) set({ pool: r.pool }, r.count);
  });
  fleetGauge(
    'gantry_jobs_pending',
    'Jobs waiting to start, by each pool whose agents could take them ("" when none could) and the queue reason; the same on every instance',
    ['pool', 'reason'],
    (set, g) => {
      for (const p of g.pending) set({ pool: p.pool, reason: p.reason }, p.count);
    },
  );
  fleetGauge('gantry_oldest_pending_job_age_seconds', 'Age of the oldest job waiting to start, by pool (0: none waits); the same on every instance', ['pool'], (set, g) => {
    const t = now();
    for (const pool of g.pools) set({ pool }, 0);
    for (const o of g.oldestPendingAt) set({ pool: o.pool }, Math.max(0, (t - o.queuedAt) / 1000));
  });

  const finished = new Counter({
    name: 'gantry_job_attempts_finished_total',
    help: 'Attempts that ended on this instance, by status and failure reason ("" for none)',
    labelNames: ['status', 'failure_reason'] as const,
    registers,
  });
  countFinished(store.fleet, finished);
  const query = new Histogram({
    name: 'gantry_store_query_seconds',
    help: "Time of each store statement this instance ran, the wait for a database connection included",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  store.observeQueries((s) => query.observe(s));

  return {
    queueDuration: new Histogram({
      name: 'gantry_job_queue_duration_seconds',
      help: "From a job's attempt being ready to its start on an agent, by the agent's pool",
      labelNames: ['pool'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    }),
    dispatchDuration: new Histogram({
      name: 'gantry_dispatch_duration_seconds',
      help: "From when an agent's poll found work (its arrival, or the wake-up that announced work) to its offers being sent",
      buckets: SECONDS,
      registers,
    }),
  };
}

function countFinished(fleet: FleetStore, counter: Counter<'status' | 'failure_reason'>): void {
  fleet.events.on('finished', (status, failureReason) => counter.inc({ status, failure_reason: failureReason ?? '' }));
}
