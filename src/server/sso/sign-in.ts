// What Gantry makes of the claims a provider vouched for: who this is (the account, a username for
// a first sign-in, the groups), whether they may come in (a verified email, of an allowed domain),
// and what the group mapping gives them. Pure: the route does the talking and the storing.

import type { SsoAccount } from '../../store/sso.js';
import { ApiError } from '../errors.js';
import type { Claims } from './oidc-client.js';
import type { SsoSettings } from './settings.js';

export interface SsoPerson {
  account: SsoAccount;
  email: string;
  /** A username for the user a first sign-in makes (the store adds -2, -3 if it is taken). */
  username: string;
  /** The groups claim as sent; empty when absent. */
  groups: string[];
}

/** Why a person the provider vouched for is refused (the audit log's `reason`). */
export type RefusalReason = 'no_email' | 'email_unverified' | 'domain' | 'disabled';

export class SsoRefusal extends ApiError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super('GANTRY_E_SSO_REFUSED', message);
  }
}

/**
 * A username from the provider's `preferred_username` (its part before an `@`), else the email's
 * local part: lowercased, accents dropped, anything else outside [a-z0-9._-] as `-`.
 */
export function usernameFrom(claims: Claims, email: string): string {
  const preferred = typeof claims.preferred_username === 'string' ? claims.preferred_username : '';
  const raw = (preferred || email).split('@')[0]!;
  const name = raw
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '')
    .slice(0, 64);
  return name === '' ? 'user' : name;
}

function groupsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  return [];
}

/**
 * The person behind the claims, or a refusal: an email is required and must be verified by the
 * provider (`email_verified`), and, when GANTRY_OIDC_ALLOWED_DOMAINS is set, be of one of them.
 * The account itself is issuer + `sub`: an email can change hands, a subject id does not.
 */
export function personOf(claims: Claims, settings: SsoSettings): SsoPerson {
  const email = typeof claims.email === 'string' ? claims.email.trim() : '';
  if (!email.includes('@')) {
    throw new SsoRefusal('no_email', `${settings.name} gave no email address for this account; Gantry needs one (ask for the email scope: GANTRY_OIDC_SCOPES)`);
  }
  // Some providers send the boolean as a string.
  const verified = claims.email_verified === true || claims.email_verified === 'true';
  if (!verified) throw new SsoRefusal('email_unverified', `${settings.name} does not say that the email address ${email} is verified; verify it there, then sign in again`);
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  if (settings.allowedDomains.length > 0 && !settings.allowedDomains.includes(domain)) {
    throw new SsoRefusal('domain', `email addresses of ${domain} may not sign in to this Gantry (allowed: ${settings.allowedDomains.join(', ')})`);
  }
  return {
    account: { issuer: settings.issuer, subject: claims.sub, email },
    email,
    username: usernameFrom(claims, email),
    groups: groupsOf(claims[settings.groupsClaim]),
  };
}
