// Trigger jobs (GitLab's bridges) in the store: the server runs them, never an agent. A trigger job
// that becomes pending waits here (no attempt) until the downstream runner
// (src/server/downstream/) has compiled its child; then, in one transaction under the parent's
// lock, the child pipeline is created and the trigger job moves on (or fails with why). A
// `strategy: depend` trigger job stays running until its child ends, then ends as it did.
//
// Lock order: a parent pipeline before its children, as everywhere (progress.ts). A child's
// progression never locks its parent: a child that ends is settled by a later transaction that
// takes the parent first (settleBridgeIn), found by the runner's poll or woken by the child's event.

import { asJobId, asPipelineId, type JobId, type PipelineId } from '../../../domain/ids.js';
import { isFinishedPipeline, type FailureReason, type JobStatus, type PipelineStatus } from '../../../domain/status.js';
import { MAX_DESCENDANTS_DEPTH } from '../../../pipeline/child.js';
import type { NewPipeline } from '../../store.js';
import { moveJobIn } from '../moves.js';
import { insertPipelineIn } from '../insert-pipeline.js';
import type { FleetTx } from './fleet-tx.js';
import { lockPipeline, progressIn } from './progress.js';

/** What the runner made of a trigger job: the child to create, or why there is none. */
export type ChildOutcome =
  | { kind: 'child'; pipeline: Omit<NewPipeline, 'parent'> }
  | { kind: 'failed'; reason: Extract<FailureReason, 'downstream_pipeline_creation_failed'>; message: string };

export type CreateChildResult =
  | { kind: 'created'; pipelineId: PipelineId }
  | { kind: 'failed'; reason: FailureReason }
  /** The trigger job is no longer pending (canceled meanwhile, or another instance made its child). */
  | { kind: 'gone' };

/** Trigger jobs waiting for their child pipeline, oldest first. */
export async function pendingBridgesIn(f: Pick<FleetTx, 'tx'>, limit: number): Promise<{ jobId: JobId; pipelineId: PipelineId }[]> {
  const rows = await f.tx.all<{ id: number | string; pipeline_id: number | string }>(
    "SELECT id, pipeline_id FROM jobs WHERE bridge = 1 AND status = 'pending' ORDER BY id LIMIT ?",
    [limit],
  );
  return rows.map((r) => ({ jobId: asJobId(Number(r.id)), pipelineId: asPipelineId(Number(r.pipeline_id)) }));
}

/** `strategy: depend` trigger jobs still running whose newest child has ended: what settleBridgeIn ends. */
export async function bridgesToSettleIn(f: Pick<FleetTx, 'tx'>, limit: number): Promise<JobId[]> {
  const rows = await f.tx.all<{ id: number | string }>(
    "SELECT j.id FROM jobs j WHERE j.bridge = 1 AND j.status = 'running' AND EXISTS (" +
      'SELECT 1 FROM pipelines c WHERE c.parent_job_id = j.id AND c.id = (SELECT MAX(id) FROM pipelines WHERE parent_job_id = j.id) ' +
      "AND c.status IN ('success', 'failed', 'canceled', 'skipped')) ORDER BY j.id LIMIT ?",
    [limit],
  );
  return rows.map((r) => asJobId(Number(r.id)));
}

/** How many pipelines are above `pipelineId`, itself included: GitLab's self_and_ancestors count. */
async function depthIn(f: FleetTx, pipelineId: number): Promise<number> {
  let depth = 0;
  let id: number | null = pipelineId;
  // Bounded: a pipeline deeper than the limit is never made, so the walk is short.
  while (id !== null && depth <= MAX_DESCENDANTS_DEPTH + 1) {
    depth++;
    const row: { parent_pipeline_id: number | string | null } | undefined = await f.tx.get('SELECT parent_pipeline_id FROM pipelines WHERE id = ?', [id]);
    id = row?.parent_pipeline_id == null ? null : Number(row.parent_pipeline_id);
  }
  return depth;
}

/** Fails a pending trigger job with `reason` and the words of `message` (pending → running → failed: its one legal path). */
async function failBridgeIn(f: FleetTx, jobId: number, reason: FailureReason, message: string, at: number): Promise<void> {
  await moveJobIn(f.tx, asJobId(jobId), 'running', { at });
  await moveJobIn(f.tx, asJobId(jobId), 'failed', { at, failureReason: reason });
  await f.tx.run('UPDATE jobs SET downstream_error = ? WHERE id = ?', [message, jobId]);
}

/**
 * Makes the child of a pending trigger job, or fails the job: the depth limit first (GitLab checks
 * it before creating anything), then the runner's outcome. Under the parent's lock, so of two
 * instances that compiled the same child, the first creates it and the second finds the job gone.
 */
export async function createChildIn(f: FleetTx, jobId: JobId, outcome: ChildOutcome, at: number): Promise<CreateChildResult> {
  const head = await f.tx.get<{ pipeline_id: number | string }>('SELECT pipeline_id FROM jobs WHERE id = ? AND bridge = 1', [jobId]);
  if (!head) return { kind: 'gone' };
  const p = await lockPipeline(f, Number(head.pipeline_id));
  if (!p || isFinishedPipeline(p.status)) return { kind: 'gone' };
  const job = await f.tx.get<{ status: string }>('SELECT status FROM jobs WHERE id = ?', [jobId]);
  if (job?.status !== ('pending' satisfies JobStatus)) return { kind: 'gone' };
  const spec = (await f.specs.load(f.tx, [jobId])).get(jobId)!;
  let failed: { reason: FailureReason; message: string } | null = null;
  if ((await depthIn(f, p.id)) > MAX_DESCENDANTS_DEPTH) {
    failed = {
      reason: 'reached_max_descendant_pipelines_depth',
      message: `a child pipeline may have at most ${MAX_DESCENDANTS_DEPTH} levels of pipelines above it (GitLab's limit); pipeline ${p.id} is already that deep`,
    };
  } else if (outcome.kind === 'failed') failed = { reason: outcome.reason, message: outcome.message };
  if (failed) {
    await failBridgeIn(f, jobId, failed.reason, failed.message, at);
    f.effects.pipelines.add(p.id);
    await progressIn(f, p.id, at, p);
    return { kind: 'failed', reason: failed.reason };
  }
  const child = await insertPipelineIn(f.tx, { ...(outcome as Extract<ChildOutcome, { kind: 'child' }>).pipeline, parent: { pipelineId: p.id, jobId } });
  await moveJobIn(f.tx, jobId, 'running', { at });
  // Without `strategy: depend` the trigger job's work is done once its child exists (GitLab).
  if (!spec.trigger?.depend) await moveJobIn(f.tx, jobId, 'success', { at });
  f.effects.pipelines.add(p.id);
  await progressIn(f, p.id, at, p);
  // The child's first jobs: the parent's lock is held, the child's is taken second (the lock order).
  await progressIn(f, child.pipeline.id, at);
  return { kind: 'created', pipelineId: child.pipeline.id };
}

/**
 * Ends a `strategy: depend` trigger job as its newest child ended, by GitLab's
 * Ci::Bridge#inherit_status_from_downstream!: success is success, canceled is canceled, failed
 * and skipped are failed. Its pipeline then moves on as after any job. False when there was
 * nothing to settle (not running, or the child not finished).
 */
export async function settleBridgeIn(f: FleetTx, jobId: JobId, at: number): Promise<boolean> {
  const head = await f.tx.get<{ pipeline_id: number | string }>('SELECT pipeline_id FROM jobs WHERE id = ? AND bridge = 1', [jobId]);
  if (!head) return false;
  const p = await lockPipeline(f, Number(head.pipeline_id));
  if (!p) return false;
  const job = await f.tx.get<{ status: string }>('SELECT status FROM jobs WHERE id = ?', [jobId]);
  if (job?.status !== 'running') return false;
  const child = await f.tx.get<{ status: string }>('SELECT status FROM pipelines WHERE parent_job_id = ? ORDER BY id DESC LIMIT 1', [jobId]);
  if (!child || !isFinishedPipeline(child.status as PipelineStatus)) return false;
  const moved =
    child.status === 'success'
      ? await moveJobIn(f.tx, jobId, 'success', { at })
      : child.status === 'canceled'
        ? await moveJobIn(f.tx, jobId, 'canceled', { at, failureReason: 'canceled' })
        : await moveJobIn(f.tx, jobId, 'failed', { at, failureReason: 'downstream_pipeline_failed' });
  if (!moved) return false;
  f.effects.pipelines.add(p.id);
  await progressIn(f, p.id, at, p);
  return true;
}
