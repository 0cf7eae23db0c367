// Variables and secrets: values are write-only (PUT sets one, the list shows keys and the masked
// flag, never a value), so "edit" is setting a new value under the same key.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { Variable } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';
import { TimeAgo } from '../components/time.js';
import { Section, useAction } from './section.js';
import { SettingsTable } from './settings-table.js';

export function VariablesSettings({ base }: { base: string }) {
  const list = useApi<{ items: Variable[] }>(`${base}/variables`);
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [masked, setMasked] = useState(true);
  const action = useAction();
  const add = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(() => api(`${base}/variables/${encodeURIComponent(key.trim())}`, { method: 'PUT', body: { value, masked } }));
    if (ok) {
      setKey('');
      setValue('');
      list.reload();
    }
  };
  const remove = (k: string) => action.run(() => api(`${base}/variables/${encodeURIComponent(k)}`, { method: 'DELETE' })).then(list.reload);
  return (
    <Section id="variables" title="Variables and secrets" intro="Values are encrypted and never shown again; masked ones are hidden in every log.">
      <SettingsTable
        name="variables"
        list={list}
        itemKey={(v) => v.key}
        columns={[
          { label: 'Key', class: 'mono', cell: (v) => v.key },
          { label: 'Masked', cell: (v) => (v.masked ? <span class="tag">masked</span> : <span class="muted">no</span>) },
          { label: 'Changed', cell: (v) => <TimeAgo iso={v.updatedAt} /> },
        ]}
        actions={(v) => (
          <button type="button" onClick={() => remove(v.key)} aria-label={`Delete variable ${v.key}`}>
            Delete
          </button>
        )}
        none="No variables yet."
      />
      <form class="settings-form inline" onSubmit={add} aria-label="Set a variable">
        <input aria-label="Key" placeholder="KEY" class="mono" required pattern="[A-Za-z_][A-Za-z0-9_]*" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        <input aria-label="Value" placeholder="value" class="mono" type="password" autoComplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        <label class="check">
          <input type="checkbox" checked={masked} onChange={(e) => setMasked(e.currentTarget.checked)} /> Masked
        </label>
        <button type="submit" class="primary" disabled={action.busy}>
          Set variable
        </button>
      </form>
      <ErrorBox error={action.error} />
    </Section>
  );
}
