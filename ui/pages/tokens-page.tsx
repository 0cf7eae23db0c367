// Your personal access tokens: bearer tokens for scripts and the CLI that act as you, narrowed to
// some projects and/or to reads if you like, until they expire or you revoke them. A new token's
// value is in the answer that made it only, so it is shown once, with a copy button.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { useSession } from '../api/session.js';
import type { Page, PersonalToken, Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ConfirmButton } from '../components/confirm-button.js';
import { ErrorBox } from '../components/feedback.js';
import { TimeAgo } from '../components/time.js';
import { Section, useAction } from '../settings/section.js';
import { SettingsTable } from '../settings/settings-table.js';

/** The end of the chosen day where the person is: a token "expiring on the 31st" works all of that day. */
const endOfDay = (date: string) => new Date(`${date}T23:59:59`).toISOString();
const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

function NewToken({ token, onDone }: { token: string; onDone(): void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="once" role="status">
      <p>
        <strong>Copy this token now: it is not shown again.</strong> Anyone who has it acts as you (within its projects and access): keep it like a
        password, and revoke it here if it leaks.
      </p>
      <code class="secret" data-testid="new-personal-token">
        {token}
      </code>{' '}
      <button
        type="button"
        onClick={() =>
          void navigator.clipboard
            ?.writeText(token)
            .then(() => setCopied(true))
            .catch(() => setCopied(false))
        }
      >
        Copy
      </button>{' '}
      {copied ? <span class="muted">Copied</span> : null}{' '}
      <button type="button" class="link" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function UserTokens({ username }: { username: string }) {
  const base = `/users/${encodeURIComponent(username)}/tokens`;
  const list = useApi<{ items: PersonalToken[] }>(base);
  const projects = useApi<Page<Project>>('/projects?limit=100');
  const names = new Map((projects.data?.items ?? []).map((p) => [p.id, p.name]));
  const [description, setDescription] = useState('');
  const [expires, setExpires] = useState('');
  const [only, setOnly] = useState('');
  const [readOnly, setReadOnly] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const action = useAction();

  const create = async (e: Event) => {
    e.preventDefault();
    const narrowed = only
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    const body: Record<string, unknown> = { description: description.trim(), readOnly };
    if (expires) body.expiresAt = endOfDay(expires);
    if (narrowed.length) body.projects = narrowed;
    const ok = await action.run(async () => {
      const t = await api<PersonalToken>(base, { method: 'POST', body });
      setCreated(t.token ?? null);
    });
    if (ok) {
      setDescription('');
      setExpires('');
      setOnly('');
      setReadOnly(false);
      list.reload();
    }
  };
  const revoke = (t: PersonalToken) => action.run(() => api(`${base}/${t.id}`, { method: 'DELETE' })).then(list.reload);

  return (
    <>
      <Section id="tokens" title="Personal access tokens" intro={<>A token acts as you, with your roles, for scripts and the CLI: <code>GANTRY_TOKEN=… gantry pipelines</code>.</>}>
        {created ? <NewToken token={created} onDone={() => setCreated(null)} /> : null}
        <SettingsTable
          name="personal-tokens"
          list={list}
          itemKey={(t) => t.id}
          rowAttributes={(t) => ({ 'data-token': t.id })}
          columns={[
            { label: 'Description', cell: (t) => t.description },
            {
              label: 'Projects',
              cell: (t) => (t.projects === null ? <span class="muted">all yours</span> : t.projects.map((id) => <span class="tag" key={id}>{names.get(id) ?? `#${id}`}</span>)),
            },
            { label: 'Access', cell: (t) => (t.readOnly ? <span class="tag">read-only</span> : <span class="muted">read and write</span>) },
            {
              label: 'Expires',
              cell: (t) =>
                t.expired ? (
                  <span class="tag warn">expired</span>
                ) : t.expiresAt ? (
                  <time dateTime={t.expiresAt}>{new Date(t.expiresAt).toLocaleDateString()}</time>
                ) : (
                  <span class="muted">never</span>
                ),
            },
            { label: 'Created', cell: (t) => <TimeAgo iso={t.createdAt} /> },
            { label: 'Last used', cell: (t) => (t.lastUsedAt ? <TimeAgo iso={t.lastUsedAt} /> : <span class="muted">never</span>) },
          ]}
          actions={(t) => (
            <ConfirmButton
              label="Revoke"
              name={`Revoke token ${t.description}`}
              question={`Revoke ${t.description}? What uses it stops working at once.`}
              disabled={action.busy}
              onConfirm={() => revoke(t)}
            />
          )}
          none="No personal access tokens yet."
        />
      </Section>
      <Section id="new-token" title="New token">
        <form class="settings-form" onSubmit={create} aria-label="New personal access token">
          <div class="field-row">
            <div>
              <label for="token-description">Description</label>
              <input id="token-description" required maxLength={255} placeholder="What uses it (laptop)" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
            </div>
            <div>
              <label for="token-expires">Expires on (empty: never)</label>
              <input id="token-expires" type="date" min={today()} value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />
            </div>
            <div>
              <label for="token-projects">Only these projects (empty: all yours)</label>
              <input id="token-projects" placeholder="web, api" autoCapitalize="none" spellcheck={false} value={only} onInput={(e) => setOnly(e.currentTarget.value)} />
            </div>
          </div>
          <label class="check">
            <input type="checkbox" checked={readOnly} onChange={(e) => setReadOnly(e.currentTarget.checked)} /> Read-only: it can read, never change or run anything
          </label>
          <ErrorBox error={action.error} />
          <div class="actions">
            <button type="submit" class="primary" disabled={action.busy || description.trim() === ''}>
              Create token
            </button>
          </div>
        </form>
      </Section>
    </>
  );
}

/** Your own password: the current one, then the new one twice (the server checks its length). */
function OwnPassword({ username }: { username: string }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [done, setDone] = useState(false);
  const action = useAction();
  const change = async (e: Event) => {
    e.preventDefault();
    setDone(false);
    const ok = await action.run(async () => {
      if (next !== again) throw new Error('the two new passwords differ');
      await api(`/users/${encodeURIComponent(username)}`, { method: 'PATCH', body: { password: next, currentPassword: current } });
    });
    if (ok) {
      setCurrent('');
      setNext('');
      setAgain('');
      setDone(true);
    }
  };
  return (
    <Section id="password" title="Your password" intro="Changing it signs out your other sessions; this one goes on.">
      <form class="settings-form" onSubmit={change} aria-label="Change your password">
        <div class="field-row">
          <div>
            <label for="password-current">Current password</label>
            <input id="password-current" type="password" autoComplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
          </div>
          <div>
            <label for="password-new">New password (12 characters or more)</label>
            <input id="password-new" type="password" autoComplete="new-password" required minLength={12} value={next} onInput={(e) => setNext(e.currentTarget.value)} />
          </div>
          <div>
            <label for="password-again">New password again</label>
            <input id="password-again" type="password" autoComplete="new-password" required value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
          </div>
        </div>
        <button class="primary" disabled={action.busy}>
          Change password
        </button>
        {done ? (
          <span class="muted" role="status">
            {' '}
            Password changed.
          </span>
        ) : null}
        <ErrorBox error={action.error} />
      </form>
    </Section>
  );
}

export function TokensPage() {
  const session = useSession();
  const who = session.status === 'signed-in' ? session.who : null;
  return (
    <main class="page settings">
      <header class="page-head">
        <h1>Your tokens and password</h1>
      </header>
      {who?.kind === 'user' ? (
        <>
          {who.token ? (
            <p class="muted">
              You are signed in with a personal access token: it can list and revoke tokens, but only a password sign-in (or an admin) makes new ones.
            </p>
          ) : null}
          <UserTokens username={who.user.username} />
          {who.token ? null : <OwnPassword username={who.user.username} />}
        </>
      ) : (
        <div class="card">
          <p>Personal access tokens belong to a person. You are signed in with a token, not as a user: sign in with your username and password to manage yours.</p>
        </div>
      )}
    </main>
  );
}
