// How long the project's pipelines, logs and artifacts are kept (docs/RUNNING.md, "Retention and
// garbage collection"): each field empty means the instance's default, sent as null, so that a
// later change of the default reaches the project. One PATCH /projects/:project {retention} of
// what changed.

import { useState } from 'preact/hooks';
import type { ProjectRetention } from '../../src/domain/retention.js';
import { api } from '../api/client.js';
import type { Project } from '../api/types.js';
import { ErrorBox } from '../components/feedback.js';
import { Section, useAction } from './section.js';

const NONE: ProjectRetention = { pipelineDays: null, keepPerRef: null, logDays: null, artifactsExpireIn: null, keepLatestArtifacts: null };
const text = (n: number | string | null) => (n === null ? '' : String(n));
const intOrNull = (s: string) => (s.trim() === '' ? null : Number(s));
type Keep = 'default' | 'yes' | 'no';
const keepOf = (b: boolean | null): Keep => (b === null ? 'default' : b ? 'yes' : 'no');

export function RetentionSettings({ project, onSaved }: { project: Project; onSaved(p: Project): void }) {
  const now = project.retention ?? NONE;
  const [pipelineDays, setPipelineDays] = useState(text(now.pipelineDays));
  const [keepPerRef, setKeepPerRef] = useState(text(now.keepPerRef));
  const [logDays, setLogDays] = useState(text(now.logDays));
  const [expireIn, setExpireIn] = useState(text(now.artifactsExpireIn));
  const [keepLatest, setKeepLatest] = useState<Keep>(keepOf(now.keepLatestArtifacts));
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const wanted: ProjectRetention = {
      pipelineDays: intOrNull(pipelineDays),
      keepPerRef: intOrNull(keepPerRef),
      logDays: intOrNull(logDays),
      artifactsExpireIn: expireIn.trim() === '' ? null : expireIn.trim(),
      keepLatestArtifacts: keepLatest === 'default' ? null : keepLatest === 'yes',
    };
    const patch = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => v !== now[k as keyof ProjectRetention]));
    if (Object.keys(patch).length === 0) return setSaved(true);
    await action.run(async () => {
      onSaved(await api<Project>(`/projects/${project.id}`, { method: 'PATCH', body: { retention: patch } }));
      setSaved(true);
    });
  };
  const number = (id: string, label: string, value: string, set: (v: string) => void, max: number, hint: string) => (
    <div>
      <label for={id}>{label}</label>
      <input id={id} type="number" min={0} max={max} step={1} placeholder="instance default" value={value} onInput={(e) => set(e.currentTarget.value)} aria-describedby={`${id}-hint`} />
      <p class="muted" id={`${id}-hint`}>
        {hint}
      </p>
    </div>
  );
  return (
    <Section id="retention" title="Retention" intro="Empty: the instance's default. 0 days: kept for ever. The garbage collector applies these on its next run.">
      <form class="settings-form" aria-label="Retention" onSubmit={submit}>
        <div class="field-row">
          {number('retention-pipeline-days', 'Delete pipelines older than (days)', pipelineDays, setPipelineDays, 36500, 'with their jobs, logs and artifacts')}
          {number('retention-keep-per-ref', 'Keep the newest per ref', keepPerRef, setKeepPerRef, 10000, 'pipelines of each branch or tag, whatever their age')}
          {number('retention-log-days', 'Delete logs older than (days)', logDays, setLogDays, 36500, 'the pipelines stay; their logs answer 410')}
        </div>
        <label for="retention-expire-in">Artifacts expire in</label>
        <input id="retention-expire-in" placeholder="instance default (30 days)" value={expireIn} onInput={(e) => setExpireIn(e.currentTarget.value)} aria-describedby="retention-expire-in-hint" />
        <p class="muted" id="retention-expire-in-hint">
          For jobs whose <code>artifacts:expire_in</code> gives none, as GitLab writes it (<code>2 weeks</code>, <code>1h 30m</code>) or <code>never</code>; from
          the next jobs on.
        </p>
        <label for="retention-keep-latest">Keep the latest artifacts of each ref</label>
        <select id="retention-keep-latest" value={keepLatest} onChange={(e) => setKeepLatest(e.currentTarget.value as Keep)}>
          <option value="default">instance default</option>
          <option value="yes">yes: the last successful pipeline's artifacts outlive their expiry</option>
          <option value="no">no: they expire like any other</option>
        </select>
        <ErrorBox error={action.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={action.busy}>
            Save retention
          </button>
          {saved ? <span class="muted" role="status">Saved</span> : null}
        </div>
      </form>
    </Section>
  );
}
