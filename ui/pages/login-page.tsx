// Sign-in with an API token. The token is checked against the API, then kept in sessionStorage
// (or localStorage when "stay signed in" is ticked); the form never submits it anywhere else.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { saveToken } from '../api/token.js';
import { ErrorBox } from '../components/feedback.js';
import { navigate } from '../router.js';

export function LoginPage({ next }: { next: string }) {
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('/projects?limit=1', { token: token.trim() });
      saveToken(token.trim(), remember);
      navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit}>
        <h1>Sign in to Gantry</h1>
        <p class="muted">
          Paste an API token. <code>gantry up</code> prints the admin token; it is also in <code>$GANTRY_HOME/admin.token</code>.
        </p>
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autoComplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} autoFocus />
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.currentTarget.checked)} /> Stay signed in on this device
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy || token.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
