// The store's side of people (docs/SECURITY.md, "People and sessions"): local user accounts with
// their password hashes, web UI sessions (each stored by the SHA-256 of its random id), and the
// failed sign-ins that limit password guessing; each project's members with their roles, and
// people's personal access tokens (stored by hash, as every token). All of it lives in the database, so it holds
// across restarts and across the server instances of a fleet: a user disabled on one instance is
// signed out on every other at its next request.

import type { ProjectId } from '../domain/ids.js';
import type { ApiToken, EpochMs } from './store.js';
import type { AuditFor } from './audit.js';

export type UserId = number & { readonly __user: unique symbol };
export const asUserId = (n: number) => n as UserId;

export interface User {
  id: UserId;
  /** Lowercase letters, digits, `.`, `_`, `-`; unique. */
  username: string;
  /** An instance admin: may do everything the admin token may. */
  admin: boolean;
  /** A disabled user cannot sign in, and has no session. */
  disabled: boolean;
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

/** A user with the self-describing password hash (src/server/passwords.ts), for sign-in only. */
export interface UserWithPassword extends User {
  /** NO_PASSWORD for a user made by single sign-on (until an admin gives them a password). */
  passwordHash: string;
}

/** The password hash of a user who has none (made by single sign-on): no password verifies against it. */
export const NO_PASSWORD = '';

export interface NewUser {
  username: string;
  passwordHash: string;
  admin: boolean;
  createdAt: EpochMs;
}

/** What may change; an absent field stays. */
export interface UserPatch {
  passwordHash?: string;
  admin?: boolean;
  disabled?: boolean;
}

export interface Session {
  /** SHA-256 (hex) of the session id in the cookie; the id itself is never stored. */
  hash: string;
  userId: UserId;
  createdAt: EpochMs;
  lastSeenAt: EpochMs;
  expiresAt: EpochMs;
}

/** A member's role in a project, weakest first (GitLab's names); an instance admin is above them all. */
export const ROLES = ['viewer', 'developer', 'maintainer'] as const;
export type Role = (typeof ROLES)[number];

export interface Member {
  projectId: ProjectId;
  userId: UserId;
  username: string;
  role: Role;
  /**
   * `sso`: given by the single sign-on group mapping, which takes it away again when the groups no
   * longer give it; `manual`: given (or changed) by a person, which the mapping never touches.
   */
  grantedBy: 'manual' | 'sso';
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

/**
 * What a member change does to the project's maintainers when the caller is not an admin: a
 * change that would leave a project that has a maintainer with none is refused.
 */
export type MemberChange<T> = T | 'last-maintainer';

export interface NewPersonalToken {
  hash: string;
  userId: UserId;
  description: string;
  projects: readonly ProjectId[] | null;
  readOnly: boolean;
  expiresAt: EpochMs | null;
  createdAt: EpochMs;
}

/**
 * One sign-in attempt's claim on the limits: counted against each of its subjects (`user:NAME`,
 * `addr:IP`) until it is released (a success) or ages out of the window (a failure).
 */
export type SignInClaim = { allowed: true; attemptIds: number[] } | { allowed: false; retryAt: EpochMs };

export interface UserStore {
  /** Null (and nothing stored) when the username is taken. */
  createUser(u: NewUser, audit?: AuditFor<User | null>): Promise<User | null>;
  getUser(username: string): Promise<UserWithPassword | null>;
  listUsers(): Promise<User[]>;
  countUsers(): Promise<number>;
  /**
   * Changes a user; null if there is no such user. Disabling one deletes its sessions in the same
   * transaction; a new password deletes them too, except `keepSession` (the one that changed it).
   */
  updateUser(username: string, patch: UserPatch, at: EpochMs, keepSession?: string, audit?: AuditFor<User | null>): Promise<User | null>;

  /**
   * Replaces a password hash with one of the same password under newer parameters, only if it is
   * still `oldHash` (a password changed meanwhile stays); sessions are kept.
   */
  rehashPassword(username: string, oldHash: string, newHash: string): Promise<void>;

  createSession(s: Session, audit?: AuditFor<void>): Promise<void>;
  /** The live session and its user: not expired at `at`, and the user not disabled. */
  findSession(hash: string, at: EpochMs): Promise<{ session: Session; user: User } | null>;
  /** Records a use; writes only when the last recorded one is older than `minIntervalMs`. */
  touchSession(hash: string, at: EpochMs, minIntervalMs: number): Promise<void>;
  /** False if there was no such session. */
  deleteSession(hash: string, audit?: AuditFor<boolean>): Promise<boolean>;
  /** Deletes sessions expired at `at`, and attempts older than `attemptsBefore`; how many rows went. */
  pruneSessions(at: EpochMs, attemptsBefore: EpochMs): Promise<number>;

  /**
   * Claims one sign-in attempt against each subject, atomically across instances: if any subject
   * already has `limit` attempts in the `windowMs` before `at`, nothing is recorded and `retryAt`
   * says when one of them leaves the window; otherwise one attempt row per subject is recorded.
   */
  claimSignIn(subjects: readonly string[], at: EpochMs, windowMs: number, limit: number): Promise<SignInClaim>;
  /**
   * A sign-in succeeded: its own attempt rows go, and every attempt against `clearSubject` (the
   * user's failures: a success resets them; the address's other failures stay).
   */
  releaseSignIn(attemptIds: readonly number[], clearSubject: string): Promise<void>;

  getUserById(id: UserId): Promise<User | null>;

  /** The user's role in each project they are a member of. */
  rolesOf(userId: UserId): Promise<Map<ProjectId, Role>>;
  /** The project's members, by username. */
  listMembers(projectId: ProjectId): Promise<Member[]>;
  /**
   * Makes the user a member with `role`, or changes their role; either way the role is then one
   * given by hand (`grantedBy: manual`), which single sign-on leaves alone. With `keepAMaintainer`, demoting
   * the project's only maintainer is refused; the count and the change are one transaction under
   * the project's lock, so two maintainers demoting each other at once leave one.
   */
  setMember(projectId: ProjectId, userId: UserId, role: Role, at: EpochMs, keepAMaintainer: boolean, audit?: AuditFor<Member>): Promise<MemberChange<Member>>;
  /** False if the user was not a member; `keepAMaintainer` as for setMember. */
  removeMember(projectId: ProjectId, userId: UserId, keepAMaintainer: boolean, audit?: AuditFor<boolean>): Promise<MemberChange<boolean>>;

  /** Stores a personal access token (its hash) and returns it with its id. */
  createPersonalToken(t: NewPersonalToken, audit?: AuditFor<ApiToken>): Promise<ApiToken>;
  /** The user's personal tokens, oldest first, expired ones included. */
  listPersonalTokens(userId: UserId): Promise<ApiToken[]>;
  /** Revokes one; false if the user has no personal token with that id. */
  deletePersonalToken(userId: UserId, id: number, audit?: AuditFor<boolean>): Promise<boolean>;
}
