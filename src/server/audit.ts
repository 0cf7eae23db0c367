// Audit entries of requests (src/store/audit.ts): who (the request's typed caller), from where
// (its address, through trusted proxies only), what and to what. Routes hand the store an
// AuditFor, and the store writes the entry in the transaction of the change.

import type { FastifyRequest } from 'fastify';
import type { ProjectId } from '../domain/ids.js';
import type { AuditAction, AuditActor, AuditEntry, AuditFor, AuditTarget } from '../store/audit.js';
import type { Principal } from './policy.js';

export function actorOf(p: Principal | null): AuditActor {
  if (p === null) return { kind: 'anonymous' };
  switch (p.kind) {
    case 'admin-token':
      return { kind: 'admin-token', tokenId: p.tokenId };
    case 'project-token':
      return { kind: 'project-token', tokenId: p.tokenId };
    case 'user':
      return p.via === 'token'
        ? { kind: 'user', userId: p.user.id, username: p.user.username, via: 'token', tokenId: p.tokenId }
        : { kind: 'user', userId: p.user.id, username: p.user.username, via: 'session' };
  }
}

export interface AuditWhat {
  action: AuditAction;
  projectId: ProjectId | null;
  target: AuditTarget;
  details?: Record<string, unknown> | null;
}

/** The entry of what `request`'s caller did, at `at`. */
export function auditEntry(request: FastifyRequest, at: number, what: AuditWhat, actor: AuditActor = actorOf(request.principal)): AuditEntry {
  return { at, action: what.action, actor, projectId: what.projectId, target: what.target, address: request.ip ?? null, details: what.details ?? null };
}

/**
 * An AuditFor that records `what` (made from the result) when `happened(result)`: a change that
 * did not happen (no such row, a refused state move) leaves no entry.
 */
export function auditWhen<T>(request: FastifyRequest, at: number, happened: (r: T) => boolean, what: (r: T) => AuditWhat): AuditFor<T> {
  return (r) => (happened(r) ? auditEntry(request, at, what(r)) : null);
}

/** A git URL as the audit log keeps it: credentials in it (`https://user:token@host/...`) dropped. */
export function gitUrlForAudit(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/** An AuditFor that always records `what`. */
export function auditAlways<T>(request: FastifyRequest, at: number, what: AuditWhat): AuditFor<T> {
  return () => auditEntry(request, at, what);
}
