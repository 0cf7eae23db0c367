// Which pushed branches and tags start pipelines (and which target branches pull requests may
// have): PUT /projects/:project/ref-filters. Each kind is "all" (null) or a list of globs, which
// may be empty (none).

import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';
import { Section, useAction } from './section.js';

interface RefFilters {
  branches: string[] | null;
  tags: string[] | null;
}

interface KindForm {
  all: boolean;
  globs: string;
}

const formOf = (globs: string[] | null): KindForm => ({ all: globs === null, globs: (globs ?? []).join('\n') });
const globsOf = (f: KindForm): string[] | null =>
  f.all
    ? null
    : f.globs
        .split('\n')
        .map((g) => g.trim())
        .filter((g) => g !== '');

function KindFields({ kind, label, form, onChange }: { kind: string; label: string; form: KindForm; onChange(f: KindForm): void }) {
  return (
    <fieldset class="ref-filter">
      <legend>{label}</legend>
      <label class="check">
        <input type="radio" name={`${kind}-mode`} checked={form.all} onChange={() => onChange({ ...form, all: true })} /> All {kind}
      </label>
      <label class="check">
        <input type="radio" name={`${kind}-mode`} checked={!form.all} onChange={() => onChange({ ...form, all: false })} /> Only {kind} matching these globs
        (one per line; none: no {kind})
      </label>
      <textarea
        id={`${kind}-globs`}
        aria-label={`${label}: globs`}
        class="mono"
        rows={3}
        disabled={form.all}
        placeholder={kind === 'tags' ? 'v*' : 'main\nrelease/**'}
        value={form.globs}
        onInput={(e) => onChange({ ...form, globs: e.currentTarget.value })}
      />
    </fieldset>
  );
}

export function RefFiltersSettings({ base }: { base: string }) {
  const current = useApi<RefFilters>(`${base}/ref-filters`);
  const [branches, setBranches] = useState<KindForm>(formOf(null));
  const [tags, setTags] = useState<KindForm>(formOf(null));
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (!current.data) return;
    setBranches(formOf(current.data.branches));
    setTags(formOf(current.data.tags));
  }, [current.data]);
  const action = useAction();
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const ok = await action.run(async () => {
      const next = await api<RefFilters>(`${base}/ref-filters`, { method: 'PUT', body: { branches: globsOf(branches), tags: globsOf(tags) } });
      current.setData(() => next);
    });
    setSaved(ok);
  };
  return (
    <Section
      id="ref-filters"
      title="Branches and tags"
      intro={
        <>
          Which pushed branches and tags start pipelines; a pull request is matched by its target branch. Globs: <code>*</code> stops at{' '}
          <code>/</code>, <code>**</code> crosses it.
        </>
      }
    >
      <ErrorBox error={current.error} />
      <form class="settings-form" onSubmit={save} aria-label="Branch and tag filters">
        <div class="field-row">
          <KindFields kind="branches" label="Branches" form={branches} onChange={setBranches} />
          <KindFields kind="tags" label="Tags" form={tags} onChange={setTags} />
        </div>
        <ErrorBox error={action.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={action.busy || !current.data}>
            Save filters
          </button>
          {saved ? (
            <span class="muted" role="status">
              Saved
            </span>
          ) : null}
        </div>
      </form>
    </Section>
  );
}
