// Every call to /api/v1 goes through here: JSON in and out, the API's `{error: {code, message}}`
// turned into an ApiError, and the caller's credentials. A person signed in with a username and
// password is known by the session cookie (HttpOnly: the browser sends it, no script reads it)
// and every write carries the session's CSRF token as X-CSRF-Token; one signed in with a token
// sends it as a bearer token (token.ts). A 401 signs the user out; a request the server shed
// (429/503 with Retry-After) is sent again after the wait it asks for, as the CLI does.

import { retryAfterSeconds, shedWaitOf } from '../../src/client/shed-wait.js';
import { clearToken, readToken } from './token.js';
import { waitingForServer } from './server-busy.js';

export const API = '/api/v1';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown = null,
    /** Retry-After of a 429 or 503, in seconds; null when the answer had none. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

type Unauthorized = () => void;
let onUnauthorized: Unauthorized = () => {};
/** The app sends the user to the sign-in page when the token or the session stops working. */
export function setUnauthorizedHandler(fn: Unauthorized): void {
  onUnauthorized = fn;
}

/**
 * The session's CSRF token, in memory only: from the sign-in answer, or from GET /session after a
 * reload (session.ts). A script of another site cannot read it, so it cannot forge a write even
 * though the browser would send the cookie along (SameSite=Strict already stops that too).
 */
let csrfToken: string | null = null;
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function authHeaders(token = readToken()): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

const READS = new Set(['GET', 'HEAD']);

/** Turns a non-2xx answer into an ApiError (and a 401 into signing out, unless `quiet`). */
export async function failure(res: Response, quiet = false): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: a proxy's page, say.
  }
  const e = (body as { error?: { code?: string; message?: string } } | null)?.error;
  const retryAfter = res.status === 429 || res.status === 503 ? retryAfterSeconds(res.headers.get('retry-after')) : null;
  const err = new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `${res.status} ${res.statusText}`, body, retryAfter);
  if (res.status === 401 && !quiet) {
    clearToken();
    csrfToken = null;
    onUnauthorized();
  }
  return err;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Sign-in checks a token before it is saved. */
  token?: string;
  /** A 401 is the answer the caller wants to read (sign-in), not a reason to sign out. */
  quiet?: boolean;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const bearer = authHeaders(opts.token ?? readToken());
  const send = () => {
    const headers: Record<string, string> = { accept: 'application/json', ...bearer, ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    // A bearer request needs no CSRF token; a cookie one must carry it on every write.
    if (!READS.has(method) && !bearer.authorization && csrfToken) headers['x-csrf-token'] = csrfToken;
    return fetch(`${API}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal });
  };
  let res = await send();
  // Shed by the overload protection (nothing was done): wait as long as it asks, then send again.
  for (let waited = 0; res.status === 429 || res.status === 503; ) {
    const wait = shedWaitOf(res.status, res.headers.get('retry-after'), await res.clone().text(), waited);
    if (wait === null) break;
    waited += wait.seconds;
    await waitingForServer(wait, opts.signal);
    res = await send();
  }
  if (res.status === 403 && !READS.has(method) && !bearer.authorization && (await refreshedCsrf(res))) res = await send();
  if (!res.ok) throw await failure(res, opts.quiet);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/**
 * A write refused for its CSRF token (a token of a session that has since been replaced, say, in
 * another tab): ask GET /session for a fresh one, once. True when there is one to retry with.
 */
async function refreshedCsrf(res: Response): Promise<boolean> {
  const code = ((await res.clone().json().catch(() => null)) as { error?: { code?: string } } | null)?.error?.code;
  if (code !== 'GANTRY_E_CSRF') return false;
  const again = await fetch(`${API}/session`, { headers: { accept: 'application/json' } });
  if (!again.ok) return false;
  const token = ((await again.json()) as { csrfToken?: string }).csrfToken;
  if (!token) return false;
  csrfToken = token;
  return true;
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
