// Signing people in: the password check behind the sign-in limits, web UI sessions (a random id in
// an HttpOnly cookie, stored as its SHA-256 in the database), and the first admin user.
// docs/SECURITY.md, "People and sessions", says why each choice.

import crypto from 'node:crypto';
import net from 'node:net';
import type { Store } from '../store/store.js';
import { NO_PASSWORD, type User, type UserWithPassword } from '../store/users.js';
import type { AuditFor } from '../store/audit.js';
import { ApiError } from './errors.js';
import { dummyHash, generatePassword, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import { hashToken } from './tokens.js';

/** The session cookie: the session's random id (256 bits, base64url). */
export const SESSION_COOKIE = 'gantry_session';
/** The CSRF secret's cookie (@fastify/csrf-protection); the token made from it is bound to the session. */
export const CSRF_COOKIE = 'gantry_csrf';

export interface PeopleSettings {
  /** A session ends this long after sign-in. */
  sessionTtlMs: number;
  /** Sign-in attempts per user and per address within the window; the next one is refused (429). */
  signInMaxFailures: number;
  signInWindowMs: number;
}

export const DEFAULT_PEOPLE_SETTINGS: PeopleSettings = { sessionTtlMs: 7 * 24 * 3600_000, signInMaxFailures: 10, signInWindowMs: 15 * 60_000 };

/** Usernames: lowercase, so `Alice` and `alice` cannot be two people. */
export const USERNAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

/** The one answer to a wrong password, an unknown user and a disabled one: nothing tells them apart. */
function signInFailed(): ApiError {
  return new ApiError('GANTRY_E_SIGN_IN_FAILED', 'wrong username or password');
}

/**
 * What an address is limited as: an IPv4 address itself, an IPv6 address by its /64 (one
 * customer's network: anyone with one address there has them all).
 */
export function addressSubject(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return `addr:${v4[1]}`;
  if (net.isIPv6(ip)) {
    const [head = '', tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    return `addr:${groups
      .slice(0, 4)
      .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
      .join(':')}::/64`;
  }
  return `addr:${ip}`;
}

/**
 * Checks a username and password within the sign-in limits: the attempt is counted against the
 * user and the address before the password is hashed (a refused attempt costs no hashing and
 * records nothing), a failure stays counted for the window, a success clears the user's count.
 * An unknown or disabled user, or one without a password (single sign-on's), costs the same scrypt
 * work as a known one and gets the same error.
 */
export async function checkPassword(store: Store, settings: PeopleSettings, username: string, password: string, ip: string, now: number): Promise<UserWithPassword> {
  const name = username.toLowerCase();
  const userSubject = `user:${name}`;
  const claim = await store.users.claimSignIn([userSubject, addressSubject(ip)], now, settings.signInWindowMs, settings.signInMaxFailures);
  if (!claim.allowed) {
    const seconds = Math.max(1, Math.ceil((claim.retryAt - now) / 1000));
    throw new ApiError(
      'GANTRY_E_SIGN_IN_LIMITED',
      `too many failed sign-ins for this user or from this address; try again in ${seconds} s`,
      { retryAfter: seconds },
      { 'retry-after': String(seconds) },
    );
  }
  const user = await store.users.getUser(name);
  // A user made by single sign-on has no password: checked against the dummy hash like an unknown
  // user, so the answer and its time do not tell who signs in elsewhere.
  const hasPassword = user !== null && user.passwordHash !== NO_PASSWORD;
  const ok = await verifyPassword(password, hasPassword ? user.passwordHash : await dummyHash());
  if (user === null || !hasPassword || !ok || user.disabled) throw signInFailed();
  await store.users.releaseSignIn(claim.attemptIds, userSubject);
  if (needsRehash(user.passwordHash)) await store.users.rehashPassword(user.username, user.passwordHash, await hashPassword(password));
  return user;
}

export interface NewSession {
  /** The cookie's value: shown to the browser, never stored. */
  id: string;
  /** Its SHA-256, the session row's key. */
  hash: string;
  expiresAt: number;
}

/** A fresh session of `user`. */
export async function openSession(store: Store, settings: PeopleSettings, user: User, now: number, audit?: AuditFor<void>): Promise<NewSession> {
  const id = crypto.randomBytes(32).toString('base64url');
  const hash = hashToken(id);
  const expiresAt = now + settings.sessionTtlMs;
  await store.users.createSession({ hash, userId: user.id, createdAt: now, lastSeenAt: now, expiresAt }, audit);
  return { id, hash, expiresAt };
}

/** The first admin user, made when the store has no user at all; its password is shown once. */
export const FIRST_ADMIN = 'admin';

/**
 * Makes the user `admin` with a random password when there are no users yet, and returns the
 * password (the only time it exists outside its hash); null when there were users already. Of
 * several instances starting at once on one database, one makes it (the username is unique).
 */
export async function bootstrapAdminUser(store: Store, now: number): Promise<{ username: string; password: string } | null> {
  if ((await store.users.countUsers()) > 0) return null;
  const password = generatePassword();
  const made = await store.users.createUser({ username: FIRST_ADMIN, passwordHash: await hashPassword(password), admin: true, createdAt: now });
  return made ? { username: made.username, password } : null;
}
