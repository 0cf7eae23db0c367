// One pipeline: its DAG with each job's status and action, cancel / retry for the whole
// pipeline, and the variables it was triggered with. Live from GET /pipelines/:id/events.

import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { followEvents } from '../api/sse.js';
import { FINISHED, type Job, type Pipeline, type Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { useMayWrite } from '../api/session.js';
import { DagGraph, type JobAction } from '../dag/dag-graph.js';
import { PipelineTimelineCard } from '../insights/timeline-chart.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { StatusBadge } from '../components/status.js';
import { triggerTitle } from '../components/triggered-by.js';
import { Duration, StartsIn, TimeAgo } from '../components/time.js';
import { TestsPanel } from '../tests/tests-panel.js';

const RETRYABLE = new Set(['failed', 'canceled', 'timed_out']);

export function PipelinePage({ id }: { id: number }) {
  const pipeline = useApi<Pipeline>(`/pipelines/${id}`);
  const p = pipeline.data;
  const project = useApi<Project>(p ? `/projects/${p.projectId}` : null);
  // Viewers see no buttons they may not use (a protected ref may still need a maintainer: the server says so).
  const develop = useMayWrite(p?.projectId, 'developer');
  const maintain = useMayWrite(p?.projectId, 'maintainer');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<ReadonlySet<number>>(new Set());
  const [acting, setActing] = useState(false);

  useEffect(() => {
    const abort = new AbortController();
    followEvents(`/pipelines/${id}/events`, abort.signal, (e) => {
      if (e.event === 'pipeline') pipeline.setData(() => JSON.parse(e.data) as Pipeline);
    });
    return () => abort.abort();
  }, [id]);

  const act = async (path: string, body?: unknown) => {
    setError(null);
    try {
      const r = await api<Pipeline>(path, { method: 'POST', ...(body === undefined ? {} : { body }) });
      pipeline.setData(() => r);
    } catch (err) {
      setError(err);
    }
  };
  const onJobAction = async (job: Job, action: JobAction | 'unschedule') => {
    setBusy(new Set([...busy, job.id]));
    setError(null);
    try {
      await api(`/jobs/${job.id}/${action}`, { method: 'POST', body: {} });
      pipeline.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy((b) => new Set([...b].filter((x) => x !== job.id)));
    }
  };

  if (!p) return <main class="page">{pipeline.error ? <ErrorBox error={pipeline.error} /> : <Loading what="the pipeline" />}</main>;
  const finished = FINISHED.has(p.status);
  const canRetry = finished && p.jobs.some((j) => RETRYABLE.has(j.status));
  const variables = Object.entries(p.variables ?? {});
  const projectName = project.data?.name;
  return (
    <main class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / {projectName ? <Link href={`/projects/${encodeURIComponent(projectName)}`}>{projectName}</Link> : '…'} /{' '}
        <span aria-current="page">Pipeline #{p.id}</span>
      </nav>
      <header class="page-head">
        <div>
          <h1>
            <StatusBadge status={p.status} /> Pipeline #{p.id}
          </h1>
          <p class="facts">
            <span>
              <span class="muted">ref</span> <span class="mono">{p.ref}</span>
            </span>
            <span>
              <span class="muted">commit</span> <span class="mono" title={p.sha}>{p.sha.slice(0, 8)}</span>
            </span>
            <span>
              <span class="muted">source</span> {p.source}
            </span>
            {p.parent ? (
              <span data-testid="parent-pipeline">
                <span class="muted">child of</span> <Link href={`/pipelines/${p.parent.pipelineId}`}>Pipeline #{p.parent.pipelineId}</Link>
              </span>
            ) : null}
            {p.triggeredBy ? (
              <span>
                <span class="muted">by</span>{' '}
                <span class="who" title={triggerTitle(p.triggeredBy)}>
                  {p.triggeredBy.name}
                </span>
              </span>
            ) : null}
            <span>
              <span class="muted">created</span> <TimeAgo iso={p.createdAt} />
            </span>
            <span>
              <span class="muted">duration</span> <Duration startedAt={p.startedAt} finishedAt={p.finishedAt} />
            </span>
            {p.coverage !== null && p.coverage !== undefined ? (
              <span data-testid="pipeline-coverage" title="the average of its jobs' coverage">
                <span class="muted">coverage</span> {p.coverage}%
              </span>
            ) : null}
          </p>
        </div>
        <div class="actions">
          {develop && !finished ? (
            <button
              class="danger"
              disabled={acting}
              onClick={async () => {
                setActing(true);
                await act(`/pipelines/${p.id}/cancel`);
                setActing(false);
              }}
            >
              Cancel pipeline
            </button>
          ) : null}
          {develop && canRetry ? (
            <button
              disabled={acting}
              onClick={async () => {
                setActing(true);
                await act(`/pipelines/${p.id}/retry`);
                setActing(false);
              }}
            >
              Retry failed jobs
            </button>
          ) : null}
        </div>
      </header>
      <ErrorBox error={error} />
      {p.status === 'waiting_for_approval' && p.approval ? (
        <section class="card approval" aria-label="Waiting for approval">
          <p>
            <strong>Nothing of this pipeline runs until a maintainer approves it.</strong> {p.approval.reason}.
          </p>
          {maintain ? (
            <div class="actions">
              <button class="primary" disabled={acting} onClick={() => act(`/pipelines/${p.id}/approve`, { scope: 'once' })}>
                Approve
              </button>
              <button disabled={acting} onClick={() => act(`/pipelines/${p.id}/approve`, { scope: 'always' })} title="Also run this author's later pull requests without asking">
                Approve always
              </button>
              <button class="danger" disabled={acting} onClick={() => act(`/pipelines/${p.id}/reject`, {})}>
                Reject
              </button>
            </div>
          ) : null}
        </section>
      ) : p.approval?.approvedBy ? (
        <p class="muted">Approved by {p.approval.approvedBy}: {p.approval.reason}.</p>
      ) : null}
      {p.jobs.some((j) => j.status === 'scheduled') ? (
        <section class="card delayed" aria-label="Delayed jobs">
          <ul>
            {p.jobs
              .filter((j) => j.status === 'scheduled' && j.scheduledAt)
              .map((j) => (
                <li key={j.id} data-testid="delayed-job">
                  <span>
                    <Link href={`/jobs/${j.id}`}>{j.name}</Link> <span class="muted">scheduled,</span> <StartsIn iso={j.scheduledAt!} />
                  </span>
                  {develop ? (
                    <span class="actions">
                      <button class="primary" disabled={busy.has(j.id)} onClick={() => onJobAction(j, 'play')}>
                        ▶ Run now
                      </button>
                      <button disabled={busy.has(j.id)} onClick={() => onJobAction(j, 'unschedule')}>
                        Unschedule
                      </button>
                    </span>
                  ) : null}
                </li>
              ))}
          </ul>
        </section>
      ) : null}
      <section class="card">
        <h2 class="visually-hidden">Jobs</h2>
        <DagGraph jobs={p.jobs} onAction={onJobAction} busy={busy} actions={develop} />
      </section>
      <DownstreamCard pipeline={p} />
      {/* Read again whenever a job moves (its status or attempts), not on every tick. */}
      <PipelineTimelineCard key={p.jobs.map((j) => `${j.status}${j.attempts}`).join()} pipelineId={p.id} />
      {/* Test reports: a section of its own (ui/tests/), shown once a job reported some. */}
      <TestsPanel of={{ pipelineId: p.id }} version={p.status} />
      <section class="card">
        <h2>Variables</h2>
        {variables.length === 0 ? (
          <p class="muted">Triggered without variables.</p>
        ) : (
          <dl class="vars">
            {variables.map(([k, v]) => (
              <div key={k}>
                <dt class="mono">{k}</dt>
                <dd class="mono">{v}</dd>
              </div>
            ))}
          </dl>
        )}
      </section>
    </main>
  );
}

/** The child pipelines its trigger jobs made (PIPELINE.md, "Parent-child pipelines"), each linking to its page. */
function DownstreamCard({ pipeline }: { pipeline: Pipeline }) {
  const children = pipeline.children ?? [];
  const failed = pipeline.jobs.filter((j) => j.trigger && j.downstreamError);
  if (children.length === 0 && failed.length === 0) return null;
  const jobName = (id: number) => pipeline.jobs.find((j) => j.id === id)?.name ?? `job ${id}`;
  return (
    <section class="card" aria-label="Downstream pipelines">
      <h2>Downstream</h2>
      <ul class="downstream">
        {children.map((c) => (
          <li key={c.pipelineId} data-testid="downstream-pipeline">
            <StatusBadge status={c.status} /> <Link href={`/pipelines/${c.pipelineId}`}>Pipeline #{c.pipelineId}</Link>{' '}
            <span class="muted">triggered by</span> <span class="mono">{jobName(c.jobId)}</span>
          </li>
        ))}
        {failed.map((j) => (
          <li key={`failed-${j.id}`}>
            <StatusBadge status={j.status} /> <span class="mono">{j.name}</span> <span class="muted">made no pipeline:</span>
            <pre class="mono">{j.downstreamError}</pre>
          </li>
        ))}
      </ul>
    </section>
  );
}
