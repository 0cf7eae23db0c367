// The pipeline drawn as a graph: stage columns, job boxes with status and duration, `needs:`
// edges, and each job's one action (play a manual job or run a scheduled one now, approve a deployment waiting for approval,
// cancel a waiting or running one, retry a finished one that did not pass). Boxes are links, so the graph is walked with Tab and Enter.

import { useMemo } from 'preact/hooks';
import type { Job } from '../api/types.js';
import { Link } from '../components/link.js';
import { StatusIcon, statusLabel } from '../components/status.js';
import { Duration, StartsIn } from '../components/time.js';
import { edgePath, layoutDag, NODE_H, NODE_W } from './layout.js';

export type JobAction = 'play' | 'approve' | 'cancel' | 'retry';

/** The action a job's box offers, if any. */
export function actionOf(job: Job): JobAction | null {
  if (job.status === 'manual' || job.status === 'scheduled') return 'play';
  if (job.status === 'waiting_for_approval') return 'approve';
  if (job.status === 'created' || job.status === 'pending' || job.status === 'running') return 'cancel';
  if (job.status === 'failed' || job.status === 'canceled' || job.status === 'timed_out') return 'retry';
  return null;
}

const ACTION_GLYPH: Record<JobAction, string> = { play: '▶', approve: '✓', cancel: '✕', retry: '↻' };

/** `actions`: whether the caller may play, retry or cancel jobs (a viewer may not: no buttons). */
export function DagGraph({ jobs, onAction, busy, actions = true }: { jobs: Job[]; onAction(job: Job, action: JobAction): void; busy: ReadonlySet<number>; actions?: boolean }) {
  const layout = useMemo(() => layoutDag(jobs), [jobs]);
  const edgeClass = (to: Job, from: Job) => (from.status === 'success' ? 'edge done' : to.status === 'running' ? 'edge active' : 'edge');
  return (
    <div class="dag-scroll" role="region" aria-label="Pipeline graph" tabIndex={-1}>
      <div class="dag" style={{ width: `${layout.width}px`, height: `${layout.height}px` }}>
        <svg class="dag-edges" width={layout.width} height={layout.height} aria-hidden="true">
          {layout.edges.map((e) => (
            <path key={`${e.from.job.id}-${e.to.job.id}`} d={edgePath(e)} class={edgeClass(e.to.job, e.from.job)} />
          ))}
        </svg>
        {layout.stages.map((s) => (
          <div key={s.name} class="dag-stage" style={{ left: `${s.x}px`, width: `${NODE_W}px` }}>
            {s.name} <span class="muted">{s.jobs}</span>
          </div>
        ))}
        {layout.nodes.map(({ job, x, y }) => {
          const action = actions ? actionOf(job) : null;
          return (
            <div key={job.id} class={`dag-node st-${job.status}`} style={{ left: `${x}px`, top: `${y}px`, width: `${NODE_W}px`, height: `${NODE_H}px` }}>
              <Link href={`/jobs/${job.id}`} class="dag-link" title={`${job.name}: ${statusLabel(job.status)}${job.failureReason ? ` (${job.failureReason})` : ''}`}>
                <StatusIcon status={job.status} />
                <span class="dag-name">{job.name}</span>
                <span class="dag-meta">
                  {job.allowFailure && job.status === 'failed' ? <span class="tag warn">allowed</span> : null}
                  {job.status === 'scheduled' && job.scheduledAt ? <StartsIn iso={job.scheduledAt} short /> : <Duration startedAt={job.startedAt} finishedAt={job.finishedAt} />}
                </span>
              </Link>
              {action ? (
                <button
                  type="button"
                  class={`dag-action act-${action}`}
                  aria-label={`${action} ${job.name}`}
                  title={job.status === 'scheduled' ? `Run ${job.name} now` : `${action[0]!.toUpperCase()}${action.slice(1)} ${job.name}`}
                  disabled={busy.has(job.id)}
                  onClick={() => onAction(job, action)}
                >
                  {ACTION_GLYPH[action]}
                </button>
              ) : null}
            </div>
          );
        })}
      </div>
    </div>
  );
}
