// The project itself: its git URL (an admin's to change), its limits and auto-cancel, its share
// weight (an admin's) and urgent jobs, sent as one PATCH /projects/:project of what changed.

import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { Project } from '../api/types.js';
import { ErrorBox } from '../components/feedback.js';
import { Section, useAction } from './section.js';

const limitText = (n: number | null | undefined) => (n === null || n === undefined ? '' : String(n));
const limitValue = (s: string) => (s.trim() === '' ? null : Number(s));
const globsOf = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean);

export function GeneralSettings({ project, admin, onSaved }: { project: Project; admin: boolean; onSaved(p: Project): void }) {
  const [gitUrl, setGitUrl] = useState(project.gitUrl);
  const [weight, setWeight] = useState(String(project.weight ?? 1));
  const [urgent, setUrgent] = useState((project.urgentJobs ?? []).join('\n'));
  const [max, setMax] = useState(limitText(project.maxRunning));
  const [perPipeline, setPerPipeline] = useState(limitText(project.maxRunningPerPipeline));
  const [autoCancel, setAutoCancel] = useState(project.autoCancel ?? true);
  const [publicBadges, setPublicBadges] = useState(project.publicBadges ?? false);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const patch: Record<string, unknown> = {};
    if (gitUrl !== project.gitUrl) patch.gitUrl = gitUrl.trim();
    if (limitValue(max) !== (project.maxRunning ?? null)) patch.maxRunning = limitValue(max);
    if (limitValue(perPipeline) !== (project.maxRunningPerPipeline ?? null)) patch.maxRunningPerPipeline = limitValue(perPipeline);
    if (autoCancel !== project.autoCancel) patch.autoCancel = autoCancel;
    if (project.publicBadges !== undefined && publicBadges !== project.publicBadges) patch.publicBadges = publicBadges;
    if (project.weight !== undefined && Number(weight) !== project.weight) patch.weight = Number(weight);
    if (project.urgentJobs !== undefined && globsOf(urgent).join('\n') !== project.urgentJobs.join('\n')) patch.urgentJobs = globsOf(urgent);
    if (Object.keys(patch).length === 0) return setSaved(true);
    await action.run(async () => {
      onSaved(await api<Project>(`/projects/${project.id}`, { method: 'PATCH', body: patch }));
      setSaved(true);
    });
  };
  return (
    <Section id="general" title="Repository and limits">
      <form class="settings-form" onSubmit={submit}>
        <label for="git-url">Git URL</label>
        <input id="git-url" class="mono" required value={gitUrl} onInput={(e) => setGitUrl(e.currentTarget.value)} />
        <div class="field-row">
          <div>
            <label for="max-running">Jobs running at once</label>
            <input id="max-running" type="number" min={1} placeholder="no limit" value={max} onInput={(e) => setMax(e.currentTarget.value)} />
          </div>
          <div>
            <label for="max-per-pipeline">Per pipeline</label>
            <input id="max-per-pipeline" type="number" min={1} placeholder="no limit" value={perPipeline} onInput={(e) => setPerPipeline(e.currentTarget.value)} />
          </div>
          {project.weight !== undefined ? (
            <div>
              <label for="share-weight">Share weight{admin ? '' : ' (set by an admin)'}</label>
              <input id="share-weight" type="number" min={1} max={1000} step={1} disabled={!admin} value={weight} onInput={(e) => setWeight(e.currentTarget.value)} />
            </div>
          ) : null}
        </div>
        {project.urgentJobs !== undefined ? (
          <>
            <label for="urgent-jobs">Urgent jobs</label>
            <textarea id="urgent-jobs" rows={3} placeholder="deploy*" value={urgent} onInput={(e) => setUrgent(e.currentTarget.value)} />
            <p class="muted">
              Job name globs, one a line (<code>*</code>: any characters): these jobs go before the project's others, within its share. A project of
              weight 2 is offered work twice as often as one of weight 1 when both wait.
            </p>
          </>
        ) : null}
        <label class="check">
          <input type="checkbox" checked={autoCancel} onChange={(e) => setAutoCancel(e.currentTarget.checked)} /> Auto-cancel: a new pipeline cancels older
          ones of its ref whose started jobs are all interruptible
        </label>
        {project.publicBadges !== undefined ? (
          <label class="check">
            <input type="checkbox" checked={publicBadges} onChange={(e) => setPublicBadges(e.currentTarget.checked)} /> Public badges: anyone may see the pipeline status and
            coverage badges (<code>/api/v1/projects/{project.name}/badges/pipeline.svg?ref=main</code>, <code>coverage.svg</code>) without signing in
          </label>
        ) : null}
        <ErrorBox error={action.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={action.busy}>
            Save
          </button>
          {saved ? <span class="muted" role="status">Saved</span> : null}
        </div>
      </form>
    </Section>
  );
}
