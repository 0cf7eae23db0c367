// Authentication for every route but the few marked public (health, readiness, metrics, the
// OpenAPI document, signing in): a bearer token, or a web UI session cookie. Then, in this order,
// the CSRF check of a write made with a cookie, and the policy's first check of the request's
// action (src/server/policy.ts decides; this only asks).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie';
import type {} from '@fastify/csrf-protection';
import type { ProjectId } from '../domain/ids.js';
import { tokenName, type TriggeredBy } from '../domain/triggered-by.js';
import type { Store } from '../store/store.js';
import { ApiError } from './errors.js';
import { authorize, requireAction, type Principal, type RouteAccess } from './policy.js';
import { SESSION_COOKIE } from './sessions.js';
import { hashToken } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request authenticated as; null only on public routes (and the agent protocol's and trigger's own). */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** No token or session needed. */
    public?: boolean;
    /** What the route asks of its caller before its handler runs (policy.ts); default by method. */
    access?: RouteAccess;
  }
}

/** How often a token's lastUsedAt, or a session's lastSeenAt, is written at most: one write a minute, not one per request. */
const TOUCH_INTERVAL_MS = 60_000;

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

async function principalOf(request: FastifyRequest, store: Store, now: number): Promise<Principal> {
  const header = request.headers.authorization;
  // A bearer token wins over a cookie: scripts never carry one, and a browser never sends the header.
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'send Authorization: Bearer TOKEN');
    const token = await store.findToken(hashToken(m[1]!));
    if (!token) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'unknown token');
    // The registration token only registers agents; it is never a user's token.
    if (token.kind === 'agent') throw new ApiError('GANTRY_E_FORBIDDEN', 'an agent token cannot use this API');
    if (token.kind === 'trigger') throw new ApiError('GANTRY_E_FORBIDDEN', 'a trigger token only starts pipelines (POST /api/v1/projects/:project/trigger)');
    await store.touchToken(token.id, now, TOUCH_INTERVAL_MS);
    return token.kind === 'admin'
      ? { kind: 'admin-token', tokenId: token.id, description: token.description }
      : { kind: 'project-token', tokenId: token.id, projectId: token.projectId, description: token.description };
  }
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie === undefined || cookie === '') throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'sign in (POST /api/v1/session) or send Authorization: Bearer TOKEN');
  const sessionHash = hashToken(cookie);
  // Read on every request, never cached: a deleted session or a disabled user stops at once, on every instance.
  const found = await store.users.findSession(sessionHash, now);
  if (!found) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'the session has ended: sign in again');
  await store.users.touchSession(sessionHash, now, TOUCH_INTERVAL_MS);
  return { kind: 'user', user: found.user, via: 'session', sessionHash, expiresAt: found.session.expiresAt };
}

export function installAuth(app: FastifyInstance, store: Store, now: () => number): void {
  app.decorateRequest('principal', null);
  const authenticated = (request: FastifyRequest): boolean =>
    // An unknown route is answered 404 by the not-found handler, token or not.
    request.routeOptions.url !== undefined &&
    !request.routeOptions.config.public &&
    // The agent protocol authenticates agents its own way (src/server/fleet/agent-routes.ts).
    request.routeOptions.config.agentProtocol === undefined &&
    // The trigger route checks its trigger token itself (src/server/routes/trigger-tokens.ts).
    !request.routeOptions.config.triggerToken;
  app.addHook('onRequest', async (request) => {
    if (authenticated(request)) request.principal = await principalOf(request, store, now());
  });
  // A browser sends the cookie with any request to this server, whichever page made it; only a
  // page of this server can read the CSRF token (from POST or GET /session) to send it back.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.principal?.kind !== 'user' || READ_METHODS.has(request.method)) return done();
    app.csrfProtection(request, reply, done);
  });
  app.addHook('onRequest', async (request) => {
    if (request.principal !== null) authorize(request);
  });
}

/** The route's action on this project (read or write, as the route declares): 403 unless the principal may. */
export function requireProject(request: FastifyRequest, projectId: ProjectId): void {
  authorize(request, projectId);
}

export function requireAdmin(request: FastifyRequest): void {
  requireAction(request, { kind: 'administer' });
}

/** The caller of an API trigger, as the pipeline records it: the user, or the token's description (or its kind). */
export function callerAsTrigger(principal: Principal): TriggeredBy {
  if (principal.kind === 'user') return { kind: 'user', userId: principal.user.id, name: principal.user.username };
  const tokenKind = principal.kind === 'admin-token' ? 'admin' : 'api';
  return { kind: 'token', tokenId: principal.tokenId, tokenKind, name: tokenName(tokenKind, principal.tokenId, principal.description) };
}
