// Commit statuses on the forge: where the project's pipeline states are reported. The token is
// write-only: the form never shows the stored one, and saving always sends a new one.

import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api/client.js';
import type { ForgeConfig } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';
import { Section, useAction } from './section.js';

export function ForgeSettings({ base }: { base: string }) {
  const current = useApi<ForgeConfig>(`${base}/forge`);
  // 404: no forge configured, which is not an error to show.
  const none = current.error instanceof ApiError && current.error.status === 404;
  const [form, setForm] = useState({ provider: 'github', baseUrl: '', repository: '', context: 'gantry', token: '' });
  const set = (patch: Partial<typeof form>) => setForm({ ...form, ...patch });
  useEffect(() => {
    const c = current.data;
    if (c) setForm({ provider: c.provider, baseUrl: c.baseUrl, repository: c.repository, context: c.context, token: '' });
  }, [current.data]);
  const action = useAction();
  const save = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      const body = { provider: form.provider, repository: form.repository.trim(), token: form.token, context: form.context.trim() || 'gantry', ...(form.baseUrl.trim() ? { baseUrl: form.baseUrl.trim() } : {}) };
      current.setData(() => null);
      await api(`${base}/forge`, { method: 'PUT', body });
    });
    if (ok) current.reload();
  };
  const remove = () => action.run(() => api(`${base}/forge`, { method: 'DELETE' })).then(current.reload);
  return (
    <Section id="forge" title="Commit statuses" intro="Report each pipeline's state on its commit in GitHub, Gitea/Forgejo or GitLab.">
      {none ? null : <ErrorBox error={current.error} />}
      {current.data ? (
        <p>
          Reporting to <strong>{current.data.provider}</strong> <code>{current.data.repository}</code> at <span class="mono">{current.data.baseUrl}</span> as{' '}
          <code>{current.data.context}</code>.{' '}
          <button type="button" onClick={remove}>
            Stop reporting
          </button>
        </p>
      ) : none ? (
        <p class="muted">Not reporting statuses.</p>
      ) : null}
      <form class="settings-form" onSubmit={save} aria-label="Forge">
        <div class="field-row">
          <div>
            <label for="forge-provider">Provider</label>
            <select id="forge-provider" value={form.provider} onChange={(e) => set({ provider: e.currentTarget.value })}>
              <option value="github">GitHub</option>
              <option value="gitea">Gitea / Forgejo</option>
              <option value="gitlab">GitLab</option>
            </select>
          </div>
          <div>
            <label for="forge-base">API base URL</label>
            <input id="forge-base" class="mono" placeholder={form.provider === 'gitea' ? 'https://gitea.example' : 'default'} value={form.baseUrl} onInput={(e) => set({ baseUrl: e.currentTarget.value })} />
          </div>
          <div>
            <label for="forge-repo">Repository</label>
            <input id="forge-repo" class="mono" required placeholder="owner/repo" value={form.repository} onInput={(e) => set({ repository: e.currentTarget.value })} />
          </div>
          <div>
            <label for="forge-context">Context</label>
            <input id="forge-context" value={form.context} onInput={(e) => set({ context: e.currentTarget.value })} />
          </div>
        </div>
        <label for="forge-token">Token {current.data ? <span class="muted">(stored; enter a new one to save changes)</span> : null}</label>
        <input id="forge-token" type="password" autoComplete="off" required value={form.token} onInput={(e) => set({ token: e.currentTarget.value })} />
        <ErrorBox error={action.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={action.busy}>
            Save
          </button>
        </div>
      </form>
    </Section>
  );
}
