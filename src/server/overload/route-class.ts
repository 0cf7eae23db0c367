// Every route belongs to one class of work, and the class decides what protects it from overload
// (docs/API.md, "Overload and limits"):
//
//   agent    the agent protocol (`config.agentProtocol`): never bounded, shed or rate limited, so
//            polls, heartbeats, log appends and completions always find the server's capacity;
//   webhook  intake of git events (forges' webhooks, `gantry hook` pushes): bounded; past the bound
//            503 before anything is read or recorded, so a resend is recorded once; never 429 and
//            never rate limited (GitLab disables a hook that answers 4xx until someone enables it);
//   stream   long-lived Server-Sent Events: capped per instance and per caller;
//   sign-in  password and single sign-on: bounded (scrypt), rate limited per address;
//   health   liveness, readiness, metrics: never shed, so an operator can see what happens;
//   read     any other GET or HEAD (the API, the web UI's files);
//   write    any other method.
//
// The method decides read or write; a route of another class says so where it is registered
// (`config.routeClass`), as it says who may call it.

import type { HTTPMethods } from 'fastify';

export const ROUTE_CLASSES = ['agent', 'webhook', 'stream', 'sign-in', 'health', 'read', 'write'] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];

/** The classes a route declares; read and write follow from the method, agent from `agentProtocol`. */
export type DeclaredRouteClass = 'webhook' | 'stream' | 'sign-in' | 'health';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's class of work when its method does not tell it (overload/route-class.ts). */
    routeClass?: DeclaredRouteClass;
  }
}

export interface ClassifiedRoute {
  method: HTTPMethods | HTTPMethods[] | string | string[];
  config?: { agentProtocol?: unknown; routeClass?: DeclaredRouteClass } | undefined;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function classOf(route: ClassifiedRoute): RouteClass {
  if (route.config?.agentProtocol !== undefined) return 'agent';
  if (route.config?.routeClass !== undefined) return route.config.routeClass;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  return methods.every((m) => READ_METHODS.has(String(m).toUpperCase())) ? 'read' : 'write';
}

/** The classes whose requests count against the per-token and per-address rates. */
export const RATE_LIMITED: ReadonlySet<RouteClass> = new Set(['read', 'write', 'stream']);

/**
 * The classes shed when the process is under pressure; agents and health checks go on, and so do
 * webhooks, within their own in-flight bound. Accepting a delivery is a stored row and a queue
 * entry, while GitHub and GitLab never redeliver a refused one by themselves: shed for pressure,
 * it would be a pipeline that never runs. The load test showed servers whose own agents' jobs kept
 * the CPU busy shedding 75% of deliveries with no new work arriving (BENCHMARKS.md, 23:51).
 */
export const SHED_UNDER_PRESSURE: ReadonlySet<RouteClass> = new Set(['read', 'write', 'stream', 'sign-in']);
