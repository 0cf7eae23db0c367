// Schedules: cron + time zone + ref + variables, active or paused, with the next firing and the
// last error (why the last firing made no pipeline).

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { Schedule } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { parseVariables, Section, useAction } from './section.js';
import { SettingsTable } from './settings-table.js';

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '–');

export function SchedulesSettings({ base }: { base: string }) {
  const list = useApi<{ items: Schedule[] }>(`${base}/schedules`);
  const [form, setForm] = useState({ description: '', cron: '0 3 * * *', timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', ref: 'main', variables: '', active: true });
  const set = (patch: Partial<typeof form>) => setForm({ ...form, ...patch });
  const action = useAction();
  const create = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      const variables = parseVariables(form.variables);
      await api(`${base}/schedules`, {
        method: 'POST',
        body: { cron: form.cron.trim(), timezone: form.timezone.trim(), ref: form.ref.trim(), active: form.active, variables, ...(form.description.trim() ? { description: form.description.trim() } : {}) },
      });
    });
    if (ok) {
      set({ description: '', variables: '' });
      list.reload();
    }
  };
  const patch = (s: Schedule, body: object) => action.run(() => api(`${base}/schedules/${s.id}`, { method: 'PATCH', body })).then(list.reload);
  const remove = (s: Schedule) => action.run(() => api(`${base}/schedules/${s.id}`, { method: 'DELETE' })).then(list.reload);
  return (
    <Section id="schedules" title="Schedules" intro="Pipelines started at the times a cron expression names, read in its time zone.">
      <SettingsTable
        name="schedules"
        list={list}
        itemKey={(s) => s.id}
        rowAttributes={(s) => ({ 'data-schedule': s.id })}
        columns={[
          {
            label: 'Schedule',
            cell: (s) => (
              <>
                <span class="strong">{s.description ?? `#${s.id}`}</span> <code>{s.cron}</code> <span class="muted">{s.timezone}</span>
                {Object.keys(s.variables).length ? <div class="muted mono">{Object.keys(s.variables).join(', ')}</div> : null}
              </>
            ),
          },
          { label: 'Ref', class: 'mono', cell: (s) => s.ref },
          { label: 'Next run', cell: (s) => (s.active ? when(s.nextRunAt) : <span class="tag">paused</span>) },
          {
            label: 'Last',
            cell: (s) => (
              <>
                {s.lastPipelineId ? <Link href={`/pipelines/${s.lastPipelineId}`}>#{s.lastPipelineId}</Link> : <span class="muted">never</span>}
                {s.lastError ? <div class="error-text">{s.lastError}</div> : null}
              </>
            ),
          },
        ]}
        actions={(s) => (
          <>
            <button type="button" onClick={() => patch(s, { active: !s.active })}>
              {s.active ? 'Pause' : 'Resume'}
            </button>
            <button type="button" onClick={() => remove(s)} aria-label={`Delete schedule ${s.description ?? s.id}`}>
              Delete
            </button>
          </>
        )}
        none="No schedules yet."
      />
      <form class="settings-form" onSubmit={create} aria-label="New schedule">
        <h3>New schedule</h3>
        <div class="field-row">
          <div>
            <label for="sched-desc">Description</label>
            <input id="sched-desc" placeholder="nightly" value={form.description} onInput={(e) => set({ description: e.currentTarget.value })} />
          </div>
          <div>
            <label for="sched-cron">Cron</label>
            <input id="sched-cron" class="mono" required value={form.cron} onInput={(e) => set({ cron: e.currentTarget.value })} />
          </div>
          <div>
            <label for="sched-tz">Time zone</label>
            <input id="sched-tz" required value={form.timezone} onInput={(e) => set({ timezone: e.currentTarget.value })} />
          </div>
          <div>
            <label for="sched-ref">Ref</label>
            <input id="sched-ref" class="mono" required value={form.ref} onInput={(e) => set({ ref: e.currentTarget.value })} />
          </div>
        </div>
        <label for="sched-vars">Variables (KEY=VALUE, one a line)</label>
        <textarea id="sched-vars" class="mono" rows={2} value={form.variables} onInput={(e) => set({ variables: e.currentTarget.value })} />
        <label class="check">
          <input type="checkbox" checked={form.active} onChange={(e) => set({ active: e.currentTarget.checked })} /> Active
        </label>
        <ErrorBox error={action.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={action.busy}>
            Create schedule
          </button>
        </div>
      </form>
    </Section>
  );
}
