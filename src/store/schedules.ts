// The store's side of schedules (docs/ARCHITECTURE.md, "Schedules"): the schedules themselves and
// their firings. Firing exactly once across instances rests on two conditional writes: the claim
// (a compare-and-set on next_run_at that also records the firing) and the re-claim of a firing
// whose claim ran out (a compare-and-set on its claimed_until).

import type { PipelineId, ProjectId } from '../domain/ids.js';
import type { EpochMs } from './store.js';
import type { AuditFor } from './audit.js';

export type ScheduleId = number & { readonly __schedule: unique symbol };
export const asScheduleId = (n: number) => n as ScheduleId;

export interface Schedule {
  id: ScheduleId;
  projectId: ProjectId;
  description: string | null;
  /** Five fields (minute precision) or six (a leading seconds field), croner's syntax. */
  cron: string;
  /** An IANA time zone the cron fields are read in. */
  timezone: string;
  ref: string;
  variables: Record<string, string>;
  active: boolean;
  /** The next firing; null while inactive (or when the expression never fires again). */
  nextRunAt: EpochMs | null;
  lastFireAt: EpochMs | null;
  lastPipelineId: PipelineId | null;
  /** Why the last firing made no pipeline (ref gone, invalid file); null when it made one. */
  lastError: string | null;
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

export interface NewSchedule {
  projectId: ProjectId;
  description: string | null;
  cron: string;
  timezone: string;
  ref: string;
  variables: Record<string, string>;
  active: boolean;
  nextRunAt: EpochMs | null;
  at: EpochMs;
}

/** The whole new definition: the caller merges a PATCH and recomputes nextRunAt. */
export type ScheduleUpdate = Omit<NewSchedule, 'projectId'>;

/** One firing of a schedule: claimed by an instance until `claimedUntil`, then created or failed. */
export interface Firing {
  scheduleId: ScheduleId;
  fireAt: EpochMs;
  status: 'claimed' | 'created' | 'failed';
  claimedUntil: EpochMs;
  attempts: number;
  pipelineId: PipelineId | null;
  error: string | null;
}

export type FiringOutcome = { kind: 'created'; pipelineId: PipelineId } | { kind: 'failed'; error: string };

export interface ScheduleStore {
  createSchedule(s: NewSchedule, audit?: AuditFor<Schedule>): Promise<Schedule>;
  getSchedule(projectId: ProjectId, id: ScheduleId): Promise<Schedule | null>;
  /** By id alone, for the firer (which has no project at hand). */
  scheduleById(id: ScheduleId): Promise<Schedule | null>;
  /** The project's schedules, oldest first. */
  listSchedules(projectId: ProjectId): Promise<Schedule[]>;
  /** Replaces the definition; null if there is no such schedule in the project. */
  updateSchedule(projectId: ProjectId, id: ScheduleId, u: ScheduleUpdate, audit?: AuditFor<Schedule | null>): Promise<Schedule | null>;
  deleteSchedule(projectId: ProjectId, id: ScheduleId, audit?: AuditFor<boolean>): Promise<boolean>;

  /** Active schedules whose next firing is at or before `at`, earliest first. */
  dueSchedules(at: EpochMs, limit: number): Promise<Schedule[]>;
  /**
   * Claims the firing `due` of a schedule: moves next_run_at from `due` to `next` and records the
   * firing as claimed until `claimedUntil`, in one transaction. False (nothing changed) when
   * next_run_at is no longer `due`: another instance claimed it, or the schedule was edited.
   */
  claimFiring(id: ScheduleId, due: EpochMs, next: EpochMs | null, claimedUntil: EpochMs): Promise<boolean>;
  /** Claimed firings whose claim ran out before they were finished: their instance died. */
  staleFirings(at: EpochMs, limit: number): Promise<Firing[]>;
  /** Takes over a stale firing (compare-and-set on its claimed_until); false if another did. */
  reclaimFiring(f: Firing, claimedUntil: EpochMs): Promise<boolean>;
  /** Puts a claimed firing off after a passing failure (the repository could not be fetched). */
  postponeFiring(scheduleId: ScheduleId, fireAt: EpochMs, until: EpochMs, error: string): Promise<void>;
  /** Records what the firing made, on the firing and as the schedule's last firing. */
  finishFiring(scheduleId: ScheduleId, fireAt: EpochMs, outcome: FiringOutcome): Promise<void>;
  getFiring(scheduleId: ScheduleId, fireAt: EpochMs): Promise<Firing | null>;
  /** Deletes finished firings older than `before`; how many. */
  pruneFirings(before: EpochMs): Promise<number>;
}
