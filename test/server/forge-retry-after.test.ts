// When a forge says to come back, the status reporter comes back then: Retry-After in seconds or
// as a date, GitHub's and GitLab's rate-limit resets; otherwise the usual backoff.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forgeRefusalIsTemporary, forgeRetryDelayMs, MAX_FORGE_WAIT_MS } from '../../src/server/forge/retry-after.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const h = (o: Record<string, string>) => new Headers(o);

describe('the forge says when to come back', () => {
  it('Retry-After in seconds and as an HTTP date', () => {
    assert.equal(forgeRetryDelayMs(429, h({ 'retry-after': '30' }), NOW), 30_000);
    assert.equal(forgeRetryDelayMs(503, h({ 'retry-after': 'Mon, 07 Dec 2026 12:02:00 GMT' }), NOW), 120_000);
    // A date already past: at once; nonsense: nothing said.
    assert.equal(forgeRetryDelayMs(503, h({ 'retry-after': 'Mon, 07 Dec 2026 11:00:00 GMT' }), NOW), 0);
    assert.equal(forgeRetryDelayMs(503, h({ 'retry-after': 'soon' }), NOW), null);
  });

  it("GitHub's spent primary limit (403, remaining 0) waits for its reset; GitLab's RateLimit-Reset on a 429", () => {
    const reset = String(NOW / 1000 + 600);
    assert.equal(forgeRetryDelayMs(403, h({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }), NOW), 600_000);
    assert.equal(forgeRefusalIsTemporary(403, h({ 'x-ratelimit-remaining': '0' })), true);
    assert.equal(forgeRetryDelayMs(429, h({ 'ratelimit-reset': String(NOW / 1000 + 5) }), NOW), 5_000);
  });

  it('a 403 that is not a rate limit is final; a plain 500 takes the backoff', () => {
    assert.equal(forgeRefusalIsTemporary(403, h({ 'x-ratelimit-remaining': '4999' })), false);
    assert.equal(forgeRefusalIsTemporary(401, h({})), false);
    assert.equal(forgeRefusalIsTemporary(500, h({})), true);
    assert.equal(forgeRetryDelayMs(500, h({}), NOW), null);
  });

  it('waits at most an hour, whatever the forge says', () => {
    assert.equal(forgeRetryDelayMs(429, h({ 'retry-after': '86400' }), NOW), MAX_FORGE_WAIT_MS);
  });
});
