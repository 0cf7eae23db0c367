// Fair share between projects (docs/RUNNING.md, "Pools and fair share"): a project's weight, and
// the jobs a maintainer marks urgent within the project's share.

import { protectedGlobMatches } from './protected-refs.js';

/** A project's share weight: an admin's to set, 1 (the default) to SHARE_WEIGHT_MAX. */
export const DEFAULT_SHARE_WEIGHT = 1;
export const SHARE_WEIGHT_MAX = 1000;

/** How many urgent job globs a project may have, and how long each may be. */
export const URGENT_JOBS_MAX = 50;
export const URGENT_GLOB_MAX_LENGTH = 255;

/**
 * Whether a job is urgent in its project: its name matches one of the project's globs. The
 * wildcard is the protected refs' (`*` is any run of characters, `/` and spaces included, and
 * nothing else is special), so `deploy*` also takes `deploy: [prod]` of a matrix.
 */
export function isUrgentJob(globs: readonly string[], jobName: string): boolean {
  return globs.some((g) => protectedGlobMatches(g, jobName));
}

// An attempt's place in its project's queue is one integer, `attempts.priority`, which the take
// orders by (`priority DESC, id`) and the take's index holds: the job's `priority` (-1000..1000),
// raised by URGENT_RANK when the job was urgent as the attempt was queued. Every urgent attempt
// then sorts before every other one of its project, and by priority among themselves, with no
// column or index added and no cost at the take. Only these functions read the encoding.
const URGENT_RANK = 10_000;

/** The value `attempts.priority` holds for a job of `priority`, urgent or not. */
export function queueRankOf(priority: number, urgent: boolean): number {
  return urgent ? priority + URGENT_RANK : priority;
}

/** The job's own priority and whether it was urgent, from `attempts.priority`. */
export function rankParts(rank: number): { priority: number; urgent: boolean } {
  return rank > URGENT_RANK / 2 ? { priority: rank - URGENT_RANK, urgent: true } : { priority: rank, urgent: false };
}

/** What to add to `attempts.priority` when an attempt becomes urgent (negated: when it stops being). */
export const URGENT_STEP = URGENT_RANK;
