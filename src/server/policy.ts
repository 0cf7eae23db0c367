// Who is calling and what they may do: the one place that decides.
//
// Every authenticated request carries a Principal (set by auth.ts). Routes never look at what kind
// it is to decide access; every route declares the least it needs (`access` in its config, checked
// at registration by route-access.ts), and `may(principal, action)` answers. A project's routes
// need a role in that project, GitLab's: viewer < developer < maintainer, and an instance admin is
// above them all. What each principal is in a project is `levelOn`, the one table of this file.

import type { ProjectId } from '../domain/ids.js';
import { ROLES, type Role, type User, type UserId } from '../store/users.js';

/** The caller of an authenticated request. */
export type Principal =
  /** The operator's token ($GANTRY_HOME/admin.token): everything. */
  | { kind: 'admin-token'; tokenId: number; description: string | null }
  /**
   * An `api` token: maintainer of its one project, or of every project (projectId null); never
   * an admin. (What these tokens could do before roles: every route of their project, a project's
   * git URL excepted.)
   */
  | { kind: 'project-token'; tokenId: number; projectId: ProjectId | null; description: string | null }
  /** A person signed in to the web UI, by session cookie: their roles. */
  | { kind: 'user'; user: User; roles: ReadonlyMap<ProjectId, Role>; via: 'session'; sessionHash: string; expiresAt: number }
  /**
   * A person's personal access token: their roles, narrowed to `projects` (null: all of them) and,
   * when readOnly, to reads.
   */
  | {
      kind: 'user';
      user: User;
      roles: ReadonlyMap<ProjectId, Role>;
      via: 'token';
      tokenId: number;
      projects: ReadonlySet<ProjectId> | null;
      readOnly: boolean;
      expiresAt: number | null;
    };

/** What a principal is in a project: a role, `admin` (everything), or null: it may not even see it. */
export type Level = Role | 'admin';

const RANK: Record<Level, number> = { viewer: 1, developer: 2, maintainer: 3, admin: 4 };

export const isRole = (x: unknown): x is Role => (ROLES as readonly unknown[]).includes(x);

/**
 * What a request wants to do. `project`: at least `role` in the project. `administer`: the
 * instance's own business (people, new projects, agents, a project's git URL). `own-account`: a
 * person's own account (their password, tokens, session), for any caller that has one; an admin
 * may act on anyone's. `change`: any write at all (what a read-only token may not).
 */
export type Action =
  | { kind: 'project'; projectId: ProjectId; role: Role }
  | { kind: 'administer' }
  | { kind: 'own-account'; userId?: UserId }
  | { kind: 'change' };

/**
 * What a route asks of its caller, declared once where it is registered. A role is asked in the
 * route's project (named by its path: `:project`, or the project of `/pipelines/:id` or
 * `/jobs/:id`); a project the caller may not see answers 404, as one that does not exist.
 * `admin`: an instance admin. `own-account`: any caller with an account (the handler asks about
 * the account). `signed-in`: any authenticated caller; what the route shows is narrowed to the
 * projects the caller may see (lists of projects, the queue, the agents).
 */
export type RouteAccess = Role | 'admin' | 'own-account' | 'signed-in';
export const ROUTE_ACCESS: readonly RouteAccess[] = [...ROLES, 'admin', 'own-account', 'signed-in'];

/** The principal's level in a project; null when it may not see it. */
export function levelOn(principal: Principal, projectId: ProjectId): Level | null {
  switch (principal.kind) {
    case 'admin-token':
      return 'admin';
    case 'project-token':
      return principal.projectId === null || principal.projectId === projectId ? 'maintainer' : null;
    case 'user': {
      if (principal.via === 'token' && principal.projects !== null && !principal.projects.has(projectId)) return null;
      return principal.user.admin ? 'admin' : (principal.roles.get(projectId) ?? null);
    }
  }
}

/** A principal narrowed to some projects cannot act for the whole instance, even for an admin user. */
const narrowed = (p: Principal): boolean => p.kind === 'user' && p.via === 'token' && p.projects !== null;

export function may(principal: Principal, action: Action): boolean {
  switch (action.kind) {
    case 'change':
      return !(principal.kind === 'user' && principal.via === 'token' && principal.readOnly);
    case 'project': {
      const level = levelOn(principal, action.projectId);
      return level !== null && RANK[level] >= RANK[action.role];
    }
    case 'administer':
      return principal.kind === 'admin-token' || (principal.kind === 'user' && principal.user.admin && !narrowed(principal));
    case 'own-account':
      if (principal.kind === 'admin-token') return true;
      if (principal.kind === 'project-token') return false;
      if (principal.user.admin && !narrowed(principal)) return true;
      return action.userId === undefined || action.userId === principal.user.id;
  }
}

/** The projects a principal may see: all of them, or these. */
export function visibleProjects(principal: Principal): 'all' | ProjectId[] {
  switch (principal.kind) {
    case 'admin-token':
      return 'all';
    case 'project-token':
      return principal.projectId === null ? 'all' : [principal.projectId];
    case 'user': {
      const narrowedTo = principal.via === 'token' ? principal.projects : null;
      if (principal.user.admin) return narrowedTo === null ? 'all' : [...narrowedTo];
      return [...principal.roles.keys()].filter((id) => narrowedTo === null || narrowedTo.has(id));
    }
  }
}

/** How a refusal names the caller. */
export function describePrincipal(principal: Principal): string {
  if (principal.kind === 'user') return principal.via === 'token' ? `user ${principal.user.username}'s token` : `user ${principal.user.username}`;
  return principal.kind === 'admin-token' ? 'the admin token' : 'this project token';
}

/** Why a principal that may see the project is refused `role` in it. */
export function roleRefusal(principal: Principal, projectId: ProjectId, projectName: string, role: Role): string {
  const level = levelOn(principal, projectId);
  return `${describePrincipal(principal)} is ${level === null ? 'not a member' : `${level === 'admin' ? 'an' : 'a'} ${level}`} of project ${projectName}; this needs ${role}`;
}
