// When a refused request is worth waiting out: the one rule for the CLI (api-client.ts) and the
// web UI (ui/api/client.ts). The overload protection answers 429 GANTRY_E_RATE_LIMITED or 503
// GANTRY_E_OVERLOADED with Retry-After before it does anything, so any method may be sent again
// once the wait is over; another 429/503 (a proxy's, say) is reported, not retried.

export const SHED_CODES: ReadonlySet<string> = new Set(['GANTRY_E_RATE_LIMITED', 'GANTRY_E_OVERLOADED']);
/** The longest single Retry-After a client waits out; a longer one is the caller's to decide. */
export const MAX_SHED_WAIT_S = 30;
/** All the waiting one request may do for shedding, in seconds. */
export const SHED_BUDGET_S = 60;

/** Retry-After as seconds (a number or an HTTP date), or null when absent or unreadable. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

export interface ShedWait {
  /** At least 1. */
  seconds: number;
  /** The server's words, for the person waiting. */
  message: string;
}

/**
 * The wait an answer asks for, or null to report it as an error: `bodyText` is the answer's
 * body, `waitedS` what this request has waited for shedding already.
 */
export function shedWaitOf(status: number, retryAfter: string | null, bodyText: string, waitedS: number): ShedWait | null {
  if (status !== 429 && status !== 503) return null;
  const seconds = retryAfterSeconds(retryAfter);
  if (seconds === null || seconds > MAX_SHED_WAIT_S || waitedS + seconds > SHED_BUDGET_S) return null;
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(bodyText) as { error?: typeof error } | null)?.error;
  } catch {
    return null;
  }
  if (typeof error?.code !== 'string' || !SHED_CODES.has(error.code)) return null;
  return { seconds: Math.max(1, seconds), message: typeof error.message === 'string' ? error.message : error.code };
}
