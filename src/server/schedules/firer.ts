// Fires due schedules, on every server instance at once, with no leader (docs/ARCHITECTURE.md,
// "Schedules"). Each tick:
//
// 1. Due schedules are read; each firing is claimed by a compare-and-set that moves next_run_at
//    from the firing's time to the next one and records the firing as claimed, in one
//    transaction (ScheduleStore.claimFiring). Of instances racing, one claim matches.
// 2. The winner creates the pipeline through the API trigger path under the idempotency key
//    `schedule:<id>:<firing time>`, so a second attempt at the same firing finds the first one's
//    pipeline instead of making another.
// 3. A firing still claimed after its claim ran out (its instance died between 1 and 2, or during
//    2) is claimed again by any instance and redone under the same key: never lost, never doubled.
//
// Firings missed while no instance ran collapse into one: the next firing after a claim is the
// first one after now, not after the missed time.

import { GantryError, isGantryError, type ErrorCode } from '../../domain/errors.js';
import type { SchedulerSettings } from '../../store/fleet.js';
import type { Schedule, ScheduleId } from '../../store/schedules.js';
import type { EpochMs, Store } from '../../store/store.js';
import type { CrashHook } from '../crash-points.js';
import type { GitMirrors } from '../git-mirror.js';
import { triggerPipeline, type TriggerRequest } from '../trigger.js';
import { cronTimes } from './cron.js';

export interface FirerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface FirerDeps {
  store: Store;
  mirrors: GitMirrors;
  settings: SchedulerSettings;
  now: () => number;
  log: FirerLog;
  onCreated?: () => void;
  /** Test-only crash points (crash-points.ts). */
  crash?: CrashHook;
}

/** Failures that say nothing about the firing itself: it is tried again later. */
const PASSING: ReadonlySet<ErrorCode> = new Set(['GANTRY_E_GIT', 'GANTRY_E_STORE', 'GANTRY_E_INTERNAL']);
const MAX_TRIES = 10;
const KEEP_FIRINGS_MS = 7 * 24 * 3600_000;

/** The idempotency key of one firing: the same on every instance and after every restart. */
export const firingKey = (id: ScheduleId, fireAt: EpochMs): string => `schedule:${id}:${new Date(fireAt).toISOString()}`;

export class ScheduleFirer {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private lastPrune = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** How long a claim holds a firing before another instance may redo it. */
  readonly claimMs: number;

  constructor(
    private readonly deps: FirerDeps,
    private readonly everyMs = 500,
  ) {
    // A firing's work is a git fetch and a compile: a couple of leases is ample, and tests (with
    // a short lease) see a dead instance's firing redone within seconds.
    this.claimMs = Math.max(2 * deps.settings.leaseMs, 1_000);
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      // ±20% jitter so instances started together do not query in lockstep.
      this.timer = setTimeout(() => void this.tick().finally(tick), this.everyMs * (0.8 + Math.random() * 0.4));
      this.timer.unref();
    };
    tick();
  }

  /** Stops ticking and waits for firings under way (their claims would otherwise run out). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight]);
  }

  async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const at = this.deps.now();
      for (const s of await this.deps.store.schedules.dueSchedules(at, 50)) await this.claim(s, at);
      for (const f of await this.deps.store.schedules.staleFirings(at, 20)) {
        if (await this.deps.store.schedules.reclaimFiring(f, at + this.claimMs)) {
          const s = await this.deps.store.schedules.scheduleById(f.scheduleId);
          if (s) this.fire(s, f.fireAt, f.attempts + 1);
        }
      }
      if (at - this.lastPrune > 60_000) {
        this.lastPrune = at;
        await this.deps.store.schedules.pruneFirings(at - KEEP_FIRINGS_MS);
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'schedule tick failed; the next tick tries again');
    } finally {
      this.running = false;
    }
  }

  private async claim(s: Schedule, at: EpochMs): Promise<void> {
    const due = s.nextRunAt!;
    let next: EpochMs | null;
    try {
      // After the later of the firing and now: firings missed while down collapse into this one.
      next = cronTimes(s.cron, s.timezone).nextAfter(Math.max(due, at));
    } catch (err) {
      // Checked when stored; a time zone removed from the IANA database by a Node upgrade lands here.
      this.deps.log.warn({ err, schedule: s.id }, 'schedule cannot be read any more; it is skipped');
      return;
    }
    if (!(await this.deps.store.schedules.claimFiring(s.id, due, next, at + this.claimMs))) return;
    this.deps.crash?.('schedule.claimed');
    this.fire(s, due, 1);
  }

  /** Runs a claimed firing in the background: a slow git fetch does not hold up other schedules. */
  private fire(s: Schedule, fireAt: EpochMs, attempt: number): void {
    const p = this.make(s, fireAt, attempt).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async make(s: Schedule, fireAt: EpochMs, attempt: number): Promise<void> {
    const { store } = this.deps;
    const key = firingKey(s.id, fireAt);
    try {
      const project = await store.getProject(s.projectId);
      if (!project) return;
      // A redone firing whose pipeline was made before the crash: that pipeline is the firing's,
      // even if the schedule was edited since (its fingerprint would no longer match).
      const made = await store.getIdempotencyKey(project.id, key);
      let pipelineId = made?.pipelineId;
      if (pipelineId === undefined) {
        const body: TriggerRequest = { ref: s.ref, source: 'schedule', ...(Object.keys(s.variables).length ? { variables: s.variables } : {}) };
        try {
          const r = await triggerPipeline(this.deps, project, body, key, { kind: 'schedule', scheduleId: s.id, name: s.description ?? `schedule #${s.id}` });
          pipelineId = r.pipeline.pipeline.id;
        } catch (err) {
          if (!(isGantryError(err) && err.code === 'GANTRY_E_IDEMPOTENCY_MISMATCH')) throw err;
          pipelineId = (await store.getIdempotencyKey(project.id, key))!.pipelineId;
        }
      }
      await store.schedules.finishFiring(s.id, fireAt, { kind: 'created', pipelineId });
      this.deps.log.info({ schedule: s.id, pipeline: pipelineId, fireAt: new Date(fireAt).toISOString() }, `schedule ${s.id} fired: pipeline ${pipelineId}`);
    } catch (err) {
      const code = err instanceof GantryError ? err.code : 'GANTRY_E_INTERNAL';
      const message = err instanceof Error ? err.message : String(err);
      if (PASSING.has(code) && attempt < MAX_TRIES) {
        // 5 s, 10 s, 20 s ... at most 5 min; the claim is extended to then, so no one else redoes it sooner.
        const wait = Math.min(5_000 * 2 ** (attempt - 1), 300_000);
        await store.schedules.postponeFiring(s.id, fireAt, this.deps.now() + wait, `${code}: ${message}`).catch(() => undefined);
        this.deps.log.warn({ schedule: s.id, code }, `schedule ${s.id}: firing put off for ${wait / 1000} s: ${message}`);
        return;
      }
      // The ref is gone, the file is invalid, workflow:rules said no: this firing makes nothing.
      await store.schedules.finishFiring(s.id, fireAt, { kind: 'failed', error: `${code}: ${message}` }).catch(() => undefined);
      this.deps.log.warn({ schedule: s.id, code }, `schedule ${s.id} fired but made no pipeline: ${message}`);
    }
  }
}
