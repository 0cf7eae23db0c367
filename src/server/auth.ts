// Bearer-token authentication for every route but the few marked public (health, readiness,
// metrics, the OpenAPI document), and the project check every project-scoped route makes.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ProjectId } from '../domain/ids.js';
import { tokenName, type TriggeredBy } from '../domain/triggered-by.js';
import type { ApiToken, Store } from '../store/store.js';
import { ApiError } from './errors.js';
import { hashToken } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The token the request authenticated with; null only on public routes. */
    principal: ApiToken | null;
  }
  interface FastifyContextConfig {
    /** No token needed. */
    public?: boolean;
  }
}

/** How often a token's lastUsedAt is written at most: one write a minute, not one per request. */
const TOUCH_INTERVAL_MS = 60_000;

export function installAuth(app: FastifyInstance, store: Store, now: () => number): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    // An unknown route is answered 404 by the not-found handler, token or not.
    if (request.routeOptions.url === undefined || request.routeOptions.config.public) return;
    // The agent protocol authenticates agents its own way (src/server/fleet/agent-routes.ts).
    if (request.routeOptions.config.agentProtocol !== undefined) return;
    // The trigger route checks its trigger token itself (src/server/routes/trigger-tokens.ts).
    if (request.routeOptions.config.triggerToken) return;
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'send Authorization: Bearer TOKEN');
    const token = await store.findToken(hashToken(m[1]!));
    if (!token) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'unknown token');
    // The registration token only registers agents; it is never a user's token.
    if (token.kind === 'agent') throw new ApiError('GANTRY_E_FORBIDDEN', 'an agent token cannot use this API');
    if (token.kind === 'trigger') throw new ApiError('GANTRY_E_FORBIDDEN', 'a trigger token only starts pipelines (POST /api/v1/projects/:project/trigger)');
    request.principal = token;
    await store.touchToken(token.id, now(), TOUCH_INTERVAL_MS);
  });
}

/** Admin tokens and unscoped API tokens may act on every project; a scoped one on its own. */
export function mayActOn(principal: ApiToken | null, projectId: ProjectId): boolean {
  if (principal === null) return false;
  if (principal.kind === 'admin') return true;
  return principal.kind === 'api' && (principal.projectId === null || principal.projectId === projectId);
}

export function requireProject(request: FastifyRequest, projectId: ProjectId): void {
  if (!mayActOn(request.principal, projectId)) throw new ApiError('GANTRY_E_FORBIDDEN', 'this token may not act on this project');
}

export function requireAdmin(request: FastifyRequest): void {
  if (request.principal?.kind !== 'admin') throw new ApiError('GANTRY_E_FORBIDDEN', 'this needs an admin token');
}

/** The caller of an API trigger, as the pipeline records it: the token's description (or its kind). */
export function callerAsTrigger(principal: ApiToken): TriggeredBy {
  const tokenKind = principal.kind === 'admin' ? 'admin' : 'api';
  return { kind: 'token', tokenId: principal.id, tokenKind, name: tokenName(tokenKind, principal.id, principal.description) };
}
