// Named moments where a test can make the server die by SIGKILL (GANTRY_TEST=1 and
// GANTRY_TEST_CRASH_AT=NAME), each right after a transaction commits and before its answer is
// sent: the window in which the store and the agent disagree. Recovery tests kill the server at
// each of them and check that the pipeline still finishes, every job once, every log intact.

import { GantryError } from '../domain/errors.js';

export const CRASH_POINTS = [
  /** A pipeline and its jobs are stored; its first jobs are not pending yet. */
  'trigger.created',
  /** Offers are taken (attempt tokens stored); the agent never hears of them. */
  'take.committed',
  /** An attempt is running; the agent does not know its start was accepted. */
  'start.committed',
  /** A log chunk is stored; the agent does not know and will send it again. */
  'log.committed',
  /** An attempt is finished and the pipeline moved on; the agent will report it again. */
  'complete.committed',
  /** A webhook delivery is recorded and its 202 sent; no pipeline is made yet. */
  'delivery.answered',
] as const;

/**
 * Moments that concern no agent, kept apart so the agent crash tests' loop over CRASH_POINTS
 * stays theirs.
 */
export const SERVER_CRASH_POINTS = [
  /** A schedule's firing is claimed (next_run_at moved on); its pipeline is not made yet. */
  'schedule.claimed',
  /** A finished attempt's compacted log object is stored; its rows are not replaced by it yet. */
  'log.compaction-stored',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number] | (typeof SERVER_CRASH_POINTS)[number];

/** Calls this at each crash point; does nothing unless a test armed that point. */
export type CrashHook = (point: CrashPoint) => void;

export const noCrash: CrashHook = () => undefined;

/** The hook for GANTRY_TEST_CRASH_AT (null: none); an unknown name is refused at start. */
export function crashHook(armed: string | null): CrashHook {
  if (armed === null) return noCrash;
  const known: readonly string[] = [...CRASH_POINTS, ...SERVER_CRASH_POINTS];
  if (!known.includes(armed)) {
    throw new GantryError('GANTRY_E_USAGE', `GANTRY_TEST_CRASH_AT must be one of ${known.join(', ')}; got ${JSON.stringify(armed)}`);
  }
  return (point) => {
    if (point !== armed) return;
    process.stderr.write(`gantry server: crash point ${point} reached; SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}
