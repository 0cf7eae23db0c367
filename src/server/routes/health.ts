// Liveness, readiness and metrics: public, for load balancers and Prometheus.

import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.js';
import { errorBody } from '../errors.js';

export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const hide = { hide: true } as const;
  app.get('/healthz', { config: { public: true }, schema: { ...hide } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { public: true }, schema: { ...hide } }, async (request, reply) => {
    try {
      await ctx.store.ping();
      return { status: 'ok' };
    } catch (err) {
      request.log.warn({ err }, 'readiness: the store does not answer');
      return reply.status(503).send(errorBody('GANTRY_E_STORE', 'the store is unavailable'));
    }
  });

  app.get('/metrics', { config: { public: true }, schema: { ...hide } }, async (_request, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
