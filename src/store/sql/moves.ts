// The checked state moves as statements on any executor, so a move can be part of a larger
// transaction (a completion, a cancel, a pipeline's progression) as well as stand alone. Each
// target status has one fixed text, built once; the legal sources come from
// src/domain/status.ts and are inlined as literals.

import {
  attemptSourcesOf,
  isFinishedJob,
  isFinishedPipeline,
  jobSourcesOf,
  pipelineSourcesOf,
  type AttemptStatus,
  type JobStatus,
  type PipelineStatus,
} from '../../domain/status.js';
import type { JobId, PipelineId } from '../../domain/ids.js';
import type { AttemptFinish, EpochMs, JobMovePatch } from '../store.js';
import type { SqlExecutor, SqlValue } from './dialect.js';

/** `status IN ('a', 'b')` from constants of status.ts (never user input), or a clause matching nothing. */
export function inList(values: readonly string[], column = 'status'): string {
  return values.length ? `${column} IN (${values.map((v) => `'${v}'`).join(', ')})` : '1 = 0';
}

// A job still in play may get another attempt; a finished one may not.
export const CREATE_ATTEMPT_SQL = `UPDATE jobs SET attempt_count = attempt_count + 1 WHERE id = ? AND ${inList(
  ['created', 'manual', 'scheduled', 'waiting_for_approval', 'pending', 'running'] satisfies JobStatus[],
)} RETURNING attempt_count`;

// A waiting job becoming pending and its first attempt numbered, in one statement: the move the
// progression makes after every completion, on the path from a dependency finishing to the job
// starting. The same sources as moveJobIn's move to pending.
export const QUEUE_JOB_SQL = `UPDATE jobs SET status = 'pending', scheduled_at = NULL, attempt_count = attempt_count + 1 WHERE id = ? AND ${inList(
  jobSourcesOf('pending'),
)} RETURNING attempt_count`;

const jobMoveSql = new Map<string, string>();
const pipelineMoveSql = new Map<PipelineStatus, string>();
const finishSql = new Map<AttemptStatus, string>();

export async function movePipelineIn(tx: SqlExecutor, id: PipelineId, to: PipelineStatus, at: EpochMs): Promise<boolean> {
  let sql = pipelineMoveSql.get(to);
  if (sql === undefined) {
    const sets = ['status = ?'];
    // COALESCE keeps the first start: a pipeline can go running -> manual -> running.
    if (to === 'running') sets.push('started_at = COALESCE(started_at, ?)');
    if (isFinishedPipeline(to)) sets.push('finished_at = ?');
    sql = `UPDATE pipelines SET ${sets.join(', ')} WHERE id = ? AND ${inList(pipelineSourcesOf(to))}`;
    pipelineMoveSql.set(to, sql);
  }
  const params: SqlValue[] = [to];
  if (to === 'running') params.push(at);
  if (isFinishedPipeline(to)) params.push(at);
  params.push(id);
  return (await tx.run(sql, params)).changes === 1;
}

export async function moveJobIn(tx: SqlExecutor, id: JobId, to: JobStatus, patch: JobMovePatch): Promise<boolean> {
  const withExit = patch.exitCode !== undefined;
  const withReason = patch.failureReason !== undefined;
  const key = `${to}|${withExit ? 1 : 0}|${withReason ? 1 : 0}`;
  const finished = isFinishedJob(to);
  let sql = jobMoveSql.get(key);
  if (sql === undefined) {
    const sets = ['status = ?'];
    // A delayed job's time is the scheduled state's own: set moving in, cleared moving out.
    sets.push(to === 'scheduled' ? 'scheduled_at = ?' : 'scheduled_at = NULL');
    if (to === 'running') sets.push('started_at = COALESCE(started_at, ?)');
    if (finished) sets.push('finished_at = ?');
    if (withExit) sets.push('exit_code = ?');
    if (withReason) sets.push('failure_reason = ?');
    sql = `UPDATE jobs SET ${sets.join(', ')} WHERE id = ? AND ${inList(jobSourcesOf(to))}`;
    jobMoveSql.set(key, sql);
  }
  const params: SqlValue[] = [to];
  if (to === 'scheduled') params.push(patch.scheduledAt ?? patch.at);
  if (to === 'running') params.push(patch.at);
  if (finished) params.push(patch.at);
  if (withExit) params.push(patch.exitCode ?? null);
  if (withReason) params.push(patch.failureReason ?? null);
  params.push(id);
  return (await tx.run(sql, params)).changes === 1;
}

export async function finishAttemptIn(tx: SqlExecutor, id: number, finish: AttemptFinish): Promise<boolean> {
  let sql = finishSql.get(finish.status);
  if (sql === undefined) {
    // CASE rather than MAX()/GREATEST(): the same text works in both dialects.
    sql =
      'UPDATE attempts SET status = ?, finished_at = ?, exit_code = ?, failure_reason = ?, coverage = ?, lease_expires_at = NULL, ' +
      'log_bytes = CASE WHEN log_bytes < ? THEN ? ELSE log_bytes END ' +
      `WHERE id = ? AND ${inList(attemptSourcesOf(finish.status))}`;
    finishSql.set(finish.status, sql);
  }
  const r = await tx.run(sql, [finish.status, finish.at, finish.exitCode, finish.failureReason, finish.coverage ?? null, finish.logBytes, finish.logBytes, id]);
  return r.changes === 1;
}
