// Trigger tokens: another system's CI starts this project's pipelines with one. The token is in
// the answer that creates it only, so it is shown once, with a way to copy it.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { TriggerToken } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';
import { TimeAgo } from '../components/time.js';
import { Section, useAction } from './section.js';
import { SettingsTable } from './settings-table.js';

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
      <SettingsTable
        name="tokens"
        list={list}
        itemKey={(t) => t.id}
        columns={[
          { label: 'Token', cell: (t) => t.description ?? <span class="muted">#{t.id}</span> },
          { label: 'Created', cell: (t) => <TimeAgo iso={t.createdAt} /> },
          { label: 'Last used', cell: (t) => (t.lastUsedAt ? <TimeAgo iso={t.lastUsedAt} /> : <span class="muted">never</span>) },
        ]}
        actions={(t) => (
          <button type="button" onClick={() => revoke(t)} aria-label={`Revoke token ${t.description ?? t.id}`}>
            Revoke
          </button>
        )}
        none="No trigger tokens."
      />
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
