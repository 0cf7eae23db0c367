// Schedules and their firings over any SqlDialect (src/store/schedules.ts says what each does).

import { asPipelineId, asProjectId, type ProjectId } from '../../domain/ids.js';
import {
  asScheduleId,
  type Firing,
  type FiringOutcome,
  type NewSchedule,
  type Schedule,
  type ScheduleId,
  type ScheduleStore,
  type ScheduleUpdate,
} from '../schedules.js';
import type { EpochMs } from '../store.js';
import type { AuditFor } from '../audit.js';
import { audited } from './audit.js';
import type { SqlDialect } from './dialect.js';
import { num, numOrNull } from './rows.js';

interface ScheduleRow {
  id: number | string;
  project_id: number | string;
  description: string | null;
  cron: string;
  timezone: string;
  ref: string;
  variables: string;
  active: number | string;
  next_run_at: number | string | null;
  last_fire_at: number | string | null;
  last_pipeline_id: number | string | null;
  last_error: string | null;
  created_at: number | string;
  updated_at: number | string;
}
const SCHEDULE_COLUMNS =
  'id, project_id, description, cron, timezone, ref, variables, active, next_run_at, last_fire_at, last_pipeline_id, last_error, created_at, updated_at';

function toSchedule(r: ScheduleRow): Schedule {
  const last = numOrNull(r.last_pipeline_id);
  return {
    id: asScheduleId(num(r.id)),
    projectId: asProjectId(num(r.project_id)),
    description: r.description,
    cron: r.cron,
    timezone: r.timezone,
    ref: r.ref,
    variables: JSON.parse(r.variables) as Record<string, string>,
    active: num(r.active) !== 0,
    nextRunAt: numOrNull(r.next_run_at),
    lastFireAt: numOrNull(r.last_fire_at),
    lastPipelineId: last === null ? null : asPipelineId(last),
    lastError: r.last_error,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

interface FiringRow {
  schedule_id: number | string;
  fire_at: number | string;
  status: string;
  claimed_until: number | string;
  attempts: number | string;
  pipeline_id: number | string | null;
  error: string | null;
}
const FIRING_COLUMNS = 'schedule_id, fire_at, status, claimed_until, attempts, pipeline_id, error';

function toFiring(r: FiringRow): Firing {
  const p = numOrNull(r.pipeline_id);
  return {
    scheduleId: asScheduleId(num(r.schedule_id)),
    fireAt: num(r.fire_at),
    status: r.status as Firing['status'],
    claimedUntil: num(r.claimed_until),
    attempts: num(r.attempts),
    pipelineId: p === null ? null : asPipelineId(p),
    error: r.error,
  };
}

export class SqlScheduleStore implements ScheduleStore {
  constructor(private readonly db: SqlDialect) {}

  async createSchedule(s: NewSchedule, audit?: AuditFor<Schedule>): Promise<Schedule> {
    return audited(this.db, audit, async (x) => {
    const row = await x.get<ScheduleRow>(
      'INSERT INTO schedules (project_id, description, cron, timezone, ref, variables, active, next_run_at, created_at, updated_at) ' +
        `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${SCHEDULE_COLUMNS}`,
      [s.projectId, s.description, s.cron, s.timezone, s.ref, JSON.stringify(s.variables), s.active ? 1 : 0, s.nextRunAt, s.at, s.at],
    );
    return toSchedule(row!);
    });
  }

  async getSchedule(projectId: ProjectId, id: ScheduleId): Promise<Schedule | null> {
    const row = await this.db.get<ScheduleRow>(`SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE id = ? AND project_id = ?`, [id, projectId]);
    return row ? toSchedule(row) : null;
  }

  async scheduleById(id: ScheduleId): Promise<Schedule | null> {
    const row = await this.db.get<ScheduleRow>(`SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE id = ?`, [id]);
    return row ? toSchedule(row) : null;
  }

  async listSchedules(projectId: ProjectId): Promise<Schedule[]> {
    const rows = await this.db.all<ScheduleRow>(`SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE project_id = ? ORDER BY id`, [projectId]);
    return rows.map(toSchedule);
  }

  async updateSchedule(projectId: ProjectId, id: ScheduleId, u: ScheduleUpdate, audit?: AuditFor<Schedule | null>): Promise<Schedule | null> {
    // A new next_run_at makes any claim of the old one fail its compare-and-set.
    return audited(this.db, audit, async (x) => {
    const row = await x.get<ScheduleRow>(
      'UPDATE schedules SET description = ?, cron = ?, timezone = ?, ref = ?, variables = ?, active = ?, next_run_at = ?, updated_at = ? ' +
        `WHERE id = ? AND project_id = ? RETURNING ${SCHEDULE_COLUMNS}`,
      [u.description, u.cron, u.timezone, u.ref, JSON.stringify(u.variables), u.active ? 1 : 0, u.nextRunAt, u.at, id, projectId],
    );
    return row ? toSchedule(row) : null;
    });
  }

  async deleteSchedule(projectId: ProjectId, id: ScheduleId, audit?: AuditFor<boolean>): Promise<boolean> {
    return audited(this.db, audit, async (x) => (await x.run('DELETE FROM schedules WHERE id = ? AND project_id = ?', [id, projectId])).changes === 1);
  }

  async dueSchedules(at: EpochMs, limit: number): Promise<Schedule[]> {
    const rows = await this.db.all<ScheduleRow>(
      `SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE next_run_at <= ? AND active = 1 ORDER BY next_run_at LIMIT ?`,
      [at, limit],
    );
    return rows.map(toSchedule);
  }

  async claimFiring(id: ScheduleId, due: EpochMs, next: EpochMs | null, claimedUntil: EpochMs): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // The compare-and-set: of instances racing for this firing, the one whose UPDATE matches
      // wins; on PostgreSQL the others wait for its row lock, re-read next_run_at and match nothing.
      const won = await tx.run('UPDATE schedules SET next_run_at = ? WHERE id = ? AND next_run_at = ? AND active = 1', [next, id, due]);
      if (won.changes !== 1) return false;
      // Recorded with the claim, so a crash after this commit leaves a firing to redo, not a lost one.
      await tx.run(
        "INSERT INTO schedule_firings (schedule_id, fire_at, status, claimed_until, attempts) VALUES (?, ?, 'claimed', ?, 1) " +
          'ON CONFLICT (schedule_id, fire_at) DO NOTHING',
        [id, due, claimedUntil],
      );
      return true;
    });
  }

  async staleFirings(at: EpochMs, limit: number): Promise<Firing[]> {
    const rows = await this.db.all<FiringRow>(
      `SELECT ${FIRING_COLUMNS} FROM schedule_firings WHERE status = 'claimed' AND claimed_until < ? ORDER BY claimed_until LIMIT ?`,
      [at, limit],
    );
    return rows.map(toFiring);
  }

  async reclaimFiring(f: Firing, claimedUntil: EpochMs): Promise<boolean> {
    const r = await this.db.run(
      "UPDATE schedule_firings SET claimed_until = ?, attempts = attempts + 1 WHERE schedule_id = ? AND fire_at = ? AND status = 'claimed' AND claimed_until = ?",
      [claimedUntil, f.scheduleId, f.fireAt, f.claimedUntil],
    );
    return r.changes === 1;
  }

  async postponeFiring(scheduleId: ScheduleId, fireAt: EpochMs, until: EpochMs, error: string): Promise<void> {
    await this.db.run("UPDATE schedule_firings SET claimed_until = ?, error = ? WHERE schedule_id = ? AND fire_at = ? AND status = 'claimed'", [
      until,
      error,
      scheduleId,
      fireAt,
    ]);
  }

  async finishFiring(scheduleId: ScheduleId, fireAt: EpochMs, outcome: FiringOutcome): Promise<void> {
    const pipelineId = outcome.kind === 'created' ? outcome.pipelineId : null;
    const error = outcome.kind === 'failed' ? outcome.error : null;
    await this.db.transaction(async (tx) => {
      const r = await tx.run(
        "UPDATE schedule_firings SET status = ?, pipeline_id = ?, error = ? WHERE schedule_id = ? AND fire_at = ? AND status = 'claimed'",
        [outcome.kind, pipelineId, error, scheduleId, fireAt],
      );
      if (r.changes !== 1) return;
      // The schedule shows its latest firing; an older firing finishing late does not hide a newer one.
      await tx.run(
        'UPDATE schedules SET last_fire_at = ?, last_pipeline_id = ?, last_error = ? WHERE id = ? AND (last_fire_at IS NULL OR last_fire_at <= ?)',
        [fireAt, pipelineId, error, scheduleId, fireAt],
      );
    });
  }

  async getFiring(scheduleId: ScheduleId, fireAt: EpochMs): Promise<Firing | null> {
    const row = await this.db.get<FiringRow>(`SELECT ${FIRING_COLUMNS} FROM schedule_firings WHERE schedule_id = ? AND fire_at = ?`, [
      scheduleId,
      fireAt,
    ]);
    return row ? toFiring(row) : null;
  }

  async pruneFirings(before: EpochMs): Promise<number> {
    return (await this.db.run("DELETE FROM schedule_firings WHERE status <> 'claimed' AND fire_at < ?", [before])).changes;
  }
}
