// Who is signed in, in the header: a button with the user's name (or which kind of token) that
// opens a small menu: your tokens, the instance's audit log and compute minutes (admins), sign out. A disclosure, not
// an ARIA menu: its items are plain links and buttons reached with Tab; Escape or a click
// elsewhere closes it.

import { useEffect, useRef, useState } from 'preact/hooks';
import { isAdmin, signOut, whoLabel } from '../api/session.js';
import type { Session } from '../api/types.js';
import { ErrorBox } from './feedback.js';
import { Link } from './link.js';

export function UserMenu({ who, onSignedOut }: { who: Session; onSignedOut(): void }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const root = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!open) return;
    const away = (e: Event) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    const key = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setOpen(false);
      button.current?.focus();
    };
    document.addEventListener('pointerdown', away);
    document.addEventListener('focusin', away);
    document.addEventListener('keydown', key);
    return () => {
      document.removeEventListener('pointerdown', away);
      document.removeEventListener('focusin', away);
      document.removeEventListener('keydown', key);
    };
  }, [open]);

  const label = whoLabel(who);
  const how =
    who.kind === 'user'
      ? who.token
        ? `with a personal access token${who.token.readOnly ? ' (read-only)' : ''}`
        : 'with a password'
      : who.kind === 'admin-token'
        ? 'with the admin token'
        : 'with a project token';
  const out = async () => {
    setError(null);
    try {
      await signOut();
      setOpen(false);
      onSignedOut();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <div class="user-menu" ref={root}>
      <button
        ref={button}
        type="button"
        class="user-button"
        aria-expanded={open}
        aria-controls="user-menu-items"
        onClick={() => setOpen(!open)}
      >
        {/* The name read out holds what is seen ("admin admin" for the admin user, an admin): voice
            control users say what they see. */}
        <span class="visually-hidden">Signed in as </span>
        <span class="user-name ellipsis">{label}</span>
        {who.kind === 'user' && who.user.admin ? <span class="tag">admin</span> : null}
        <span aria-hidden="true">▾</span>
      </button>
      <div id="user-menu-items" class="user-menu-items card" hidden={!open}>
        <p class="muted">
          Signed in as <strong>{label}</strong> {how}
        </p>
        <ul>
          {who.kind === 'user' ? (
            <li onClick={() => setOpen(false)}>
              <Link href="/account/tokens">Your tokens</Link>
            </li>
          ) : null}
          {isAdmin(who) ? (
            <li onClick={() => setOpen(false)}>
              <Link href="/admin/audit">Instance audit log</Link>
            </li>
          ) : null}
          {isAdmin(who) ? (
            <li onClick={() => setOpen(false)}>
              <Link href="/admin/usage">Compute minutes</Link>
            </li>
          ) : null}
          <li>
            <button type="button" class="link" onClick={out}>
              Sign out
            </button>
          </li>
        </ul>
        <ErrorBox error={error} />
      </div>
    </div>
  );
}
