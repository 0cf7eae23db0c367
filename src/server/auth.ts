// Authentication for every route but the few marked public (health, readiness, metrics, the
// OpenAPI document, signing in): a bearer token (the admin token, a project's `api` token, a
// person's personal access token), or a web UI session cookie. Then, in this order, the CSRF check
// of a write made with a cookie, and the policy's checks that need no project (src/server/policy.ts
// decides; this only asks; route-access.ts asks about the route's project).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie';
import type {} from '@fastify/csrf-protection';
import { tokenName, type TriggeredBy } from '../domain/triggered-by.js';
import type { ApiToken, Store } from '../store/store.js';
import { ApiError } from './errors.js';
import { describePrincipal, may, type Action, type Principal } from './policy.js';
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
  }
}

/** How often a token's lastUsedAt, or a session's lastSeenAt, is written at most: one write a minute, not one per request. */
const TOUCH_INTERVAL_MS = 60_000;

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function principalOf(request: FastifyRequest, store: Store, now: number): Promise<Principal> {
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
    const principal = token.kind === 'personal' ? await personalPrincipal(store, token, now) : null;
    await store.touchToken(token.id, now, TOUCH_INTERVAL_MS);
    if (principal) return principal;
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
  const roles = await store.users.rolesOf(found.user.id);
  return { kind: 'user', user: found.user, roles, via: 'session', sessionHash, expiresAt: found.session.expiresAt };
}

/**
 * A personal access token acts as its user, read afresh at every request like a session: a
 * disabled user's tokens, a revoked token and a role taken away stop at the next request.
 */
async function personalPrincipal(store: Store, token: ApiToken, now: number): Promise<Principal> {
  if (token.expiresAt !== null && token.expiresAt <= now) {
    throw new ApiError('GANTRY_E_TOKEN_EXPIRED', `this personal access token expired at ${new Date(token.expiresAt).toISOString()}; make a new one`);
  }
  const user = token.userId === null ? null : await store.users.getUserById(token.userId);
  if (!user || user.disabled) throw new ApiError('GANTRY_E_UNAUTHENTICATED', "the token's user is disabled");
  return {
    kind: 'user',
    user,
    roles: await store.users.rolesOf(user.id),
    via: 'token',
    tokenId: token.id,
    projects: token.projects === null ? null : new Set(token.projects),
    readOnly: token.readOnly,
    expiresAt: token.expiresAt,
  };
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
    if (request.principal?.kind !== 'user' || request.principal.via !== 'session' || READ_METHODS.has(request.method)) return done();
    app.csrfProtection(request, reply, done);
  });
  // What needs no project is decided now; a role in a project once the project is found
  // (route-access.ts, before validation).
  app.addHook('onRequest', async (request) => {
    const p = request.principal;
    if (p === null) return;
    if (!READ_METHODS.has(request.method) && !may(p, { kind: 'change' })) throw new ApiError('GANTRY_E_FORBIDDEN', `${describePrincipal(p)} is read-only: it may only read`);
    const access = request.routeOptions.config.access;
    if (access === 'admin') requireAction(request, { kind: 'administer' });
    if (access === 'own-account') requireAction(request, { kind: 'own-account' });
  });
}

/** Throws 403 unless the request's principal may do `action` (401 when there is none). */
export function requireAction(request: FastifyRequest, action: Action): void {
  const p = request.principal;
  if (p === null) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'sign in or send Authorization: Bearer TOKEN');
  if (may(p, action)) return;
  const who = describePrincipal(p);
  if (action.kind === 'administer') throw new ApiError('GANTRY_E_FORBIDDEN', `this needs an admin token or an admin user; ${who} is neither`);
  throw new ApiError('GANTRY_E_FORBIDDEN', `${who} may not do this`);
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
