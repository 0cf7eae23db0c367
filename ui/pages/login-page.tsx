// Sign-in. People sign in with their username and password: the server answers with a session
// cookie (HttpOnly: no script here ever holds it) and the CSRF token writes carry. Automation and
// the first bootstrap can sign in with a token instead ("Use a token instead"): checked against the
// API, then kept in sessionStorage, or localStorage with "stay signed in". Where the server has single
// sign-on (GET /session/methods), "Sign in with NAME" comes first: a link that takes the browser to the
// provider and back, signed in by the same session cookie.

import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';
import { forgetTokenBeforeSso, signInMethods, signInWithPassword, signInWithToken, ssoStartUrl, type SignInMethods } from '../api/session.js';
import { ErrorBox } from '../components/feedback.js';
import { formatDuration, useTick } from '../components/time.js';
import { navigate } from '../router.js';

const safeNext = (next: string) => (next.startsWith('/') && !next.startsWith('//') ? next : '/');

/** Too many failed sign-ins (429): the time the server said to come back at, and a countdown. */
function Limited({ until }: { until: number }) {
  const now = useTick(true);
  const left = until - now;
  if (left <= 0) return <p class="muted" role="status">You can try again now.</p>;
  return (
    <div class="error-box" role="alert">
      <strong>Too many failed sign-ins for this user or from this address.</strong> Try again at{' '}
      <time dateTime={new Date(until).toISOString()}>{new Date(until).toLocaleTimeString()}</time> (in {formatDuration(left)}).
    </div>
  );
}

function retryAt(err: unknown): number | null {
  if (!(err instanceof ApiError) || err.status !== 429) return null;
  const seconds = (err.body as { error?: { retryAfter?: number } } | null)?.error?.retryAfter ?? 60;
  return Date.now() + seconds * 1000;
}

export function LoginPage({ next }: { next: string }) {
  const [withToken, setWithToken] = useState(false);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [limitedUntil, setLimitedUntil] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [methods, setMethods] = useState<SignInMethods | null>(null);
  useEffect(() => {
    // Without an answer the page is the password form alone, as before single sign-on.
    signInMethods().then(setMethods, () => setMethods(null));
  }, []);
  const sso = methods ? ssoStartUrl(methods, safeNext(next)) : null;
  const now = useTick(limitedUntil !== null);
  const limited = limitedUntil !== null && limitedUntil > now;
  useEffect(() => {
    setError(null);
    document.getElementById(withToken ? 'token' : 'username')?.focus();
  }, [withToken]);

  const submit = (attempt: () => Promise<void>) => async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setLimitedUntil(null);
    try {
      await attempt();
      navigate(safeNext(next), { replace: true });
    } catch (err) {
      const until = retryAt(err);
      if (until !== null) setLimitedUntil(until);
      else setError(err);
      // Another try starts from an empty password, as every sign-in form does.
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      {withToken ? (
        <form class="card login-card" onSubmit={submit(() => signInWithToken(token.trim(), remember))}>
          <h1>Sign in with a token</h1>
          <p class="muted">
            For automation and the first start: an API token or a personal access token. <code>gantry up</code> prints the admin token; it is also in{' '}
            <code>$GANTRY_HOME/admin.token</code>.
          </p>
          <label for="token">Token</label>
          <input id="token" name="token" type="password" autoComplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
          <label class="check">
            <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.currentTarget.checked)} /> Stay signed in on this device
          </label>
          <ErrorBox error={error} />
          <button type="submit" class="primary" disabled={busy || token.trim() === ''}>
            {busy ? 'Checking…' : 'Sign in'}
          </button>
          <button type="button" class="link" onClick={() => setWithToken(false)}>
            Use a username and password instead
          </button>
        </form>
      ) : (
        <form class="card login-card" onSubmit={submit(() => signInWithPassword(username.trim(), password))}>
          <h1>Sign in to Gantry</h1>
          {sso && methods?.sso ? (
            <>
              <a class="button primary sso" href={sso} onClick={forgetTokenBeforeSso}>
                Sign in with {methods.sso.name}
              </a>
              <p class="muted or">or with a username and password</p>
            </>
          ) : (
            <p class="muted">
              On its first start <code>gantry up</code> prints the password of the user <code>admin</code>.
            </p>
          )}
          <label for="username">Username</label>
          <input id="username" name="username" autoComplete="username" autoCapitalize="none" spellcheck={false} required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          <ErrorBox error={error} />
          {limitedUntil !== null ? <Limited until={limitedUntil} /> : null}
          <button type="submit" class="primary" disabled={busy || limited || username.trim() === '' || password === ''}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
          <button type="button" class="link" onClick={() => setWithToken(true)}>
            Use a token instead
          </button>
        </form>
      )}
    </main>
  );
}
