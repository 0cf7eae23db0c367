// Who is calling and what they may do: the one place that decides.
//
// Every authenticated request carries a Principal (set by auth.ts). Routes never look at what kind
// it is to decide access; they ask `may(principal, action)`: the request's own action first (in
// auth.ts, from the route's declared `access`, else its method), then, once a route knows the
// project, the same action on that project (requireProject), or `administer` (requireAdmin).
// Per-project roles (viewer, developer, maintainer) and personal access tokens are new cases of
// this one function; no route needs to change for them.

import type { FastifyRequest } from 'fastify';
import type { ProjectId } from '../domain/ids.js';
import type { User, UserId } from '../store/users.js';
import { ApiError } from './errors.js';

/** The caller of an authenticated request. */
export type Principal =
  /** The operator's token ($GANTRY_HOME/admin.token): everything. */
  | { kind: 'admin-token'; tokenId: number; description: string | null }
  /** An `api` token: the routes of its one project, or of every project (projectId null); never administration. */
  | { kind: 'project-token'; tokenId: number; projectId: ProjectId | null; description: string | null }
  /** A person signed in to the web UI, by session cookie. */
  | { kind: 'user'; user: User; via: 'session'; sessionHash: string; expiresAt: number };

/**
 * What a request wants to do. `read` and `write` name a project once the route knows it; without
 * one they ask whether the caller may read or write anything at all (the check every request
 * passes first). `administer` is the instance's own business: people, new projects, agents, a
 * project's git URL. `own-account` is a person's own account or session (their password,
 * signing out), for any caller that has one.
 */
export type Action =
  | { kind: 'read' | 'write'; projectId?: ProjectId }
  | { kind: 'administer' }
  | { kind: 'own-account'; userId?: UserId };

/** What a route asks of its caller before its handler runs; by default `read` for GET and HEAD, `write` for the rest. */
export type RouteAccess = 'read' | 'write' | 'administer' | 'own-account';

export function may(principal: Principal, action: Action): boolean {
  switch (principal.kind) {
    case 'admin-token':
      return true;
    case 'project-token':
      if (action.kind === 'administer' || action.kind === 'own-account') return false;
      return action.projectId === undefined || principal.projectId === null || principal.projectId === action.projectId;
    case 'user':
      if (principal.user.admin) return true;
      // A signed-in user who is not an admin reads everything and changes nothing but their own
      // account, until projects have members with roles.
      if (action.kind === 'read') return true;
      if (action.kind === 'own-account') return action.userId === undefined || action.userId === principal.user.id;
      return false;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD']);

/** The access a route declared, else the one its method implies. */
export function accessOf(request: FastifyRequest): RouteAccess {
  return request.routeOptions.config.access ?? (READ_METHODS.has(request.method) ? 'read' : 'write');
}

function actionOf(access: RouteAccess, projectId?: ProjectId): Action {
  if (access === 'administer') return { kind: 'administer' };
  if (access === 'own-account') return { kind: 'own-account' };
  return projectId === undefined ? { kind: access } : { kind: access, projectId };
}

function refusal(principal: Principal, action: Action): ApiError {
  const who = principal.kind === 'user' ? `user ${principal.user.username}` : 'this token';
  if (action.kind === 'administer') return new ApiError('GANTRY_E_FORBIDDEN', `this needs an admin token or an admin user; ${who} is neither`);
  if (action.kind === 'read' || action.kind === 'write') {
    if (principal.kind === 'project-token' && action.projectId !== undefined) return new ApiError('GANTRY_E_FORBIDDEN', 'this token may not act on this project');
    if (action.kind === 'write') return new ApiError('GANTRY_E_FORBIDDEN', `${who} may read but not change anything`);
  }
  return new ApiError('GANTRY_E_FORBIDDEN', `${who} may not do this`);
}

/** Throws 403 unless the request's principal may take the route's action (on `projectId`, when given). */
export function authorize(request: FastifyRequest, projectId?: ProjectId): void {
  const action = actionOf(accessOf(request), projectId);
  if (request.principal === null || !may(request.principal, action)) {
    throw request.principal === null ? new ApiError('GANTRY_E_UNAUTHENTICATED', 'sign in or send Authorization: Bearer TOKEN') : refusal(request.principal, action);
  }
}

/** Throws 403 unless the principal may do `action`. */
export function requireAction(request: FastifyRequest, action: Action): void {
  if (request.principal === null) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'sign in or send Authorization: Bearer TOKEN');
  if (!may(request.principal, action)) throw refusal(request.principal, action);
}

/** The one project a scoped project token is limited to; null for every other principal. */
export function projectScopeOf(principal: Principal | null): ProjectId | null {
  return principal?.kind === 'project-token' ? principal.projectId : null;
}
