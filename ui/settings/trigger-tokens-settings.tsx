// Trigger tokens: another system's CI starts this project's pipelines with one. The token is in
// the answer that creates it only, so it is shown once, with a way to copy it.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { TriggerToken } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';
import { TimeAgo } from '../components/time.js';
import { Section, useAction } from './section.js';

export function TriggerTokensSettings({ base }: { base: string }) {
  const list = useApi<{ items: TriggerToken[] }>(`${base}/trigger-tokens`);
  const [description, setDescription] = useState('');
  const [created, setCreated] = useState<TriggerToken | null>(null);
  const action = useAction();
  const create = async (e: Event) => {
    e.preventDefault();
    await action.run(async () => {
      setCreated(await api<TriggerToken>(`${base}/trigger-tokens`, { method: 'POST', body: description.trim() ? { description: description.trim() } : {} }));
      setDescription('');
      list.reload();
    });
  };
  const revoke = (t: TriggerToken) => action.run(() => api(`${base}/trigger-tokens/${t.id}`, { method: 'DELETE' })).then(list.reload);
  return (
    <Section id="trigger-tokens" title="Trigger tokens" intro={<>Start this project's pipelines from another system: <code>POST /api/v1/projects/…/trigger</code> with the token.</>}>
      {created?.token ? (
        <div class="once" role="status">
          <p>
            <strong>Copy this token now:</strong> it is not shown again.
          </p>
          <code class="secret" data-testid="new-trigger-token">
            {created.token}
          </code>{' '}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(created.token!)}>
            Copy
          </button>{' '}
          <button type="button" class="link" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      ) : null}
      <ErrorBox error={list.error} />
      {list.data && list.data.items.length > 0 ? (
        <table class="settings-table tokens">
          <thead>
            <tr>
              <th scope="col">Token</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((t) => (
              <tr key={t.id}>
                <td data-label="Token">
                  {t.description ?? <span class="muted">#{t.id}</span>}
                </td>
                <td data-label="Created">
                  <TimeAgo iso={t.createdAt} />
                </td>
                <td data-label="Last used">{t.lastUsedAt ? <TimeAgo iso={t.lastUsedAt} /> : <span class="muted">never</span>}</td>
                <td class="row-actions">
                  <button type="button" onClick={() => revoke(t)} aria-label={`Revoke token ${t.description ?? t.id}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : list.data ? (
        <p class="muted">No trigger tokens.</p>
      ) : null}
      <form class="settings-form inline" onSubmit={create} aria-label="New trigger token">
        <input aria-label="Token description" placeholder="What uses it (jenkins)" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        <button type="submit" class="primary" disabled={action.busy}>
          Create token
        </button>
      </form>
      <ErrorBox error={action.error} />
    </Section>
  );
}
