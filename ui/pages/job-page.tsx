// One job: status, attempts (each with its agent and failure reason) and the chosen attempt's log.
// `?attempt=N` picks an attempt; without it the newest is shown, and a retry switches to the new one.

import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { followEvents } from '../api/sse.js';
import type { JobDetail, Pipeline, Project } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { useMayWrite } from '../api/session.js';
import { actionOf } from '../dag/dag-graph.js';
import { TestsPanel } from '../tests/tests-panel.js';
import { Artifacts } from '../components/artifacts.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { StatusBadge, statusLabel } from '../components/status.js';
import { Duration, StartsIn, TimeAgo } from '../components/time.js';
import { LogPanel } from '../log/log-panel.js';
import { navigate, type Place } from '../router.js';

const ATTEMPT_FINISHED = new Set(['success', 'failed', 'canceled', 'timed_out']);

export function JobPage({ id, place }: { id: number; place: Place }) {
  const job = useApi<JobDetail>(`/jobs/${id}`);
  const j = job.data;
  const develop = useMayWrite(j?.projectId, 'developer');
  const project = useApi<Project>(j ? `/projects/${j.projectId}` : null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [comment, setComment] = useState('');

  // The pipeline's event stream says when this job moves; then the job (and its attempts) is re-read.
  useEffect(() => {
    if (!j) return;
    const abort = new AbortController();
    let last = '';
    followEvents(`/pipelines/${j.pipelineId}/events`, abort.signal, (e) => {
      if (e.event !== 'pipeline') return;
      const mine = (JSON.parse(e.data) as Pipeline).jobs.find((x) => x.id === id);
      const key = mine ? `${mine.status}/${mine.attempts}` : '';
      if (last && key !== last) job.reload();
      last = key;
    });
    return () => abort.abort();
  }, [j?.pipelineId, id]);

  if (!j) return <main class="page">{job.error ? <ErrorBox error={job.error} /> : <Loading what="the job" />}</main>;
  const asked = Number(place.search.get('attempt'));
  const attempt = asked >= 1 && asked <= j.attemptList.length ? asked : j.attemptList.length;
  const current = j.attemptList[attempt - 1];
  const action = actionOf(j);
  const act = async (verb: string | null = action) => {
    if (!verb) return;
    setBusy(true);
    setError(null);
    try {
      await api(`/jobs/${id}/${verb}`, { method: 'POST', body: {} });
      job.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const decide = async (verb: 'approve' | 'reject') => {
    setBusy(true);
    setError(null);
    try {
      await api(`/jobs/${id}/${verb}`, { method: 'POST', body: comment.trim() ? { comment: comment.trim() } : {} });
      setComment('');
      job.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const pickAttempt = (n: number) => {
    const q = new URLSearchParams(place.search);
    if (n === j.attemptList.length) q.delete('attempt');
    else q.set('attempt', String(n));
    navigate(`${place.pathname}${q.size ? `?${q}` : ''}`, { replace: true });
  };
  const projectName = project.data?.name;
  return (
    <main class="page job-page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href="/">Projects</Link> / {projectName ? <Link href={`/projects/${encodeURIComponent(projectName)}`}>{projectName}</Link> : '…'} /{' '}
        <Link href={`/pipelines/${j.pipelineId}`}>Pipeline #{j.pipelineId}</Link> / <span aria-current="page">{j.name}</span>
      </nav>
      <header class="page-head">
        <div>
          <h1>
            <StatusBadge status={j.status} /> {j.name}
          </h1>
          <p class="facts">
            <span>
              <span class="muted">stage</span> {j.stage}
            </span>
            {j.status === 'scheduled' && j.scheduledAt ? (
              <span data-testid="job-starts-in">
                <span class="muted">scheduled,</span> <StartsIn iso={j.scheduledAt} />
              </span>
            ) : null}
            <span>
              <span class="muted">duration</span> <Duration startedAt={j.startedAt} finishedAt={j.finishedAt} />
            </span>
            {j.coverage !== null && j.coverage !== undefined ? (
              <span data-testid="job-coverage">
                <span class="muted">coverage</span> {j.coverage}%
              </span>
            ) : null}
            {j.exitCode !== null ? (
              <span>
                <span class="muted">exit code</span> <span class="mono">{j.exitCode}</span>
              </span>
            ) : null}
            {j.failureReason ? (
              <span>
                <span class="muted">reason</span> <span class="mono">{j.failureReason}</span>
              </span>
            ) : null}
            {current?.agent ? (
              <span>
                <span class="muted">agent</span> {current.agent}
              </span>
            ) : null}
          </p>
        </div>
        <div class="actions">
          {j.attemptList.length > 1 ? (
            <label class="attempts">
              <span class="muted">Attempt</span>
              <select value={attempt} onChange={(e) => pickAttempt(Number(e.currentTarget.value))} aria-label="Attempt">
                {j.attemptList.map((a) => (
                  <option key={a.number} value={a.number}>
                    #{a.number} {statusLabel(a.status)}
                    {a.failureReason ? ` (${a.failureReason})` : ''}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          {action && action !== 'approve' && develop ? (
            <button class={action === 'cancel' ? 'danger' : 'primary'} disabled={busy} onClick={() => act()}>
              {j.status === 'scheduled' ? '▶ Run now' : action === 'play' ? '▶ Play' : action === 'cancel' ? 'Cancel' : '↻ Retry'}
            </button>
          ) : null}
          {/* A scheduled (delayed) job: GitLab's Run now, Unschedule (it becomes manual) and cancel. */}
          {j.status === 'scheduled' && develop ? (
            <>
              <button disabled={busy} onClick={() => act('unschedule')}>
                Unschedule
              </button>
              <button class="danger" disabled={busy} onClick={() => act('cancel')}>
                Cancel
              </button>
            </>
          ) : null}
        </div>
      </header>
      <ErrorBox error={error} />
      {j.approvals ? (
        <section class="card approval" aria-label="Approvals">
          <h2>
            Deployment to <Link href={`/projects/${encodeURIComponent(projectName ?? String(j.projectId))}/environments`}>{j.environment}</Link>
          </h2>
          <p>
            {j.approvals.decisions.filter((d) => d.decision === 'approved').length} of {j.approvals.required} approval
            {j.approvals.required === 1 ? '' : 's'}
            {j.status === 'waiting_for_approval' ? ': it waits. Maintainers' : '. Maintainers'}
            {j.approvals.deployers.length ? ` and ${j.approvals.deployers.join(', ')}` : ''} may decide, not who triggered the pipeline.
          </p>
          {j.approvals.decisions.length ? (
            <ul class="decisions">
              {j.approvals.decisions.map((d) => (
                <li key={`${d.name}-${d.at}`}>
                  <strong>{d.name}</strong> {d.decision} <TimeAgo iso={d.at} />
                  {d.comment ? <span class="muted">: {d.comment}</span> : null}
                </li>
              ))}
            </ul>
          ) : null}
          {j.status === 'waiting_for_approval' && develop ? (
            <div class="actions">
              <input type="text" value={comment} placeholder="Comment (needed to reject)" aria-label="Comment" onInput={(e) => setComment(e.currentTarget.value)} />
              <button class="primary" disabled={busy} onClick={() => decide('approve')}>
                Approve
              </button>
              <button class="danger" disabled={busy || !comment.trim()} onClick={() => decide('reject')}>
                Reject
              </button>
            </div>
          ) : null}
        </section>
      ) : null}
      <Artifacts jobId={id} jobName={j.name} version={`${j.status}/${j.attemptList.length}`} />
      {j.dotenv && j.dotenv.length > 0 ? (
        <section class="card dotenv" aria-labelledby="dotenv-heading">
          <h2 id="dotenv-heading">Variables for later jobs</h2>
          <p class="muted">
            From its <code>artifacts:reports:dotenv</code>, latest attempt: the jobs that take its artifacts get these, above their own YAML variables.
          </p>
          <table>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {j.dotenv.map((v) => (
                <tr key={v.key}>
                  <td class="mono">{v.key}</td>
                  <td class="mono">{v.value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      <TestsPanel of={{ jobId: id }} version={`${j.status}/${j.attemptList.length}`} />
      {current ? (
        <LogPanel
          key={`${id}/${attempt}`}
          jobId={id}
          jobName={j.name}
          attempt={attempt}
          finished={ATTEMPT_FINISHED.has(current.status)}
          hash={place.hash}
          onEnd={() => job.reload()}
        />
      ) : (
        <div class="card empty">
          <p>
            {j.status === 'manual'
              ? 'This is a manual job: play it to run it.'
              : j.status === 'scheduled'
                ? 'This delayed job waits for its time (start_in): run it now, unschedule it (it becomes manual), or cancel it.'
              : j.status === 'waiting_for_approval'
                ? 'This deployment waits for its approvals.'
                : `This job has not run (${statusLabel(j.status)}).`}
          </p>
        </div>
      )}
    </main>
  );
}
