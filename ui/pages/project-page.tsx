// A project's pipelines, newest first: filters (status, ref, source) and the page cursor live in
// the URL, so a filtered view can be shared and survives reload. New and changed pipelines arrive
// live from GET /projects/:project/events.

import { useEffect, useState } from 'preact/hooks';
import { followEvents } from '../api/sse.js';
import { PIPELINE_SOURCES, PIPELINE_STATUSES, type Page, type PipelineSummary, type Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { useMayWrite } from '../api/session.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { StatusBadge, statusLabel } from '../components/status.js';
import { Trigger } from '../components/triggered-by.js';
import { Duration, TimeAgo } from '../components/time.js';
import { navigate, type Place } from '../router.js';
import { RunPipelineForm } from './run-pipeline-form.js';

const FILTERS = ['status', 'ref', 'source'] as const;

function matches(p: PipelineSummary, q: URLSearchParams): boolean {
  return FILTERS.every((f) => !q.get(f) || p[f] === q.get(f));
}

export function ProjectPage({ project, place }: { project: string; place: Place }) {
  const q = place.search;
  const info = useApi<Project>(`/projects/${encodeURIComponent(project)}`);
  const develop = useMayWrite(info.data?.id, 'developer');
  const query = new URLSearchParams();
  for (const f of FILTERS) if (q.get(f)) query.set(f, q.get(f)!);
  if (q.get('before')) query.set('before', q.get('before')!);
  query.set('limit', '20');
  // Child pipelines show under their parent (the pipeline page's Downstream card), as GitLab's list.
  query.set('children', 'false');
  const list = useApi<Page<PipelineSummary>>(`/projects/${encodeURIComponent(project)}/pipelines?${query}`);
  const [running, setRunning] = useState(false);
  const [ref, setRef] = useState(q.get('ref') ?? '');

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(q);
    if (value) next.set(name, value);
    else next.delete(name);
    // A new filter starts from the newest pipelines.
    if (name !== 'before') next.delete('before');
    navigate(`${place.pathname}${next.size ? `?${next}` : ''}`, { replace: true });
  };

  // Live: changed rows are replaced; new pipelines go on top of the first page.
  const firstPage = !q.get('before');
  useEffect(() => {
    const abort = new AbortController();
    followEvents(`/projects/${encodeURIComponent(project)}/events`, abort.signal, (e) => {
      if (e.event !== 'pipeline') return;
      const p = JSON.parse(e.data) as PipelineSummary;
      list.setData((old) => {
        if (!old) return old;
        const i = old.items.findIndex((x) => x.id === p.id);
        if (i >= 0) return { ...old, items: old.items.map((x) => (x.id === p.id ? (matches(p, q) ? p : x) : x)) };
        if (!firstPage || !matches(p, q) || (old.items[0] && p.id < old.items[0].id)) return old;
        return { ...old, items: [p, ...old.items] };
      });
    });
    return () => abort.abort();
  }, [project, place.search.toString()]);

  return (
    <main class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / <span aria-current="page">{project}</span>
      </nav>
      <header class="page-head">
        <div>
          <h1>{project}</h1>
          {info.data ? <p class="muted mono ellipsis">{info.data.gitUrl}</p> : null}
        </div>
        <div class="head-actions">
          <Link href={`/projects/${encodeURIComponent(project)}/insights`} class="button">
            Insights
          </Link>
          {develop ? (
            <Link href={`/projects/${encodeURIComponent(project)}/lint`} class="button">
              Lint
            </Link>
          ) : null}
          <Link href={`/projects/${encodeURIComponent(project)}/environments`} class="button">
            Environments
          </Link>
          <Link href={`/projects/${encodeURIComponent(project)}/usage`} class="button">
            Usage
          </Link>
          <Link href={`/projects/${encodeURIComponent(project)}/settings`} class="button">
            Settings
          </Link>
          {develop ? (
            <button class="primary" onClick={() => setRunning(!running)} aria-expanded={running}>
              Run pipeline
            </button>
          ) : null}
        </div>
      </header>
      <ErrorBox error={info.error} />
      {running ? <RunPipelineForm project={project} onClose={() => setRunning(false)} /> : null}
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter('ref', ref.trim());
        }}
      >
        <label>
          Status
          <select value={q.get('status') ?? ''} onChange={(e) => setFilter('status', e.currentTarget.value)}>
            <option value="">any</option>
            {PIPELINE_STATUSES.map((s) => (
              <option value={s} key={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Ref
          <input value={ref} placeholder="branch or tag" onInput={(e) => setRef(e.currentTarget.value)} onBlur={() => ref.trim() !== (q.get('ref') ?? '') && setFilter('ref', ref.trim())} />
        </label>
        <label>
          Source
          <select value={q.get('source') ?? ''} onChange={(e) => setFilter('source', e.currentTarget.value)}>
            <option value="">any</option>
            {PIPELINE_SOURCES.map((s) => (
              <option value={s} key={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorBox error={list.error} />
      {list.data === null ? (
        list.error ? null : <Loading what="pipelines" />
      ) : list.data.items.length === 0 ? (
        <div class="card empty">
          <p>No pipelines{FILTERS.some((f) => q.get(f)) ? ' match these filters' : ' yet'}.</p>
        </div>
      ) : (
        <div class="card table-wrap">
          <table class="pipelines">
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Pipeline</th>
                <th scope="col">Ref</th>
                <th scope="col">Commit</th>
                <th scope="col">Trigger</th>
                <th scope="col">Duration</th>
                <th scope="col">Coverage</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((p) => (
                <tr key={p.id}>
                  <td data-label="Status">
                    <StatusBadge status={p.status} />
                  </td>
                  <td data-label="Pipeline">
                    <Link href={`/pipelines/${p.id}`} class="strong">
                      #{p.id}
                    </Link>
                  </td>
                  <td data-label="Ref" class="mono ellipsis">
                    {p.ref}
                  </td>
                  <td data-label="Commit" class="mono" title={p.sha}>
                    {p.sha.slice(0, 8)}
                  </td>
                  <td data-label="Trigger">
                    <Trigger p={p} />
                  </td>
                  <td data-label="Duration">
                    <Duration startedAt={p.startedAt} finishedAt={p.finishedAt} />
                  </td>
                  <td data-label="Coverage">{p.coverage === null || p.coverage === undefined ? '' : `${p.coverage}%`}</td>
                  <td data-label="Created">
                    <TimeAgo iso={p.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {!firstPage ? <button onClick={() => setFilter('before', '')}>← Newest</button> : null}
        {list.data?.next ? <button onClick={() => setFilter('before', String(list.data!.next))}>Older →</button> : null}
      </nav>
    </main>
  );
}
