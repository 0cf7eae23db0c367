// Overload protection for one server instance (docs/API.md, "Overload and limits"): what each
// class of route may take at once, how fast a caller may go, what is shed when the process is
// under pressure, and body limits on every route. One hook, before authentication, answers a
// request that is over any of them at once: 429 GANTRY_E_RATE_LIMITED when it is the caller's own
// rate, 503 GANTRY_E_OVERLOADED when it is the server's, both with Retry-After. Nothing waits in a
// queue: a queue in front of a saturated server turns a burst into timeouts for everyone.
//
// The agent protocol is outside all of it: its requests are never counted, bounded, shed or rate
// limited, so the capacity the other classes leave is the agents'. Health routes neither.

import type { FastifyInstance, FastifyRequest, HTTPMethods } from 'fastify';
import { ApiError } from '../errors.js';
import type { Metrics, ShedReason } from '../metrics.js';
import { SESSION_COOKIE } from '../sessions.js';
import { hashToken } from '../tokens.js';
import { DEFAULT_BODY_LIMIT } from './body-limits.js';
import { InflightBounds } from './bounds.js';
import { installPressure, type PressureGauge } from './pressure.js';
import { RateLimits, type RateRefusal } from './rate-limits.js';
import { classOf, SHED_UNDER_PRESSURE, type RouteClass } from './route-class.js';
import { ShedLog } from './shed-log.js';
import type { OverloadSettings } from './settings.js';

/** One registered route as the overload protection sees it. */
export interface RouteEntry {
  method: string;
  url: string;
  routeClass: RouteClass;
  /** The most Fastify reads into memory for it. */
  bodyLimit: number;
  /** Set when the handler reads the body as a stream and enforces this limit itself. */
  streamedBody: { limit: number } | null;
  schema: unknown;
}

export interface Overload {
  /** Every route, with its class and body limit, as registered (tests and docs read them back). */
  readonly routes: readonly RouteEntry[];
  /** Live streams should send fewer updates: the loop is busy, or many streams are open. */
  strained(): boolean;
  underPressure(): boolean;
  /** Requests of a class in flight on this instance now (streams: open). */
  inflight(cls: RouteClass): number;
  /** Whether this request was refused here: its request log lines are left out (shed-log.ts). */
  isShed(request: object): boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    overload: Overload;
  }
}

/** The token or session a request carries, as a hash (the same keys the store knows them by), or null. */
export function callerOf(request: FastifyRequest): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (m) return `token:${hashToken(m[1]!)}`;
  const cookie = request.cookies?.[SESSION_COOKIE];
  return cookie ? `session:${hashToken(cookie)}` : null;
}

/**
 * Seconds to come back after; jittered, so that the callers one burst refused do not all return
 * in the same second. A stream's place frees only when another stream ends: longer.
 */
function retryAfterFor(cls: RouteClass): number {
  const base = cls === 'stream' ? 5 : 1;
  return base + Math.floor(Math.random() * (base + 1));
}

const WORDS: Record<RouteClass, string> = {
  agent: 'agent requests',
  webhook: 'webhook deliveries',
  stream: 'live streams',
  'sign-in': 'sign-ins',
  health: 'health checks',
  read: 'reads',
  write: 'writes',
};

function overloaded(why: string, retryAfter: number): ApiError {
  return new ApiError('GANTRY_E_OVERLOADED', `the server is ${why}; try again in ${retryAfter} s`, { retryAfter }, { 'retry-after': String(retryAfter) });
}

function rateLimited(message: string, retryAfter: number): ApiError {
  return new ApiError('GANTRY_E_RATE_LIMITED', `${message}; try again in ${retryAfter} s`, { retryAfter }, { 'retry-after': String(retryAfter) });
}

const RATE_WORDS: Record<RateRefusal['subject'], string> = {
  token: 'this token or session',
  address: 'this address',
  'sign-in': 'sign-ins from this address',
};

/**
 * What a request's body may hold: its Content-Length, or (chunked, or a lie past the limit) its
 * route's body limit, which the body parser enforces whatever the header says.
 */
function claimedBodyBytes(request: FastifyRequest): number {
  const limit = request.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const declared = Number(request.headers['content-length']);
  return Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, limit) : limit;
}

/**
 * Installs it all on `app`: call after the cookie plugin (sessions are keyed by their cookie) and
 * before authentication and the routes.
 */
export async function installOverload(app: FastifyInstance, settings: OverloadSettings, metrics: Metrics): Promise<Overload> {
  const routes: RouteEntry[] = [];
  const bounds = new InflightBounds(
    { read: settings.maxReads, write: settings.maxWrites, webhook: settings.maxWebhooks, 'sign-in': settings.maxSignIns, stream: settings.maxStreams },
    settings.maxStreamsPerCaller,
    { webhook: settings.maxWebhookBytes },
  );
  const shedLog = new ShedLog(app.log);
  app.addHook('onClose', async () => shedLog.close());
  const shed = (request: FastifyRequest, cls: RouteClass, reason: ShedReason) => {
    metrics.shed.inc({ class: cls, reason });
    shedLog.record(request, cls, reason);
  };
  const classOfRequest = (request: FastifyRequest): RouteClass | null =>
    // An unknown route is answered 404 by the not-found handler, which costs nothing worth bounding.
    request.routeOptions.url === undefined ? null : classOf({ method: request.routeOptions.method as HTTPMethods, config: request.routeOptions.config });

  app.addHook('onRoute', (route) => {
    // Set on every route, so that the route's limit, not a content type parser's, is the one that holds.
    route.bodyLimit ??= DEFAULT_BODY_LIMIT;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      routes.push({
        method: String(method),
        url: route.url ?? '',
        routeClass: classOf(route),
        bodyLimit: route.bodyLimit,
        streamedBody: route.config?.streamedBody ?? null,
        schema: route.schema,
      });
    }
  });

  // First: a request shed under pressure costs the least when it is refused before anything else.
  const pressure: PressureGauge = await installPressure(app, settings, (request) => {
    const cls = classOfRequest(request);
    if (cls === null || !SHED_UNDER_PRESSURE.has(cls)) return null;
    shed(request, cls, 'pressure');
    return overloaded('under pressure', retryAfterFor(cls) + 1);
  });
  const rates = await RateLimits.install(app, settings, callerOf);

  app.addHook('onRequest', async (request, reply) => {
    const cls = classOfRequest(request);
    if (cls === null || cls === 'agent' || cls === 'health') return;
    const caller = callerOf(request);
    const refused = await rates.check(request, reply, cls, caller);
    if (refused) {
      shed(request, cls, refused.subject === 'address' ? 'address_rate' : refused.subject === 'token' ? 'token_rate' : 'sign_in_rate');
      throw rateLimited(`${RATE_WORDS[refused.subject]} made ${refused.max} requests this minute`, refused.retryAfter);
    }
    const entered = bounds.enter(cls, caller, cls === 'webhook' ? claimedBodyBytes(request) : 0);
    if (entered === 'bytes') {
      shed(request, cls, 'inflight_bytes');
      throw overloaded(`at its bound of ${bounds.budgetOf(cls)} bytes of ${WORDS[cls]} at once`, retryAfterFor(cls));
    }
    if (entered === 'class') {
      shed(request, cls, 'inflight');
      const retryAfter = retryAfterFor(cls);
      throw overloaded(`at its bound of ${bounds.limitOf(cls)} ${WORDS[cls]} at once`, retryAfter);
    }
    if (entered === 'caller') {
      shed(request, cls, 'caller_streams');
      throw rateLimited(`this token or session has ${settings.maxStreamsPerCaller} live streams open here`, retryAfterFor(cls));
    }
    // 'close' comes once the answer is sent or the connection is gone, a hijacked stream's too.
    reply.raw.once('close', entered);
  });

  const overload: Overload = {
    routes,
    underPressure: pressure.underPressure,
    inflight: (cls) => bounds.count(cls),
    isShed: (request) => shedLog.isShed(request),
    strained: () => pressure.strained() || (settings.maxStreams > 0 && bounds.count('stream') * 2 >= settings.maxStreams),
  };
  app.decorate('overload', overload);
  return overload;
}
