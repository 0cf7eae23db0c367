// Prometheus metrics. Each server gets its own registry (not prom-client's global one), so
// several servers in one process (tests) do not share or double-register series.

import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  pipelinesCreated: Counter;
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
  };
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
