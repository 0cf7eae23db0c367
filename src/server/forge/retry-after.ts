// When a forge says to come back: `Retry-After` (seconds or an HTTP date, RFC 9110 §10.2.3, sent
// by GitHub's secondary rate limits, Gitea and proxies with 429 and 503), or GitHub's primary
// rate limit (403 or 429 with `x-ratelimit-remaining: 0` and the reset as epoch seconds in
// `x-ratelimit-reset`), or GitLab's `RateLimit-Reset` (epoch seconds). Trying sooner only spends
// the next request of a limit that is already spent.

/** The longest a forge's word holds a status back: past that, the usual backoff's next try. */
export const MAX_FORGE_WAIT_MS = 60 * 60_000;

/** Milliseconds until the forge wants the next request, or null when it said nothing usable. */
export function forgeRetryDelayMs(status: number, headers: Headers, now: number): number | null {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    const at = /^[0-9]+$/.test(retryAfter) ? now + Number(retryAfter) * 1000 : Date.parse(retryAfter);
    if (Number.isFinite(at)) return clamp(at - now);
  }
  const limited = (status === 403 || status === 429) && headers.get('x-ratelimit-remaining')?.trim() === '0';
  const reset = headers.get(limited ? 'x-ratelimit-reset' : 'ratelimit-reset')?.trim();
  if ((limited || status === 429) && reset && /^[0-9]+$/.test(reset)) return clamp(Number(reset) * 1000 - now);
  return null;
}

const clamp = (ms: number) => Math.min(Math.max(ms, 0), MAX_FORGE_WAIT_MS);

/** Whether the forge refused only for now: busy, down, or rate-limiting (a spent primary limit answers 403). */
export function forgeRefusalIsTemporary(status: number, headers: Headers): boolean {
  if (status === 408 || status === 429 || status >= 500) return true;
  return status === 403 && headers.get('x-ratelimit-remaining')?.trim() === '0';
}
