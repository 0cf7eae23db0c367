// Prometheus metrics. Each server gets its own registry (not prom-client's global one), so
// several servers in one process (tests) do not share or double-register series.

import type { FastifyInstance } from 'fastify';
import type { FleetEvents } from '../store/fleet.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { MS_PER_MINUTE } from '../domain/compute-minutes.js';
import type { ConsumedTotal } from '../store/compute-minutes.js';

/** What a webhook request came to: recorded, a resend, a ping, or refused and why. */
export type WebhookResult = 'accepted' | 'ignored' | 'duplicate' | 'ping' | 'refused' | 'invalid' | 'shed' | 'failed';

/** Why a request was refused by the overload protection (src/server/overload/). */
export type ShedReason = 'inflight' | 'inflight_bytes' | 'pressure' | 'token_rate' | 'address_rate' | 'sign_in_rate' | 'caller_streams';

/**
 * This instance's own counts: each is summed across instances. The gauges that describe the
 * fleet are read from the store at scrape time instead (fleet-gauges.ts), the same on every one.
 */
export interface Metrics {
  registry: Registry;
  pipelinesCreated: Counter;
  /** Log bytes this instance stored for the first time (a resent chunk is not counted twice). */
  logBytesIngested: Counter;
  /** Live log streams open on this instance. */
  logStreamClients: Gauge;
  /** From when the agent read bytes from the job (its producedAt, the agent's clock) to the write to a live viewer. */
  logDelivery: Histogram;
  webhookDeliveries: Counter<'provider' | 'result'>;
  /** Requests answered 429 or 503 by the overload protection, by route class and reason. */
  shed: Counter<'class' | 'reason'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    pipelinesCreated: new Counter({
      name: 'gantry_pipelines_created_total',
      help: 'Pipelines created through the API (replays of an Idempotency-Key not counted)',
      registers: [registry],
    }),
    logBytesIngested: new Counter({
      name: 'gantry_log_bytes_ingested_total',
      help: 'Log bytes stored for the first time by this instance (masked, as the agents sent them)',
      registers: [registry],
    }),
    logStreamClients: new Gauge({
      name: 'gantry_log_stream_clients',
      help: 'Live log streams (GET /jobs/:id/log/stream) open on this instance',
      registers: [registry],
    }),
    logDelivery: new Histogram({
      name: 'gantry_log_delivery_seconds',
      help: "Live log latency: from the agent reading the bytes from the job (its clock) to this instance writing them to a viewer's stream",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'gantry_webhook_deliveries_total',
      help: 'Webhook requests, by provider and result (accepted, ignored, duplicate, ping, refused: bad signature, invalid, shed: 503, failed)',
      labelNames: ['provider', 'result'] as const,
      registers: [registry],
    }),
    shed: new Counter({
      name: 'gantry_http_shed_total',
      help:
        'Requests refused at once by the overload protection, by route class (read, write, stream, webhook, sign-in) and reason ' +
        '(inflight: the class was at its bound, pressure: the event loop was, token_rate, address_rate, sign_in_rate: 429, caller_streams: 429)',
      labelNames: ['class', 'reason'] as const,
      registers: [registry],
    }),
  };
}

/** Counts the log bytes this instance stores: its own appends' pieces (another instance's are only announced). */
export function countLogIngest(events: FleetEvents, metrics: Metrics): void {
  events.on('log', (_attempt, _received, pieces) => {
    if (!pieces) return;
    let bytes = 0;
    for (const p of pieces) bytes += p.end - p.offset;
    metrics.logBytesIngested.inc(bytes);
  });
}

export function installRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  const labelNames = ['route', 'method', 'status'] as const;
  const requests = new Counter({
    name: 'gantry_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status',
    labelNames,
    registers: [metrics.registry],
  });
  const duration = new Histogram({
    name: 'gantry_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route template, method and status',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metrics.registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route template, never the raw URL: ids in paths would make one series per pipeline.
    const labels = {
      route: request.routeOptions.url ?? 'unmatched',
      method: request.method,
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
}

/**
 * `gantry_compute_minutes_total{project,pool}`: compute minutes consumed, of all time, read from
 * the ledger at each scrape. It is the fleet's count, not this instance's: every instance of a
 * fleet reports the same values (take max(), not sum(), across instances). A scrape during a
 * store outage leaves the series out rather than failing the whole page.
 */
export function installComputeMinutes(metrics: Metrics, totals: () => Promise<ConsumedTotal[]>): void {
  new Counter({
    name: 'gantry_compute_minutes_total',
    help: 'Compute minutes consumed (duration times the pool cost factor), by project and pool, fleet-wide from the ledger',
    labelNames: ['project', 'pool'] as const,
    registers: [metrics.registry],
    async collect() {
      this.reset();
      const rows = await totals().catch(() => []);
      for (const t of rows) this.inc({ project: t.project, pool: t.pool }, t.amountMs / MS_PER_MINUTE);
    },
  });
}
