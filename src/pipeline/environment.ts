// `environment:`: GitLab's slug and tier rules, so CI_ENVIRONMENT_SLUG and CI_ENVIRONMENT_TIER are
// the values a GitLab job would see for the same name.

import { createHash } from 'node:crypto';
import type { EnvironmentAction, EnvironmentTier } from './types.js';

export const ENVIRONMENT_ACTIONS: readonly EnvironmentAction[] = ['start', 'prepare', 'stop', 'verify', 'access'];
export const ENVIRONMENT_TIERS: readonly EnvironmentTier[] = ['production', 'staging', 'testing', 'development', 'other'];

/**
 * GitLab's environment slug (lib/gitlab/slug/environment.rb): lowercase, anything but [a-z0-9]
 * becomes `-`, a leading non-letter gets `env-`, runs of `-` collapse; when that changed the name
 * or it is longer than 24, it is cut to 17 characters and given a 6-character suffix from the
 * name's SHA-256 (in base 36), so that two names that slug alike still differ.
 */
export function environmentSlug(name: string): string {
  let slug = name.toLowerCase().replace(/[^a-z0-9]/g, '-');
  if (!/^[a-z]/.test(slug)) slug = `env-${slug}`;
  slug = slug.replace(/-+/g, '-');
  if (slug.length > 24 || slug !== name) {
    slug = slug.slice(0, 17);
    if (!slug.endsWith('-')) slug += '-';
    return slug + BigInt(`0x${createHash('sha256').update(name).digest('hex')}`).toString(36).slice(-6);
  }
  return slug.replace(/-$/, '');
}

/** GitLab's tier guess for an environment without `deployment_tier` (app/models/environment.rb, guess_tier). */
export function guessTier(name: string): EnvironmentTier {
  if (/(dev|review|trunk)/i.test(name)) return 'development';
  if (/(test|tst|int|ac(ce|)pt|qa|qc|control|quality)/i.test(name)) return 'testing';
  if (/(st(a|)g|mod(e|)l|pre|demo|non)/i.test(name)) return 'staging';
  if (/(pr(o|)d|live)/i.test(name)) return 'production';
  return 'other';
}
