// The instance's retention defaults from its configuration (config.ts reads the environment; this
// checks what it read), so a mistake stops `gantry server` with the reason, as the other settings do.

import type { RetentionConfig } from '../../config/config.js';
import { GantryError } from '../../domain/errors.js';
import { DEFAULT_RETENTION, parseExpireIn, type RetentionDefaults } from '../../domain/retention.js';

export function retentionDefaultsFrom(c: RetentionConfig): RetentionDefaults {
  let artifactsExpireInSeconds = DEFAULT_RETENTION.artifactsExpireInSeconds;
  if (c.artifactsExpireIn !== null) {
    const text = c.artifactsExpireIn.trim();
    const parsed = text === '' ? null : parseExpireIn(text);
    if (parsed === undefined) {
      throw new GantryError('GANTRY_E_USAGE', `GANTRY_ARTIFACTS_EXPIRE_IN must be a duration as GitLab writes expire_in (30 days, 1h 30m) or never, not ${JSON.stringify(c.artifactsExpireIn)}`);
    }
    artifactsExpireInSeconds = parsed;
  }
  return {
    pipelineDays: c.pipelineDays,
    keepPerRef: c.keepPerRef,
    logDays: c.logDays,
    artifactsExpireInSeconds,
    keepLatestArtifacts: c.keepLatestArtifacts,
    deliveryDays: c.deliveryDays,
    outboxDays: c.outboxDays,
  };
}

/** The defaults in words, for the log line at start. */
export function describeRetention(d: RetentionDefaults, gcIntervalMs: number | null): string {
  const days = (n: number) => (n === 0 ? 'for ever' : `${n} days`);
  const pipelines = d.pipelineDays === 0 ? 'pipelines kept for ever' : `pipelines kept ${d.pipelineDays} days (the newest ${d.keepPerRef} of each ref always)`;
  const expireIn = d.artifactsExpireInSeconds === null ? 'never' : `${d.artifactsExpireInSeconds} s`;
  const schedule = gcIntervalMs === null ? 'garbage collection on demand only' : `garbage collection every ${Math.round(gcIntervalMs / 60_000)} min`;
  return (
    `retention: ${pipelines}; logs ${days(d.logDays)}; artifacts expire_in ${expireIn} by default` +
    `${d.keepLatestArtifacts ? ', the latest of each ref kept' : ''}; deliveries ${days(d.deliveryDays)}; sent commit statuses ${days(d.outboxDays)}; ${schedule}`
  );
}
