// Liveness, readiness and metrics: public, for load balancers and Prometheus. They are never shed
// (overload/route-class.ts: `health`), so an overloaded instance still says what is happening.

import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.js';
import { errorBody } from '../errors.js';

export interface HealthContext extends RouteContext {
  /** Whether the overload protection is shedding API work now (overload/pressure.ts). */
  underPressure: () => boolean;
}

export function healthRoutes(app: FastifyInstance, ctx: HealthContext): void {
  const hide = { hide: true } as const;
  const config = { public: true, routeClass: 'health' } as const;
  app.get('/healthz', { config, schema: { ...hide } }, async () => ({ status: 'ok' }));

  // Pressure does not make an instance unready: a load balancer would move its agents' polls and
  // heartbeats to the other instances, which are as loaded in a storm that reaches them all, and
  // the instance sheds the API work itself (503 with Retry-After). It says so, for whoever looks.
  app.get('/readyz', { config, schema: { ...hide } }, async (request, reply) => {
    try {
      await ctx.store.ping();
      return { status: 'ok', underPressure: ctx.underPressure() };
    } catch (err) {
      request.log.warn({ err }, 'readiness: the store does not answer');
      return reply.status(503).send(errorBody('GANTRY_E_STORE', 'the store is unavailable'));
    }
  });

  app.get('/metrics', { config, schema: { ...hide } }, async (_request, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
