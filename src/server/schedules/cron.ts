// A schedule's cron expression read in its time zone (croner): five fields, or six with a leading
// seconds field. Time zones are IANA names; daylight saving moves are croner's business.

import { Cron } from 'croner';
import { ApiError } from '../errors.js';
import type { EpochMs } from '../../store/store.js';

export interface CronTimes {
  /** The first firing strictly after `ms`; null when the expression never fires again. */
  nextAfter(ms: EpochMs): EpochMs | null;
}

function checkTimezone(timezone: string): void {
  try {
    // Intl knows the IANA database Node was built with: the zones croner can convert to.
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ApiError('GANTRY_E_SCHEDULE_TIMEZONE', `${JSON.stringify(timezone)} is not an IANA time zone (such as UTC or Europe/Berlin)`, {
      field: 'body.timezone',
    });
  }
}

/** Throws GANTRY_E_SCHEDULE_CRON or GANTRY_E_SCHEDULE_TIMEZONE (422) for what cannot fire. */
export function cronTimes(expression: string, timezone: string): CronTimes {
  checkTimezone(timezone);
  let cron: Cron;
  try {
    cron = new Cron(expression, { paused: true, timezone, mode: '5-or-6-parts' });
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/^CronPattern:\s*/, '');
    throw new ApiError('GANTRY_E_SCHEDULE_CRON', `${JSON.stringify(expression)} is not a cron expression: ${why}`, { field: 'body.cron' });
  }
  return {
    nextAfter(ms) {
      return cron.nextRun(new Date(ms))?.getTime() ?? null;
    },
  };
}

/** Checks a new or edited schedule: it must fire at least once from `at` on. */
export function firstFiring(expression: string, timezone: string, at: EpochMs): EpochMs {
  const next = cronTimes(expression, timezone).nextAfter(at);
  if (next === null) throw new ApiError('GANTRY_E_SCHEDULE_CRON', `${JSON.stringify(expression)} never fires (such as 30 February)`, { field: 'body.cron' });
  return next;
}
