// The web UI's session: sign in with a username and password (a cookie and a CSRF token back), see
// who is signed in, sign out (the session row is deleted, so the cookie is worthless from then on).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CookieSerializeOptions } from '@fastify/cookie';
import { errors } from '../schemas.js';
import { MAX_PASSWORD_LENGTH } from '../passwords.js';
import { checkPassword, CSRF_COOKIE, openSession, SESSION_COOKIE, type PeopleSettings } from '../sessions.js';
import type { RouteContext } from './context.js';
import { ROLES } from '../../store/users.js';
import { ApiError } from '../errors.js';
import { auditEntry, auditWhen } from '../audit.js';

const identitySchema = {
  type: 'object',
  properties: { id: { type: 'integer' }, username: { type: 'string' }, admin: { type: 'boolean' } },
  required: ['id', 'username', 'admin'],
} as const;

const sessionSchema = {
  type: 'object',
  description:
    'kind user: a person, with their roles by project; signed in by session cookie (csrfToken: send it as X-CSRF-Token with ' +
    'every write, expiresAt), or by a personal access token (token: its id, readOnly, projects, expiresAt). ' +
    'kind admin-token or project-token (projectId: null for every project): the request came with such a bearer token.',
  properties: {
    kind: { type: 'string', enum: ['user', 'admin-token', 'project-token'] },
    user: identitySchema,
    roles: {
      type: 'array',
      items: { type: 'object', properties: { projectId: { type: 'integer' }, role: { type: 'string', enum: [...ROLES] } }, required: ['projectId', 'role'] },
    },
    csrfToken: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time' },
    token: {
      type: 'object',
      properties: {
        id: { type: 'integer' },
        readOnly: { type: 'boolean' },
        projects: { type: ['array', 'null'], items: { type: 'integer' } },
        expiresAt: { type: ['string', 'null'], format: 'date-time' },
      },
      required: ['id', 'readOnly', 'projects', 'expiresAt'],
    },
    projectId: { type: ['integer', 'null'] },
  },
  required: ['kind'],
} as const;

/**
 * HttpOnly: no script reads it, so an injected one cannot carry it off. SameSite=Strict: a browser
 * sends it with requests that pages of this server make, never with a request another site starts
 * (a link, a form, an image); the UI's pages themselves need no cookie, only its API calls, which
 * are same-site. Secure when the request came over https (as the proxies GANTRY_TRUST_PROXY trusts
 * say), so it is never sent in clear once it was set over TLS.
 */
export function cookieOptions(request: FastifyRequest, maxAgeSeconds?: number): CookieSerializeOptions {
  return { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https', ...(maxAgeSeconds === undefined ? {} : { maxAge: maxAgeSeconds }) };
}

function clearCookies(request: FastifyRequest, reply: FastifyReply): void {
  for (const name of [SESSION_COOKIE, CSRF_COOKIE]) reply.clearCookie(name, cookieOptions(request));
}

export function sessionRoutes(app: FastifyInstance, ctx: RouteContext & { people: PeopleSettings }): void {
  app.post(
    '/session',
    {
      config: { public: true, routeClass: 'sign-in' },
      schema: {
        summary: 'Sign in: a session cookie (HttpOnly, SameSite=Strict) and the CSRF token for writes',
        description:
          'A wrong password, an unknown user and a disabled one get the same 401. Failed sign-ins are limited per user ' +
          'and per address (429 with Retry-After).',
        tags: ['session'],
        security: [],
        body: {
          type: 'object',
          properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH } },
          required: ['username', 'password'],
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', properties: { user: identitySchema, csrfToken: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } }, required: ['user', 'csrfToken', 'expiresAt'] },
          ...errors(400, 401, 429),
        },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body as { username: string; password: string };
      const now = ctx.now();
      let user: Awaited<ReturnType<typeof checkPassword>>;
      try {
        user = await checkPassword(ctx.store, ctx.people, username, password, request.ip, now);
      } catch (err) {
        // A failure is recorded on its own (there is no change to go with it). The name tried is
        // kept only when it is a user's: a password typed into the username field stays out.
        if (err instanceof ApiError && err.code === 'GANTRY_E_SIGN_IN_FAILED') {
          const known = await ctx.store.users.getUser(username.toLowerCase());
          await ctx.store.audit.record(
            auditEntry(request, now, { action: 'sign_in.failure', projectId: null, target: { type: 'user', id: known ? known.username : null }, details: known ? null : { unknownUser: true } }, { kind: 'anonymous' }),
          );
        }
        throw err;
      }
      const actor = { kind: 'user', userId: user.id, username: user.username, via: 'session' } as const;
      const session = await openSession(ctx.store, ctx.people, user, now, () =>
        auditEntry(request, now, { action: 'sign_in.success', projectId: null, target: { type: 'user', id: user.username } }, actor),
      );
      const maxAge = Math.floor(ctx.people.sessionTtlMs / 1000);
      reply.setCookie(SESSION_COOKIE, session.id, cookieOptions(request, maxAge));
      // The CSRF secret's cookie is made here if the browser has none; the token is bound to this session.
      const csrfToken = reply.generateCsrf({ ...cookieOptions(request, maxAge), userInfo: session.hash });
      return { user: { id: user.id, username: user.username, admin: user.admin }, csrfToken, expiresAt: new Date(session.expiresAt).toISOString() };
    },
  );

  app.get(
    '/session',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: 'Who is calling: the signed-in user (with a fresh CSRF token), or the kind of token',
        tags: ['session'],
        response: { 200: sessionSchema, ...errors(401) },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      if (p.kind === 'admin-token') return { kind: p.kind };
      if (p.kind === 'project-token') return { kind: p.kind, projectId: p.projectId };
      const user = { id: p.user.id, username: p.user.username, admin: p.user.admin };
      const roles = [...p.roles].map(([projectId, role]) => ({ projectId, role }));
      if (p.via === 'token') {
        const token = { id: p.tokenId, readOnly: p.readOnly, projects: p.projects === null ? null : [...p.projects], expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt).toISOString() };
        return { kind: p.kind, user, roles, token };
      }
      const maxAge = Math.max(1, Math.floor((p.expiresAt - ctx.now()) / 1000));
      return {
        kind: p.kind,
        user,
        roles,
        // A page reloaded has lost the token it had; this gives it one again.
        csrfToken: reply.generateCsrf({ ...cookieOptions(request, maxAge), userInfo: p.sessionHash }),
        expiresAt: new Date(p.expiresAt).toISOString(),
      };
    },
  );

  app.delete(
    '/session',
    {
      config: { access: 'own-account' },
      schema: {
        summary: 'Sign out: the session is deleted on the server, its cookie no longer works',
        tags: ['session'],
        response: { 204: { type: 'null' }, ...errors(401, 403) },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      if (p.kind === 'user' && p.via === 'session') {
        await ctx.store.users.deleteSession(p.sessionHash, auditWhen(request, ctx.now(), (gone: boolean) => gone, () => ({ action: 'sign_out', projectId: null, target: { type: 'session', id: null } })));
      }
      clearCookies(request, reply);
      return reply.status(204).send();
    },
  );
}
