// "Run pipeline": a ref and variables, sent as POST /projects/:project/pipelines with a fresh
// Idempotency-Key (a double click or a retried request makes one pipeline, not two).

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { Pipeline } from '../api/types.js';
import { ErrorBox } from '../components/feedback.js';
import { navigate } from '../router.js';

interface Row {
  key: string;
  value: string;
}

export function RunPipelineForm({ project, onClose }: { project: string; onClose(): void }) {
  const [ref, setRef] = useState('main');
  const [rows, setRows] = useState<Row[]>([{ key: '', value: '' }]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [idempotencyKey] = useState(() => crypto.randomUUID());
  const setRow = (i: number, patch: Partial<Row>) => setRows(rows.map((r, k) => (k === i ? { ...r, ...patch } : r)));
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const variables = Object.fromEntries(rows.filter((r) => r.key.trim()).map((r) => [r.key.trim(), r.value]));
      const p = await api<Pipeline>(`/projects/${encodeURIComponent(project)}/pipelines`, {
        method: 'POST',
        body: { ref: ref.trim(), source: 'web', ...(Object.keys(variables).length ? { variables } : {}) },
        headers: { 'idempotency-key': idempotencyKey },
      });
      navigate(`/pipelines/${p.id}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form class="card run-form" onSubmit={submit} aria-label="Run pipeline">
      <h2>Run pipeline</h2>
      <label for="run-ref">Branch, tag or commit</label>
      <input id="run-ref" name="ref" required value={ref} onInput={(e) => setRef(e.currentTarget.value)} autoFocus />
      <fieldset>
        <legend>Variables</legend>
        {rows.map((r, i) => (
          <div class="var-row" key={i}>
            <input aria-label={`Variable ${i + 1} key`} placeholder="KEY" class="mono" pattern="[A-Za-z_][A-Za-z0-9_]*" value={r.key} onInput={(e) => setRow(i, { key: e.currentTarget.value })} />
            <input aria-label={`Variable ${i + 1} value`} placeholder="value" class="mono" value={r.value} onInput={(e) => setRow(i, { value: e.currentTarget.value })} />
            <button type="button" class="icon" aria-label={`Remove variable ${i + 1}`} onClick={() => setRows(rows.length > 1 ? rows.filter((_, k) => k !== i) : [{ key: '', value: '' }])}>
              ✕
            </button>
          </div>
        ))}
        <button type="button" class="link" onClick={() => setRows([...rows, { key: '', value: '' }])}>
          + Add variable
        </button>
      </fieldset>
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Starting…' : 'Run pipeline'}
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
