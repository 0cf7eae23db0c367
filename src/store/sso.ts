// The store's side of single sign-on (docs/SECURITY.md, "Single sign-on"): the sign-ins under way
// (one row per browser that went to the provider, taken once when it comes back, on any instance),
// the links from a provider's account (issuer + subject) to a Gantry user, and the roles the
// group mapping gave, kept apart from the roles people gave by hand.

import type { ProjectId } from '../domain/ids.js';
import type { AuditFor } from './audit.js';
import type { EpochMs } from './store.js';
import type { Role, User, UserId } from './users.js';

/** A sign-in under way: what the callback must see again (state), check (nonce) and prove (the PKCE verifier). */
export interface SsoFlow {
  /** SHA-256 (hex) of the random id in the browser's flow cookie; the id itself is never stored. */
  hash: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where the UI goes after the sign-in: a path of this server. */
  next: string;
  createdAt: EpochMs;
  expiresAt: EpochMs;
}

/** Who the provider says it is: its issuer and its stable subject id (never the email alone). */
export interface SsoAccount {
  issuer: string;
  subject: string;
  /** The email it had at this sign-in (kept for people to read; never used to find the user). */
  email: string | null;
}

/** What the group mapping gives a user at a sign-in: instance admin, and a role by project. */
export interface SsoGrants {
  admin: boolean;
  roles: ReadonlyMap<ProjectId, Role>;
}

/** What a sign-in's mapping changed; roles given by hand are never among them. */
export interface SsoGrantChanges {
  admin: 'granted' | 'removed' | null;
  /** Memberships the mapping added or changed. */
  set: { projectId: ProjectId; role: Role }[];
  /** Memberships the mapping had given and takes away. */
  removed: ProjectId[];
}

export interface SsoStore {
  createFlow(f: SsoFlow): Promise<void>;
  /** Deletes the flow and returns it if it had not expired at `at`: a flow is used once, on any instance. */
  takeFlow(hash: string, at: EpochMs): Promise<SsoFlow | null>;
  /** Deletes flows expired at `at`; how many went. */
  pruneFlows(at: EpochMs): Promise<number>;

  /**
   * The user linked to the account, or a new user (no password) linked to it, named the first free
   * of `username`, `username-2`, `username-3`, ...; never an existing user found by name or email.
   * Concurrent first sign-ins of one account make one user. `audit` is given a made user only.
   */
  linkedUser(account: SsoAccount, username: string, at: EpochMs, audit?: AuditFor<User>): Promise<{ user: User; created: boolean }>;

  /**
   * Brings the roles the mapping gave `userId` to `grants` in one transaction: a membership it gave
   * is added, changed or removed; one given by hand (or changed by hand since) is left as it is;
   * admin likewise (an admin made by hand stays one).
   */
  applyGrants(userId: UserId, grants: SsoGrants, at: EpochMs): Promise<SsoGrantChanges>;
}
