// Single sign-on's settings, checked once when the server starts: GANTRY_OIDC_* as config.ts read
// them become one typed SsoSettings, or the start stops with GANTRY_E_SSO_CONFIG naming the
// variable and what is wrong. docs/RUNNING.md, "Single sign-on", is the reference of each.

import fs from 'node:fs';
import type { OidcEnv } from '../../config/config.js';
import { GantryError } from '../../domain/errors.js';
import { ROLES, type Role } from '../../store/users.js';

/** What one group of the provider gives: instance admin, and roles by project name. */
export interface GroupGrants {
  admin: boolean;
  projects: ReadonlyMap<string, Role>;
}

/** GANTRY_OIDC_ROLE_MAP parsed: group name (exact, case-sensitive, as the provider sends it) → grants. */
export type RoleMap = ReadonlyMap<string, GroupGrants>;

export interface SsoSettings {
  /** The issuer URL as configured; the ID token's `iss` must be exactly the discovery document's `issuer`. */
  issuer: string;
  clientId: string;
  /** Null: a public client, authenticated by PKCE alone. */
  clientSecret: string | null;
  /** "Sign in with NAME". */
  name: string;
  /** Always with `openid`. */
  scopes: readonly string[];
  /** Lowercase email domains a person may have; empty: any. */
  allowedDomains: readonly string[];
  groupsClaim: string;
  roleMap: RoleMap;
  /** GANTRY_PUBLIC_URL + /api/v1/session/oidc/callback; null: the URL the server is bound at (tests). */
  redirectUri: string | null;
  /** Plain http to the provider: only for a provider on a loopback address (the same machine). */
  allowInsecureRequests: boolean;
}

const DEFAULT_SCOPES = ['openid', 'email', 'profile'];
const PROJECT_NAME = /^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
export const CALLBACK_PATH = '/api/v1/session/oidc/callback';

function configError(variable: string, message: string): GantryError {
  return new GantryError('GANTRY_E_SSO_CONFIG', `${variable}: ${message}`);
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * GANTRY_OIDC_ROLE_MAP: entries separated by `;`, each `GROUP=GRANT[,GRANT...]`, a GRANT being
 * `admin` (instance admin) or `PROJECT:ROLE` (viewer, developer, maintainer). The group is
 * everything before the entry's last `=`, so a group path with `/` (GitLab's `org/team`,
 * Keycloak's `/team-a`) is written as it is. Spaces around the parts are ignored; a group named
 * in two entries gets both. Several grants for one project keep the highest role.
 *
 *   admins=admin;team-a=alpha:maintainer,beta:developer;/ops=alpha:viewer
 */
export function parseRoleMap(text: string, variable = 'GANTRY_OIDC_ROLE_MAP'): RoleMap {
  const map = new Map<string, { admin: boolean; projects: Map<string, Role> }>();
  const example = 'write GROUP=GRANT,GRANT;GROUP=... where a GRANT is admin or PROJECT:ROLE, e.g. admins=admin;team-a=alpha:maintainer,beta:developer';
  text.split(';').forEach((raw, i) => {
    const entry = raw.trim();
    if (entry === '') return;
    const at = entry.lastIndexOf('=');
    const group = at < 0 ? '' : entry.slice(0, at).trim();
    const grants = at < 0 ? '' : entry.slice(at + 1).trim();
    if (group === '' || grants === '') throw configError(variable, `entry ${i + 1} (${JSON.stringify(entry)}) is not GROUP=GRANTS; ${example}`);
    const into = map.get(group) ?? { admin: false, projects: new Map<string, Role>() };
    for (const g of grants.split(',').map((x) => x.trim())) {
      if (g === 'admin') {
        into.admin = true;
        continue;
      }
      const colon = g.lastIndexOf(':');
      const project = colon < 0 ? '' : g.slice(0, colon).trim();
      const role = colon < 0 ? '' : g.slice(colon + 1).trim();
      if (project === '' || role === '') throw configError(variable, `group ${JSON.stringify(group)}: ${JSON.stringify(g)} is neither admin nor PROJECT:ROLE; ${example}`);
      if (!PROJECT_NAME.test(project)) throw configError(variable, `group ${JSON.stringify(group)}: ${JSON.stringify(project)} is not a project name`);
      if (!(ROLES as readonly string[]).includes(role)) throw configError(variable, `group ${JSON.stringify(group)}: ${JSON.stringify(role)} is not a role; a role is one of ${ROLES.join(', ')}`);
      into.projects.set(project, higher(into.projects.get(project), role as Role));
    }
    map.set(group, into);
  });
  return map;
}

function higher(a: Role | undefined, b: Role): Role {
  return a !== undefined && ROLES.indexOf(a) > ROLES.indexOf(b) ? a : b;
}

/** What a person in `groups` is given: admin if any group gives it, each project's highest role. */
export function grantsFor(map: RoleMap, groups: readonly string[]): GroupGrants {
  let admin = false;
  const projects = new Map<string, Role>();
  for (const group of new Set(groups)) {
    const g = map.get(group);
    if (!g) continue;
    admin ||= g.admin;
    for (const [project, role] of g.projects) projects.set(project, higher(projects.get(project), role));
  }
  return { admin, projects };
}

/**
 * The settings from the environment, or GANTRY_E_SSO_CONFIG. `publicUrl` is GANTRY_PUBLIC_URL: the
 * provider sends people back to it, so it is required (`boundFallback` lets in-process tests use
 * the bound address instead).
 */
export function ssoSettingsFrom(env: OidcEnv, publicUrl: string | null, opts: { boundFallback?: boolean; readFile?: (p: string) => string } = {}): SsoSettings {
  let issuer: URL;
  try {
    issuer = new URL(env.issuer);
  } catch {
    throw configError('GANTRY_OIDC_ISSUER', `${JSON.stringify(env.issuer)} is not a URL (the provider's issuer, e.g. https://keycloak.example.com/realms/main)`);
  }
  if (issuer.search || issuer.hash) throw configError('GANTRY_OIDC_ISSUER', 'an issuer has no query or fragment');
  const insecure = issuer.protocol === 'http:';
  if (issuer.protocol !== 'https:' && !(insecure && isLoopback(issuer.hostname))) {
    throw configError('GANTRY_OIDC_ISSUER', `must be an https URL (plain http only for a provider on a loopback address), got ${JSON.stringify(env.issuer)}`);
  }
  if (!env.clientId) throw configError('GANTRY_OIDC_CLIENT_ID', 'is required with GANTRY_OIDC_ISSUER: the client id the provider gave Gantry');
  if (env.clientSecret && env.clientSecretFile) throw configError('GANTRY_OIDC_CLIENT_SECRET_FILE', 'give the client secret or a file holding it, not both');
  let clientSecret = env.clientSecret;
  if (env.clientSecretFile) {
    try {
      clientSecret = (opts.readFile ?? ((p) => fs.readFileSync(p, 'utf8')))(env.clientSecretFile).trim();
    } catch (err) {
      throw configError('GANTRY_OIDC_CLIENT_SECRET_FILE', `cannot read ${env.clientSecretFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!clientSecret) throw configError('GANTRY_OIDC_CLIENT_SECRET_FILE', `${env.clientSecretFile} is empty`);
  }
  let redirectUri: string | null = null;
  if (publicUrl) {
    let base: URL;
    try {
      base = new URL(publicUrl);
    } catch {
      throw configError('GANTRY_PUBLIC_URL', `${JSON.stringify(publicUrl)} is not a URL`);
    }
    redirectUri = `${base.origin}${base.pathname.replace(/\/+$/, '')}${CALLBACK_PATH}`;
  } else if (!opts.boundFallback) {
    throw configError('GANTRY_PUBLIC_URL', 'single sign-on needs it: the provider sends people back to GANTRY_PUBLIC_URL/api/v1/session/oidc/callback');
  }
  const allowedDomains = (env.allowedDomains ?? '')
    .split(',')
    .map((d) => d.trim().toLowerCase().replace(/^@/, ''))
    .filter(Boolean);
  for (const d of allowedDomains) {
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(d)) throw configError('GANTRY_OIDC_ALLOWED_DOMAINS', `${JSON.stringify(d)} is not an email domain (write example.com, comma-separated)`);
  }
  const scopes = ['openid', ...(env.scopes ? env.scopes.split(/[\s,]+/).filter(Boolean) : DEFAULT_SCOPES.slice(1))];
  const groupsClaim = env.groupsClaim ?? 'groups';
  return {
    issuer: env.issuer,
    clientId: env.clientId,
    clientSecret: clientSecret || null,
    name: env.name ?? issuer.host,
    scopes: [...new Set(scopes)],
    allowedDomains,
    groupsClaim,
    roleMap: env.roleMap ? parseRoleMap(env.roleMap) : new Map(),
    redirectUri,
    allowInsecureRequests: insecure,
  };
}
