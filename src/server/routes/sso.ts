// Single sign-on through an OpenID Connect provider (docs/SECURITY.md, "Single sign-on"): which
// ways to sign in there are, the start (the browser goes to the provider with a fresh state, nonce
// and PKCE challenge) and the callback (the provider's answer verified, the person let in or
// refused, their mapped roles brought up to date, the same session as a password sign-in).
// Start and callback are browser navigations: they answer with redirects, and a refusal with a
// small page of its own.

import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CookieSerializeOptions } from '@fastify/cookie';
import { isGantryError, type ErrorCode } from '../../domain/errors.js';
import type { ProjectId } from '../../domain/ids.js';
import type { Role } from '../../store/users.js';
import { auditEntry } from '../audit.js';
import { ApiError, httpStatusOf } from '../errors.js';
import { openSession, SESSION_COOKIE, type PeopleSettings } from '../sessions.js';
import { errors } from '../schemas.js';
import { hashToken } from '../tokens.js';
import type { OidcClient } from '../sso/oidc-client.js';
import { grantsFor, type SsoSettings } from '../sso/settings.js';
import { personOf, SsoRefusal } from '../sso/sign-in.js';
import type { RouteContext } from './context.js';
import { cookieOptions } from './session.js';

/** The browser's sign-in under way: a random id; the store keeps its SHA-256 with the flow. */
export const SSO_FLOW_COOKIE = 'gantry_sso';
const FLOW_PATH = '/api/v1/session/oidc';
/** Long enough to type a password and answer a second factor at the provider. */
export const SSO_FLOW_TTL_MS = 10 * 60_000;

export interface SsoContext {
  settings: SsoSettings;
  client: OidcClient;
  /** Where the provider sends the browser back (GANTRY_PUBLIC_URL's, else the bound address's). */
  redirectUri(): string;
}

/**
 * SameSite=Lax, not Strict as the session's: the provider's redirect back is a navigation that
 * another site starts, and Lax is what lets the browser send the cookie with it (a GET, top level).
 * It holds no power by itself: only the browser that started the sign-in has it, so a callback
 * URL that someone else's sign-in produced (login CSRF) finds no flow here.
 */
function flowCookieOptions(request: FastifyRequest, maxAgeSeconds?: number): CookieSerializeOptions {
  return { path: FLOW_PATH, httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', ...(maxAgeSeconds === undefined ? {} : { maxAge: maxAgeSeconds }) };
}

/** A path of this server to go to after signing in; anything else (another site, `//host`) is `/`. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\') && next.length <= 2048 ? next : '/';
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page a browser gets when single sign-on stops: what happened in words, the code, a way back. */
function refusalPage(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  const title = code === 'GANTRY_E_SSO_REFUSED' ? 'Sign-in refused' : 'Sign-in did not complete';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Gantry</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}code{font-size:.85em;color:#57606a}a{color:#0969da}</style>
</head><body><main>
<h1>${title}</h1>
<p role="alert">${escapeHtml(message)}</p>
<p><code>${code}</code></p>
<p><a href="/login">Back to sign-in</a></p>
</main></body></html>
`;
  return reply
    .status(httpStatusOf(code))
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    .header('cache-control', 'no-store')
    .send(html);
}

/** Errors of a navigation become a page; anything unexpected goes to the usual handler (500, logged). */
function asPage(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  if (!isGantryError(err) || err.code === 'GANTRY_E_STORE') throw err;
  const status = httpStatusOf(err.code);
  if (status >= 500) request.log.error({ err }, `${err.code}: ${err.message}`);
  else request.log.info({ code: err.code }, `single sign-on: ${err.message}`);
  return refusalPage(reply, err.code, err.message);
}

const notConfigured = () => new ApiError('GANTRY_E_NOT_FOUND', 'single sign-on is not configured on this server (GANTRY_OIDC_ISSUER)');

const pageResponses = {
  302: { type: 'null', description: 'to the provider (start) or to the web UI (callback)' },
  303: { type: 'null', description: 'to the web UI, signed in' },
} as const;

export function ssoRoutes(app: FastifyInstance, ctx: RouteContext & { people: PeopleSettings; sso: SsoContext | null }): void {
  app.get(
    '/session/methods',
    {
      config: { public: true },
      schema: {
        summary: 'How people may sign in here: always a password; single sign-on when a provider is configured',
        tags: ['session'],
        security: [],
        response: {
          200: {
            type: 'object',
            properties: {
              password: { type: 'boolean' },
              sso: {
                type: ['object', 'null'],
                properties: { name: { type: 'string' }, start: { type: 'string', description: 'open it in the browser, with ?next=PATH to come back to' } },
                required: ['name', 'start'],
              },
            },
            required: ['password', 'sso'],
          },
        },
      },
    },
    async () => ({ password: true, sso: ctx.sso ? { name: ctx.sso.settings.name, start: `${FLOW_PATH}/start` } : null }),
  );

  app.get(
    '/session/oidc/start',
    {
      config: { public: true, routeClass: 'sign-in' },
      schema: {
        summary: 'Start a single sign-on: a redirect to the provider, and a short-lived cookie that binds the sign-in to this browser',
        description:
          'A browser navigation. `next`: the path of this server to land on once signed in. 404 when single sign-on is not configured; ' +
          '502 GANTRY_E_SSO_UNAVAILABLE (an HTML page) when the provider cannot be reached.',
        tags: ['session'],
        security: [],
        querystring: { type: 'object', properties: { next: { type: 'string', maxLength: 2048 } } },
        response: { ...pageResponses, ...errors(404, 502) },
      },
    },
    async (request, reply) => {
      const sso = ctx.sso;
      if (!sso) throw notConfigured();
      const now = ctx.now();
      try {
        const { secrets, url } = await sso.client.begin(sso.redirectUri());
        // A sign-in this browser had under way is replaced: one at a time per browser.
        const old = request.cookies[SSO_FLOW_COOKIE];
        if (old) await ctx.store.sso.takeFlow(hashToken(old), now);
        const id = crypto.randomBytes(32).toString('base64url');
        const next = safeNext((request.query as { next?: string }).next);
        await ctx.store.sso.createFlow({ hash: hashToken(id), ...secrets, next, createdAt: now, expiresAt: now + SSO_FLOW_TTL_MS });
        reply.setCookie(SSO_FLOW_COOKIE, id, flowCookieOptions(request, SSO_FLOW_TTL_MS / 1000));
        return reply.header('cache-control', 'no-store').redirect(url, 302);
      } catch (err) {
        return asPage(request, reply, err);
      }
    },
  );

  app.get(
    '/session/oidc/callback',
    {
      config: { public: true, routeClass: 'sign-in' },
      schema: {
        summary: "The provider's answer: verified, then a session cookie as POST /session gives and a redirect into the web UI",
        description:
          'A browser navigation, only with the cookie GET /session/oidc/start set, once. A missing, expired or used sign-in, a state ' +
          "that is not the sign-in's, the provider's error or a token that does not verify: 400 GANTRY_E_SSO_FAILED; an email not " +
          'verified or of a domain not allowed, or a disabled user: 403 GANTRY_E_SSO_REFUSED (each an HTML page).',
        tags: ['session'],
        security: [],
        // The provider's parameters (code, state, iss, session_state, error, ...) are read by openid-client.
        querystring: { type: 'object', additionalProperties: { type: 'string' } },
        response: { ...pageResponses, ...errors(400, 403, 404, 502) },
      },
    },
    async (request, reply) => {
      const sso = ctx.sso;
      if (!sso) throw notConfigured();
      const now = ctx.now();
      const cookie = request.cookies[SSO_FLOW_COOKIE];
      // Whatever happens next, this sign-in is over for the browser.
      reply.clearCookie(SSO_FLOW_COOKIE, flowCookieOptions(request));
      try {
        const flow = cookie ? await ctx.store.sso.takeFlow(hashToken(cookie), now) : null;
        if (!flow) throw new ApiError('GANTRY_E_SSO_FAILED', 'no sign-in is under way in this browser (it expired, was used already, or was started elsewhere): sign in again');
        const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
        const claims = await sso.client.complete(sso.redirectUri(), query, flow);
        return await signIn(request, reply, ctx, sso.settings, claims, now, flow.next);
      } catch (err) {
        return asPage(request, reply, err);
      }
    },
  );
}

/** The person the claims name, in or refused; their mapped roles applied; a session. */
async function signIn(
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: RouteContext & { people: PeopleSettings },
  settings: SsoSettings,
  claims: Parameters<typeof personOf>[0],
  now: number,
  next: string,
): Promise<FastifyReply> {
  const refused = async (err: SsoRefusal, username: string | null, email: string | null) => {
    // Recorded on its own, as a failed password sign-in is; only after the provider vouched for
    // someone (a valid code), so nobody fills the log by calling the callback.
    const domain = email?.slice(email.lastIndexOf('@') + 1).toLowerCase() ?? null;
    await ctx.store.audit.record(
      auditEntry(
        request,
        now,
        { action: 'sign_in.failure', projectId: null, target: { type: 'user', id: username }, details: { method: 'oidc', issuer: settings.issuer, reason: err.reason, ...(domain ? { emailDomain: domain } : {}) } },
        { kind: 'anonymous' },
      ),
    );
    return err;
  };
  let person: ReturnType<typeof personOf>;
  try {
    person = personOf(claims, settings);
  } catch (err) {
    throw err instanceof SsoRefusal ? await refused(err, null, typeof claims.email === 'string' ? claims.email : null) : err;
  }
  const { user, created } = await ctx.store.sso.linkedUser(person.account, person.username, now, (u) =>
    auditEntry(request, now, { action: 'user.create', projectId: null, target: { type: 'user', id: u.username }, details: { method: 'oidc', issuer: settings.issuer, admin: false } }, { kind: 'user', userId: u.id, username: u.username, via: 'session' }),
  );
  if (user.disabled) throw await refused(new SsoRefusal('disabled', `the Gantry account ${user.username} is disabled; ask an admin`), user.username, person.email);

  // The mapping by project name; a project it names that does not exist (yet) gives nothing.
  const wanted = grantsFor(settings.roleMap, person.groups);
  const roles = new Map<ProjectId, Role>();
  const names = new Map<ProjectId, string>();
  for (const [name, role] of wanted.projects) {
    const project = await ctx.store.getProject(name);
    if (project) {
      roles.set(project.id, role);
      names.set(project.id, project.name);
    } else request.log.warn({ project: name }, 'GANTRY_OIDC_ROLE_MAP names a project that does not exist');
  }
  const changes = await ctx.store.sso.applyGrants(user.id, { admin: wanted.admin, roles }, now);
  const nameOf = async (id: ProjectId) => names.get(id) ?? (await ctx.store.getProject(id))?.name ?? String(id);
  const details: Record<string, unknown> = { method: 'oidc', issuer: settings.issuer, ...(created ? { created: true } : {}) };
  if (changes.admin) details.admin = changes.admin;
  if (changes.set.length > 0) details.rolesSet = await Promise.all(changes.set.map(async (s) => ({ project: await nameOf(s.projectId), role: s.role })));
  if (changes.removed.length > 0) details.rolesRemoved = await Promise.all(changes.removed.map(nameOf));

  const actor = { kind: 'user', userId: user.id, username: user.username, via: 'session' } as const;
  const session = await openSession(ctx.store, ctx.people, user, now, () =>
    auditEntry(request, now, { action: 'sign_in.success', projectId: null, target: { type: 'user', id: user.username }, details }, actor),
  );
  reply.setCookie(SESSION_COOKIE, session.id, cookieOptions(request, Math.floor(ctx.people.sessionTtlMs / 1000)));
  // The UI asks GET /session for the CSRF token (and its cookie) as after any page load.
  return reply.header('cache-control', 'no-store').redirect(next, 303);
}

