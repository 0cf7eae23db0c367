// Who is signed in, for the whole app: read once from GET /session when the app starts (a cookie
// or a stored token), set by signing in, cleared by signing out or by any 401. Pages ask it what
// the caller may do in a project (the roles of GET /session); the server decides anyway, and a
// page shows its 403 when it did not know.

import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setCsrfToken } from './client.js';
import { clearToken, readToken, saveToken } from './token.js';
import type { Role, Session } from './types.js';

export type SessionState = { status: 'loading' } | { status: 'signed-out' } | { status: 'failed'; error: unknown } | { status: 'signed-in'; who: Session };

let state: SessionState = { status: 'loading' };
const listeners = new Set<(s: SessionState) => void>();

function set(next: SessionState): void {
  state = next;
  for (const fn of listeners) fn(state);
}

function apply(who: Session): void {
  setCsrfToken(who.kind === 'user' && who.csrfToken ? who.csrfToken : null);
  set({ status: 'signed-in', who });
}

export function sessionState(): SessionState {
  return state;
}

/** The session state, re-rendering the caller when it changes. */
export function useSession(): SessionState {
  const [s, setS] = useState(state);
  useEffect(() => {
    listeners.add(setS);
    setS(state);
    return () => void listeners.delete(setS);
  }, []);
  return s;
}

/** Asks the server who this is: by the stored token if there is one, else by the session cookie. */
export async function loadSession(): Promise<void> {
  try {
    apply(await api<Session>('/session', { quiet: true }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signedOut();
    set({ status: 'failed', error: err });
  }
}

/** Username and password: the server sets the session cookie; GET /session then gives the roles. */
export async function signInWithPassword(username: string, password: string): Promise<void> {
  // A token left in storage would win over the cookie (a bearer token always does).
  clearToken();
  setCsrfToken(null);
  const answer = await api<{ csrfToken: string }>('/session', { method: 'POST', body: { username, password }, quiet: true });
  setCsrfToken(answer.csrfToken);
  apply(await api<Session>('/session', { quiet: true }));
}

/** How this server lets people sign in (GET /session/methods, public): single sign-on when configured. */
export interface SignInMethods {
  password: boolean;
  sso: { name: string; start: string } | null;
}

export async function signInMethods(): Promise<SignInMethods> {
  return api<SignInMethods>('/session/methods', { quiet: true });
}

/**
 * The address that starts a single sign-on: a page load, not a fetch (the browser goes to the
 * provider and comes back to `next` with the session cookie set). A stored token would win over
 * that cookie, so it goes first.
 */
export function ssoStartUrl(methods: SignInMethods, next: string): string | null {
  if (!methods.sso) return null;
  return `${methods.sso.start}?next=${encodeURIComponent(next)}`;
}

export function forgetTokenBeforeSso(): void {
  clearToken();
}

/** A token (for automation, or the admin token): checked against the API, then kept in storage. */
export async function signInWithToken(token: string, remember: boolean): Promise<void> {
  const who = await api<Session>('/session', { token, quiet: true });
  saveToken(token, remember);
  apply(who);
}

/** Ends a cookie session on the server (the cookie is worthless from then on) and forgets the token. */
export async function signOut(): Promise<void> {
  if (state.status === 'signed-in' && state.who.kind === 'user' && !state.who.token && readToken() === null) {
    try {
      await api('/session', { method: 'DELETE', quiet: true });
    } catch (err) {
      // Already ended (expired, or signed out in another tab): nothing left to end.
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    }
  }
  signedOut();
}

/** After a 401 anywhere, or a sign-out. */
export function signedOut(): void {
  clearToken();
  setCsrfToken(null);
  set({ status: 'signed-out' });
}

/** What the header says: the user's name, or which kind of token. */
export function whoLabel(who: Session): string {
  if (who.kind === 'user') return who.user.username;
  return who.kind === 'admin-token' ? 'admin token' : 'token';
}

/** The caller's standing in a project: an admin, a role, or none (the project does not exist for it). */
export function roleIn(who: Session, projectId: number): Role | 'admin' | null {
  if (who.kind === 'admin-token') return 'admin';
  // Project tokens are maintainers of their project (of every project when they have none).
  if (who.kind === 'project-token') return who.projectId === null || who.projectId === projectId ? 'maintainer' : null;
  const narrowed = who.token?.projects ?? null;
  if (narrowed !== null && !narrowed.includes(projectId)) return null;
  if (who.user.admin && narrowed === null) return 'admin';
  return who.roles.find((r) => r.projectId === projectId)?.role ?? null;
}

const RANK: Record<Role | 'admin', number> = { viewer: 1, developer: 2, maintainer: 3, admin: 4 };

/** Whether the caller's role in the project is at least `need` (for reading what that role may read). */
export function atLeast(who: Session, projectId: number, need: Role): boolean {
  const mine = roleIn(who, projectId);
  return mine !== null && RANK[mine] >= RANK[need];
}

/** Whether the caller may make a change that needs `need` in the project (a read-only token makes none). */
export function mayWrite(who: Session, projectId: number, need: Role): boolean {
  if (who.kind === 'user' && who.token?.readOnly) return false;
  return atLeast(who, projectId, need);
}

/** An instance admin: the admin token, or an admin user not narrowed to projects by their token. */
export function isAdmin(who: Session): boolean {
  if (who.kind === 'admin-token') return true;
  return who.kind === 'user' && who.user.admin && (who.token?.projects ?? null) === null;
}

/** Whether the signed-in caller may act with `need` in the project (unknown project: not yet). */
export function useMayWrite(projectId: number | null | undefined, need: Role): boolean {
  const session = useSession();
  return session.status === 'signed-in' && projectId != null && mayWrite(session.who, projectId, need);
}
