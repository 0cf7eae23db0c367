// The audit log (docs/SECURITY.md, "Audit log"): who changed what, when and from where. An entry
// is written by the store in the same transaction as the change it records, so a change that
// commits has its entry and one that rolls back (or changes nothing) has none; each changing store
// method takes an `AuditFor` that turns its result into the entry (or null: nothing happened).
// Entries name their target (a variable's key, a token's id, a username), never a secret: no
// variable value, token, password or webhook secret ever reaches this table.

import type { ProjectId } from '../domain/ids.js';
import type { EpochMs } from './store.js';

/**
 * Stable action names (docs/API.md, "Audit log"): scripts match on them. Never rename one; add.
 */
export const AUDIT_ACTIONS = [
  'project.create',
  'project.update',
  'variable.set',
  'variable.delete',
  'member.set',
  'member.remove',
  'user.create',
  'user.update',
  'token.create',
  'token.revoke',
  'webhook_secret.set',
  'ref_filters.set',
  'protected_refs.set',
  'schedule.create',
  'schedule.update',
  'schedule.delete',
  'forge.set',
  'forge.delete',
  'agent.delete',
  'pipeline.cancel',
  'pipeline.retry',
  'job.cancel',
  'job.retry',
  'job.play',
  'job.unschedule',
  'pipeline.approve',
  'pipeline.reject',
  'job.approve',
  'job.reject',
  'fork_author.remove',
  'environment.set',
  'sign_in.success',
  'sign_in.failure',
  'sign_out',
  'id_token_key.rotate',
  'quota.set',
  'quota.grant',
  'pool.set',
  'gc.run',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who did it: the typed caller of the request, as it was then (a renamed user keeps their old name here). */
export type AuditActor =
  /** A person, signed in (`session`) or by one of their personal access tokens (`token`, with its id). */
  | { kind: 'user'; userId: number; username: string; via: 'session' | 'token'; tokenId?: number }
  /** The operator's admin token. */
  | { kind: 'admin-token'; tokenId: number }
  /** A project (`api`) token. */
  | { kind: 'project-token'; tokenId: number }
  /** Nobody known: a failed sign-in. */
  | { kind: 'anonymous' };

/** What it was done to: a type and the target's id in its own terms (a key, a username, a number as text). */
export interface AuditTarget {
  type: 'project' | 'variable' | 'member' | 'user' | 'token' | 'webhook_secret' | 'ref_filters' | 'protected_refs' | 'schedule' | 'forge' | 'agent' | 'pipeline' | 'job' | 'session' | 'id_token_key' | 'fork_author' | 'environment' | 'pool' | 'gc';
  id: string | null;
}

export interface AuditEntry {
  at: EpochMs;
  action: AuditAction;
  actor: AuditActor;
  /** The project it happened in; null for the instance's own business (users, personal tokens, agents, sign-ins). */
  projectId: ProjectId | null;
  target: AuditTarget;
  /** The client's address (the request's, through trusted proxies only). */
  address: string | null;
  /** What changed, in words a script can read: field names and non-secret values only. */
  details: Record<string, unknown> | null;
}

export interface StoredAuditEntry extends AuditEntry {
  id: number;
}

/** Turns a store method's result into its entry; null writes none (the change did not happen). */
export type AuditFor<T> = (result: T) => AuditEntry | null;

export interface AuditQuery {
  /** One project's entries; absent: every entry. */
  projectId?: ProjectId;
  /** Entries older than this id (the previous page's `next`). */
  beforeId?: number;
  /** Page size, 1 to 100. */
  limit: number;
}

export interface AuditStore {
  /** Writes one entry on its own (a failed sign-in: no change to go with it). */
  record(entry: AuditEntry): Promise<void>;
  /** Newest first; `next` is the id to pass as `beforeId` for the older ones, null at the end. */
  list(q: AuditQuery): Promise<{ items: StoredAuditEntry[]; next: number | null }>;
  /** Deletes entries older than `before`; how many. */
  prune(before: EpochMs): Promise<number>;
}
