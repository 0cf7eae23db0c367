// The queue: every pending job of agents' pipelines, in queue order, with why it waits. Live
// from GET /queue/events: the reasons change as agents come and jobs end.

import type { QueueEntry } from '../api/types.js';
import { useLive } from '../api/use-live.js';
import { ErrorBox, Loading } from '../components/feedback.js';
import { Link } from '../components/link.js';
import { TimeAgo } from '../components/time.js';
import { reasonJob, reasonText } from '../queue/reason.js';

export function QueuePage() {
  const queue = useLive<{ items: QueueEntry[] }>('/queue/events', 'queue');
  return (
    <main class="page">
      <header class="page-head">
        <h1>Queue</h1>
        {queue.data ? <span class="muted">{queue.data.items.length} waiting</span> : null}
      </header>
      <ErrorBox error={queue.error} />
      {queue.data === null ? (
        queue.error ? null : <Loading what="the queue" />
      ) : queue.data.items.length === 0 ? (
        <div class="card empty">
          <p>No job is waiting.</p>
        </div>
      ) : (
        <div class="card table-wrap">
          <table class="queue">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Pipeline</th>
                <th scope="col">Tags</th>
                <th scope="col">Why it waits</th>
                <th scope="col">Queued</th>
              </tr>
            </thead>
            <tbody>
              {queue.data.items.map((e) => {
                const job = reasonJob(e.reason);
                return (
                  <tr key={e.attemptId} data-job={e.jobName}>
                    <td data-label="Job">
                      <Link href={`/jobs/${e.jobId}`} class="strong">
                        {e.jobName}
                      </Link>
                      <span class="muted"> {e.stage}</span>
                      {e.urgent ? <span class="tag">urgent</span> : null}
                      {e.attempt > 1 ? <span class="muted"> · attempt {e.attempt}</span> : null}
                    </td>
                    <td data-label="Pipeline">
                      <Link href={`/projects/${encodeURIComponent(e.project)}`}>{e.project}</Link>{' '}
                      <Link href={`/pipelines/${e.pipelineId}`}>#{e.pipelineId}</Link>
                      <span class="muted"> {e.ref}</span>
                    </td>
                    <td data-label="Tags">
                      {e.tags.length === 0 ? <span class="muted">any agent</span> : e.tags.map((t) => <span key={t} class="tag">{t}</span>)}
                    </td>
                    <td data-label="Why it waits" class={`reason reason-${e.reason.code}`}>
                      {reasonText(e.reason)}
                      {job ? (
                        <>
                          {' '}
                          <span class="muted">({job.label}</span> <Link href={`/jobs/${job.jobId}`}>job #{job.jobId}</Link>
                          <span class="muted">)</span>
                        </>
                      ) : null}
                    </td>
                    <td data-label="Queued">{e.queuedAt ? <TimeAgo iso={e.queuedAt} /> : <span class="muted">–</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
