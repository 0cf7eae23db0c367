// The server's scheduler applied to the store, inside the transaction of whatever moved: a
// pipeline's progression (which waiting jobs become pending, manual or skipped, and whether the
// pipeline is over, by the pure rules of src/scheduler/readiness.ts), the end of an attempt (retry
// or the job's end), and the people's actions (cancel, play, retry).
//
// Lock order, the same in every transaction, so two never wait on each other in a circle: the
// pipeline row first (FOR UPDATE), then its jobs, then their attempts. A pipeline's progression
// is therefore serialized across server instances by its row lock.

import { GantryError } from '../../../domain/errors.js';
import { asJobId, asPipelineId, type JobId, type PipelineId } from '../../../domain/ids.js';
import { isFinishedPipeline, type FailureReason, type FinishedAttemptStatus, type JobStatus, type PipelineStatus } from '../../../domain/status.js';
import type { CompiledJob } from '../../../pipeline/types.js';
import { decideAll, finalStatus, waitingStatus, type JobView } from '../../../scheduler/readiness.js';
import { shouldRetry } from '../../../scheduler/retry.js';
import type { AgentId, SchedulerSettings } from '../../fleet.js';
import type { EpochMs } from '../../store.js';
import { CREATE_ATTEMPT_SQL, QUEUE_JOB_SQL, inList, moveJobIn, movePipelineIn } from '../moves.js';
import { pipelineMoved, tagKeyOf, type FleetTx } from './fleet-tx.js';
import { environmentIn } from '../gates.js';
import { releaseIn } from './ledger.js';
import { isUrgentJob, queueRankOf } from '../../../domain/fair-share.js';
import { urgentGlobs } from './urgent-jobs.js';

export interface LockedPipeline {
  id: PipelineId;
  projectId: number;
  status: PipelineStatus;
  runsOn: string;
  ref: string;
  sha: string;
  /** The project's urgent job globs, as JSON: what an attempt queued now is stamped with. */
  urgentJobs: string;
}

interface LockedRow {
  id: number | string;
  project_id: number | string;
  status: string;
  runs_on: string;
  ref: string;
  sha: string;
  urgent_jobs: string;
}

// The project's urgent jobs come with the pipeline's row, in its statement: an attempt queued in
// this transaction is stamped with them at no round trip. A scalar subquery, so the lock is the
// pipeline row's alone.
const LOCKED_COLUMNS = 'id, project_id, status, runs_on, ref, sha, (SELECT urgent_jobs FROM projects WHERE projects.id = pipelines.project_id) AS urgent_jobs';

export async function lockPipeline(f: FleetTx, id: number): Promise<LockedPipeline | null> {
  const r = await f.tx.get<LockedRow>(`SELECT ${LOCKED_COLUMNS} FROM pipelines WHERE id = ?${f.db.lockClause('wait')}`, [id]);
  return r ? lockedOf(r) : null;
}

/**
 * Locks the pipeline of an attempt, in one statement (the attempt's row is read, not locked: the
 * pipeline comes first in the lock order); null when there is no such attempt.
 */
export async function lockPipelineOfAttempt(f: FleetTx, attemptId: number): Promise<{ pipeline: LockedPipeline; jobId: number } | null> {
  const r = await f.tx.get<LockedRow & { job_id: number | string }>(
    `SELECT ${LOCKED_COLUMNS}, (SELECT job_id FROM attempts WHERE id = ?) AS job_id FROM pipelines ` +
      `WHERE id = (SELECT pipeline_id FROM attempts WHERE id = ?)${f.db.lockClause('wait')}`,
    [attemptId, attemptId],
  );
  return r ? { pipeline: lockedOf(r), jobId: Number(r.job_id) } : null;
}

function lockedOf(r: LockedRow): LockedPipeline {
  return {
    id: asPipelineId(Number(r.id)),
    projectId: Number(r.project_id),
    status: r.status as PipelineStatus,
    runsOn: r.runs_on,
    ref: r.ref,
    sha: r.sha,
    urgentJobs: r.urgent_jobs,
  };
}

interface JobState {
  id: JobId;
  name: string;
  status: JobStatus;
  exitCode: number | null;
  spec: CompiledJob;
}

async function jobsOf(f: FleetTx, pipelineId: number): Promise<JobState[]> {
  const rows = await f.tx.all<{ id: number | string; name: string; status: string; exit_code: number | null }>(
    'SELECT id, name, status, exit_code FROM jobs WHERE pipeline_id = ? ORDER BY stage_index, position',
    [pipelineId],
  );
  f.jobIds.remember(
    pipelineId,
    rows.map((r) => ({ id: Number(r.id), name: r.name })),
  );
  const specs = await f.specs.load(
    f.tx,
    rows.map((r) => Number(r.id)),
  );
  return rows.map((r) => ({
    id: asJobId(Number(r.id)),
    name: r.name,
    status: r.status as JobStatus,
    exitCode: r.exit_code,
    spec: specs.get(Number(r.id))!,
  }));
}

/** Queues a job's next attempt for the agents; null when the job is finished (no attempt). */
export async function queueAttemptIn(f: FleetTx, jobId: number, spec: CompiledJob, p: LockedPipeline, at: EpochMs): Promise<number | null> {
  const job = await f.tx.get<{ attempt_count: number | string }>(CREATE_ATTEMPT_SQL, [jobId]);
  return job ? insertAttemptIn(f, jobId, Number(job.attempt_count), spec, p, at) : null;
}

async function insertAttemptIn(f: FleetTx, jobId: number, number: number, spec: CompiledJob, p: LockedPipeline, at: EpochMs): Promise<number> {
  // A trigger job is the server's: pending with no attempt, no agent ever offered it; the
  // downstream runner, woken by this pipeline's event, makes its child (downstream.ts).
  if (spec.trigger) {
    f.effects.pipelines.add(p.id);
    return 0;
  }
  const tagKey = tagKeyOf(spec.tags);
  const rank = queueRankOf(spec.priority, isUrgentJob(urgentGlobs(p.urgentJobs), spec.name));
  const row = await f.tx.get<{ id: number | string }>(
    'INSERT INTO attempts (job_id, number, status, queued_at, tag_key, project_id, pipeline_id, priority, resource_group) ' +
      "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?) RETURNING id",
    [jobId, number, at, tagKey, p.projectId, p.id, rank, spec.resourceGroup],
  );
  f.effects.ready.add(tagKey);
  f.effects.pipelines.add(p.id);
  return Number(row!.id);
}

/**
 * Moves the pipeline's waiting jobs as far as their dependencies allow, queues attempts for the
 * ones that became pending, and moves the pipeline itself (running, manual, or its final status).
 */
export async function progressIn(f: FleetTx, pipelineId: number, at: EpochMs, locked?: LockedPipeline): Promise<void> {
  const p = locked ?? (await lockPipeline(f, pipelineId));
  // A fork's pipeline waiting for approval runs nothing until a maintainer approves it.
  if (!p || p.runsOn !== 'fleet' || isFinishedPipeline(p.status) || p.status === 'waiting_for_approval') return;
  const jobs = await jobsOf(f, p.id);
  const guarded = await protectedEnvironmentsIn(f, p.projectId, jobs);
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const views: JobView[] = jobs.map((j) => ({ name: j.name, status: j.status, exitCode: j.exitCode, spec: j.spec }));
  const viewOf = new Map(views.map((v) => [v.name, v]));
  for (const d of decideAll(views)) {
    const job = byName.get(d.name)!;
    // The pipeline's lock makes this transaction the only one moving its jobs out of `created`.
    if (d.to === 'pending' && job.spec.environment !== null && guarded.has(job.spec.environment)) {
      // A deployment to a protected environment waits for its approvals (approvals.ts releases it).
      if (!(await moveJobIn(f.tx, job.id, 'waiting_for_approval', { at }))) continue;
      viewOf.get(d.name)!.status = 'waiting_for_approval';
      f.effects.pipelines.add(p.id);
      continue;
    } else if (d.to === 'pending') {
      const queued = await f.tx.get<{ attempt_count: number | string }>(QUEUE_JOB_SQL, [job.id]);
      if (!queued) continue;
      await insertAttemptIn(f, job.id, Number(queued.attempt_count), job.spec, p, at);
    } else if (d.to === 'scheduled') {
      // A delayed job waits its start_in from now; promoteDueIn queues it then, on any instance.
      if (!(await moveJobIn(f.tx, job.id, 'scheduled', { at, scheduledAt: at + (job.spec.startInSeconds ?? 0) * 1000 }))) continue;
    } else if (!(await moveJobIn(f.tx, job.id, d.to, { at }))) continue;
    viewOf.get(d.name)!.status = d.to;
    f.effects.pipelines.add(p.id);
  }
  const final = finalStatus(views);
  let to: PipelineStatus | null = final ?? waitingStatus(views);
  if (to === null && (p.status === 'created' || p.status === 'pending' || p.status === 'manual' || p.status === 'scheduled')) to = 'running';
  if (to !== null && to !== p.status && (await movePipelineIn(f.tx, p.id, to, at))) pipelineMoved(f, p.id);
}

/** The names of the project's protected environments (required approvals > 0) among those `jobs` deploy to. */
async function protectedEnvironmentsIn(f: FleetTx, projectId: number, jobs: readonly { spec: CompiledJob }[]): Promise<Set<string>> {
  const names = [...new Set(jobs.map((j) => j.spec.environment).filter((e): e is string => e !== null))];
  if (names.length === 0) return new Set();
  const rows = await f.tx.all<{ name: string }>(
    `SELECT name FROM environments WHERE project_id = ? AND required_approvals > 0 AND name IN (${names.map(() => '?').join(', ')})`,
    [projectId, ...names],
  );
  return new Set(rows.map((r) => r.name));
}

/** Approves a fork's pipeline waiting for approval: it starts as any other. False when it was not waiting. */
export async function approvePipelineIn(f: FleetTx, p: LockedPipeline, by: string, always: boolean, at: EpochMs): Promise<boolean> {
  if (p.status !== 'waiting_for_approval' || !(await movePipelineIn(f.tx, p.id, 'pending', at))) return false;
  const row = await f.tx.get<{ fork_provider: string | null; fork_author: string | null }>(
    'UPDATE pipelines SET approved_by = ?, approved_at = ? WHERE id = ? RETURNING fork_provider, fork_author',
    [by, at, p.id],
  );
  if (always && row?.fork_author) {
    await f.tx.run(
      'INSERT INTO fork_authors (project_id, provider, author, approved_by, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, provider, author) DO NOTHING',
      [p.projectId, row.fork_provider ?? '', row.fork_author, by, at],
    );
  }
  pipelineMoved(f, p.id);
  p.status = 'pending';
  await progressIn(f, p.id, at, p);
  return true;
}

/** Rejects a fork's pipeline waiting for approval: canceled, with its jobs. False when it was not waiting. */
export async function rejectPipelineIn(f: FleetTx, p: LockedPipeline, at: EpochMs): Promise<boolean> {
  if (p.status !== 'waiting_for_approval') return false;
  return cancelPipelineIn(f, p, at);
}

export interface JobDecisionInput {
  approver: string;
  name: string;
  decision: 'approved' | 'rejected';
  comment: string | null;
}

/**
 * One person's decision on a deployment waiting for approval: a rejection fails the job
 * (`deployment_rejected`, as GitLab); an approval that makes the environment's required number
 * queues it. Counted in the transaction that writes it, under the pipeline's lock, so two
 * approvals at once neither both miss the count nor queue the job twice.
 */
export async function decideJobIn(f: FleetTx, p: LockedPipeline, jobId: number, d: JobDecisionInput, at: EpochMs): Promise<'not-waiting' | 'already' | 'decided'> {
  const job = await f.tx.get<{ status: string; environment: string | null }>('SELECT status, environment FROM jobs WHERE id = ?', [jobId]);
  if (!job || job.status !== 'waiting_for_approval') return 'not-waiting';
  const written = await f.tx.get(
    'INSERT INTO job_approvals (job_id, approver, approver_name, decision, comment, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, approver) DO NOTHING RETURNING approver',
    [jobId, d.approver, d.name, d.decision, d.comment, at],
  );
  if (!written) return 'already';
  if (d.decision === 'rejected') {
    await moveJobIn(f.tx, asJobId(jobId), 'failed', { at, failureReason: 'deployment_rejected' });
  } else {
    const count = await f.tx.get<{ n: number | string }>("SELECT COUNT(*) AS n FROM job_approvals WHERE job_id = ? AND decision = 'approved'", [jobId]);
    const env = job.environment === null ? null : await environmentIn(f.tx, p.projectId, job.environment);
    if (Number(count?.n ?? 0) >= (env?.requiredApprovals ?? 0)) {
      const queued = await f.tx.get<{ attempt_count: number | string }>(QUEUE_JOB_SQL, [jobId]);
      if (queued) await insertAttemptIn(f, jobId, Number(queued.attempt_count), (await f.specs.load(f.tx, [jobId])).get(jobId)!, p, at);
    }
  }
  f.effects.pipelines.add(p.id);
  await progressIn(f, p.id, at, p);
  return 'decided';
}

export interface EndedAttempt {
  id: number;
  jobId: number;
  pipelineId: number;
  number: number;
  status: FinishedAttemptStatus;
  exitCode: number | null;
  failureReason: FailureReason | null;
}

/**
 * What follows an attempt's end, in its transaction: another attempt (by the job's `retry`, or
 * the fleet's automatic retry of a lost agent), or the job's own end; then the pipeline moves on.
 * The caller has locked the pipeline.
 */
export async function afterAttemptIn(f: FleetTx, ended: EndedAttempt, p: LockedPipeline, at: EpochMs, settings: SchedulerSettings): Promise<void> {
  const spec = (await f.specs.load(f.tx, [ended.jobId])).get(ended.jobId)!;
  const reason = ended.failureReason;
  if ((ended.status === 'failed' || ended.status === 'timed_out') && reason !== null && !isFinishedPipeline(p.status)) {
    let retry = shouldRetry(spec.retry, ended.number, reason, ended.exitCode);
    if (!retry && reason === 'agent_lost') {
      const lost = await f.tx.get<{ n: number | string }>(
        "SELECT COUNT(*) AS n FROM attempts WHERE job_id = ? AND failure_reason = 'agent_lost'",
        [ended.jobId],
      );
      retry = Number(lost?.n ?? 0) <= settings.agentLostRetries;
    }
    if (retry && (await queueAttemptIn(f, ended.jobId, spec, p, at)) !== null) {
      // The job stays running; it keeps the last failure for display until it ends.
      await f.tx.run('UPDATE jobs SET exit_code = ?, failure_reason = ? WHERE id = ?', [ended.exitCode, reason, ended.jobId]);
      return;
    }
  }
  if (await moveJobIn(f.tx, asJobId(ended.jobId), ended.status, { at, exitCode: ended.exitCode, failureReason: ended.failureReason })) {
    f.effects.pipelines.add(p.id);
  }
  await progressIn(f, p.id, at, p);
}

const LIVE_JOB = inList(['created', 'manual', 'scheduled', 'waiting_for_approval', 'pending', 'running'] satisfies JobStatus[]);

/**
 * Cancels the jobs given (all unfinished jobs of the pipeline when `jobIds` is null): waiting
 * ones at once, running ones by a cancel request the agent confirms (its completion ends the job,
 * so the job's last log lines are kept). A `gantry run` attempt has no agent to ask: it ends now.
 */
async function cancelJobsIn(f: FleetTx, p: LockedPipeline, jobIds: readonly number[] | null, at: EpochMs): Promise<void> {
  const rows = jobIds
    ? await f.tx.all<{ id: number | string; status: string }>(
        `SELECT id, status FROM jobs WHERE id IN (${jobIds.map(() => '?').join(', ')}) AND ${LIVE_JOB}`,
        [...jobIds],
      )
    : await f.tx.all<{ id: number | string; status: string }>(`SELECT id, status FROM jobs WHERE pipeline_id = ? AND ${LIVE_JOB}`, [p.id]);
  for (const r of rows) {
    const jobId = Number(r.id);
    const unstarted = await f.tx.all<{ id: number | string; project_id: number | string; reserved_until: number | string | null }>(
      "UPDATE attempts SET status = 'canceled', finished_at = ?, failure_reason = 'canceled', offered_until = NULL WHERE job_id = ? AND status = 'pending' RETURNING id, project_id, reserved_until",
      [at, jobId],
    );
    // An offer's reservation goes back to its project with the offer.
    for (const a of unstarted) if (a.reserved_until !== null) await releaseIn(f, Number(a.id), Number(a.project_id), `release:${a.id}`, at);
    const local = await f.tx.run(
      "UPDATE attempts SET status = 'canceled', finished_at = ?, failure_reason = 'canceled', lease_expires_at = NULL WHERE job_id = ? AND status = 'running' AND agent_id IS NULL",
      [at, jobId],
    );
    for (let i = 0; i < unstarted.length + local.changes; i++) f.effects.finished.push({ status: 'canceled', failureReason: 'canceled' });
    const agents = await f.tx.all<{ agent_id: number | string }>(
      "UPDATE attempts SET cancel_requested_at = ? WHERE job_id = ? AND status = 'running' AND cancel_requested_at IS NULL RETURNING agent_id",
      [at, jobId],
    );
    for (const a of agents) f.effects.cancel.add(Number(a.agent_id) as AgentId);
    const stillRunning = await f.tx.get("SELECT id FROM attempts WHERE job_id = ? AND status = 'running'", [jobId]);
    if (!stillRunning) await moveJobIn(f.tx, asJobId(jobId), 'canceled', { at, failureReason: 'canceled' });
    // A trigger job canceled cancels its child (and the child's children): GitLab's cascade.
    await cancelChildrenIn(f, 'parent_job_id', jobId, at);
    f.effects.pipelines.add(p.id);
  }
}

/**
 * Cancels the unfinished child pipelines of a trigger job or of a pipeline (every child, a
 * `strategy: depend` one or not, as GitLab cancels a pipeline's descendants with it). The caller
 * holds the parent's lock; each child's is taken after it (the lock order).
 */
async function cancelChildrenIn(f: FleetTx, column: 'parent_job_id' | 'parent_pipeline_id', id: number, at: EpochMs): Promise<void> {
  const children = await f.tx.all<{ id: number | string }>(`SELECT id FROM pipelines WHERE ${column} = ? AND ${LIVE_PIPELINE} ORDER BY id`, [id]);
  for (const c of children) {
    const child = await lockPipeline(f, Number(c.id));
    if (child) await cancelPipelineIn(f, child, at);
  }
}

const LIVE_PIPELINE = inList(['created', 'waiting_for_approval', 'pending', 'running', 'manual', 'scheduled'] satisfies PipelineStatus[]);

export async function cancelPipelineIn(f: FleetTx, p: LockedPipeline, at: EpochMs): Promise<boolean> {
  if (!(await movePipelineIn(f.tx, p.id, 'canceled', at))) return false;
  await cancelJobsIn(f, p, null, at);
  await cancelChildrenIn(f, 'parent_pipeline_id', p.id, at);
  pipelineMoved(f, p.id);
  return true;
}

export async function cancelJobIn(f: FleetTx, p: LockedPipeline, jobId: number, at: EpochMs): Promise<void> {
  await cancelJobsIn(f, p, [jobId], at);
  await progressIn(f, p.id, at, p);
}

/**
 * Plays a manual job, or runs a scheduled (delayed) one now (GitLab's "Run now" is the same play).
 * False when the job is neither.
 */
export async function playJobIn(f: FleetTx, p: LockedPipeline, jobId: number, at: EpochMs): Promise<boolean> {
  const row = await f.tx.get<{ status: string }>('SELECT status FROM jobs WHERE id = ?', [jobId]);
  if (row?.status !== 'manual' && row?.status !== 'scheduled') return false;
  const spec = (await f.specs.load(f.tx, [jobId])).get(jobId)!;
  // A manual deployment to a protected environment, played, still waits for its approvals.
  const guarded = spec.environment !== null && (await protectedEnvironmentsIn(f, p.projectId, [{ spec }])).has(spec.environment);
  if (!(await moveJobIn(f.tx, asJobId(jobId), guarded ? 'waiting_for_approval' : 'pending', { at }))) return false;
  if (!guarded) await queueAttemptIn(f, jobId, spec, p, at);
  // A non-blocking manual job can be played after its pipeline passed (a deploy): the pipeline
  // runs again until the job ends, as in GitLab.
  if (isFinishedPipeline(p.status)) await f.tx.run(REOPEN_PIPELINE_SQL, [p.id]);
  else if (p.status === 'manual' || p.status === 'scheduled') await movePipelineIn(f.tx, p.id, 'running', at);
  if (p.status !== 'running') pipelineMoved(f, p.id);
  p.status = 'running';
  await progressIn(f, p.id, at, p);
  return true;
}

/**
 * A scheduled job made manual (GitLab's "Unschedule": the scheduled state's `unschedule` event), to
 * be played when someone wants it. False when it was not scheduled.
 */
export async function unscheduleJobIn(f: FleetTx, p: LockedPipeline, jobId: number, at: EpochMs): Promise<boolean> {
  // moveJobIn's `manual` also comes from `created`; only a scheduled job is unscheduled.
  const row = await f.tx.get<{ status: string }>('SELECT status FROM jobs WHERE id = ?', [jobId]);
  if (row?.status !== 'scheduled' || !(await moveJobIn(f.tx, asJobId(jobId), 'manual', { at }))) return false;
  f.effects.pipelines.add(p.id);
  await progressIn(f, p.id, at, p);
  return true;
}

/**
 * Queues the pipeline's scheduled jobs whose time came (`scheduled_at <= at`), under its lock: the
 * lock makes one transaction, on whichever instance, the one that queues each. How many it queued.
 */
export async function promoteDueIn(f: FleetTx, p: LockedPipeline, at: EpochMs): Promise<number> {
  if (isFinishedPipeline(p.status)) return 0;
  const due = await f.tx.all<{ id: number | string }>(
    "SELECT id FROM jobs WHERE pipeline_id = ? AND status = 'scheduled' AND scheduled_at <= ? ORDER BY stage_index, position",
    [p.id, at],
  );
  let queued = 0;
  for (const d of due) {
    const jobId = Number(d.id);
    const spec = (await f.specs.load(f.tx, [jobId])).get(jobId)!;
    const guarded = spec.environment !== null && (await protectedEnvironmentsIn(f, p.projectId, [{ spec }])).has(spec.environment);
    if (guarded) {
      if (await moveJobIn(f.tx, asJobId(jobId), 'waiting_for_approval', { at })) queued++;
      continue;
    }
    const row = await f.tx.get<{ attempt_count: number | string }>(QUEUE_JOB_SQL, [jobId]);
    if (!row) continue;
    await insertAttemptIn(f, jobId, Number(row.attempt_count), spec, p, at);
    queued++;
  }
  if (queued > 0) {
    f.effects.pipelines.add(p.id);
    await progressIn(f, p.id, at, p);
  }
  return queued;
}

const RETRYABLE = inList(['success', 'failed', 'canceled', 'timed_out'] satisfies JobStatus[]);
// A person's retry is the one move back out of a finished state; it is its own statement, never a
// move of the state machine, so no late or duplicated message can ever take this path.
const REOPEN_JOB_SQL =
  "UPDATE jobs SET status = 'created', started_at = NULL, finished_at = NULL, exit_code = NULL, failure_reason = NULL " +
  `WHERE id = ? AND (${RETRYABLE} OR status = 'skipped')`;
const REOPEN_PIPELINE_SQL = `UPDATE pipelines SET status = 'running', finished_at = NULL WHERE id = ? AND ${inList([
  'success',
  'failed',
  'canceled',
  'skipped',
] satisfies PipelineStatus[])}`;

/**
 * Reopens `jobIds` and every job downstream of them that did not run because of them (skipped or
 * canceled), then lets the pipeline's progression decide them again from their dependencies.
 */
async function reopenIn(f: FleetTx, p: LockedPipeline, jobIds: readonly number[], at: EpochMs): Promise<void> {
  const jobs = await jobsOf(f, p.id);
  const dependents = new Map<string, JobState[]>();
  for (const j of jobs) for (const e of j.spec.needs) dependents.set(e.job, [...(dependents.get(e.job) ?? []), j]);
  const reopen = new Set<JobState>(jobs.filter((j) => jobIds.includes(j.id)));
  const stack = [...reopen];
  while (stack.length) {
    const j = stack.pop()!;
    for (const d of dependents.get(j.name) ?? []) {
      if (!reopen.has(d) && (d.status === 'skipped' || d.status === 'canceled')) {
        reopen.add(d);
        stack.push(d);
      }
    }
  }
  if ((await f.tx.run(REOPEN_PIPELINE_SQL, [p.id])).changes === 1) pipelineMoved(f, p.id);
  p.status = (await lockPipeline(f, p.id))!.status;
  for (const j of reopen) {
    // A deployment run again needs its approvals again.
    if ((await f.tx.run(REOPEN_JOB_SQL, [j.id])).changes === 1) await f.tx.run('DELETE FROM job_approvals WHERE job_id = ?', [j.id]);
  }
  f.effects.pipelines.add(p.id);
  await progressIn(f, p.id, at, p);
}

export async function retryJobIn(f: FleetTx, p: LockedPipeline, jobId: number, at: EpochMs): Promise<boolean> {
  const row = await f.tx.get<{ id: number }>(`SELECT id FROM jobs WHERE id = ? AND ${RETRYABLE}`, [jobId]);
  if (!row) return false;
  await reopenIn(f, p, [jobId], at);
  return true;
}

/** Retries the pipeline's failed, canceled and timed-out jobs; false when it has none. */
export async function retryPipelineIn(f: FleetTx, p: LockedPipeline, at: EpochMs): Promise<boolean> {
  const rows = await f.tx.all<{ id: number | string }>(
    `SELECT id FROM jobs WHERE pipeline_id = ? AND ${inList(['failed', 'canceled', 'timed_out'])}`,
    [p.id],
  );
  if (rows.length === 0) return false;
  if (!isFinishedPipeline(p.status)) throw new GantryError('GANTRY_E_ILLEGAL_TRANSITION', `pipeline ${p.id} is ${p.status}: retry it when it has finished`);
  await reopenIn(
    f,
    p,
    rows.map((r) => Number(r.id)),
    at,
  );
  return true;
}

/** Older unfinished pipelines of the ref that a new one makes redundant (GitLab's auto-cancel). */
export async function autoCancelIn(f: FleetTx, p: LockedPipeline, at: EpochMs): Promise<number[]> {
  const project = await f.tx.get<{ auto_cancel: number | string }>('SELECT auto_cancel FROM projects WHERE id = ?', [p.projectId]);
  if (!project || Number(project.auto_cancel) === 0) return [];
  const older = await f.tx.all<{ id: number | string }>(
    // Redundant means an older commit: a second pipeline of the same commit replaces nothing.
    `SELECT id FROM pipelines WHERE project_id = ? AND ref = ? AND sha <> ? AND id < ? AND runs_on = 'fleet' AND ${inList([
      'created',
      // A fork's older push still waiting for approval: the new push is what to approve.
      'waiting_for_approval',
      'pending',
      'running',
      'manual',
      'scheduled',
    ])} ORDER BY id`,
    [p.projectId, p.ref, p.sha, p.id],
  );
  const canceled: number[] = [];
  for (const o of older) {
    const op = await lockPipeline(f, Number(o.id));
    if (!op || isFinishedPipeline(op.status)) continue;
    // Only when every job that has started is interruptible: a deploy half done is not cut short.
    const jobs = await jobsOf(f, op.id);
    const started = jobs.filter(
      (j) =>
        j.status !== 'created' &&
        j.status !== 'manual' &&
        j.status !== 'scheduled' &&
        j.status !== 'waiting_for_approval' &&
        j.status !== 'pending' &&
        j.status !== 'skipped',
    );
    if (started.some((j) => !j.spec.interruptible)) continue;
    if (await cancelPipelineIn(f, op, at)) canceled.push(op.id);
  }
  return canceled;
}

