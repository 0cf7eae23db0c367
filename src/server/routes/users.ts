// Local user accounts: made and listed by admins; changed by admins, or by the user for their own
// password. A password goes in and never comes out: only its scrypt hash is stored
// (src/server/passwords.ts), and no answer carries it.

import type { FastifyInstance } from 'fastify';
import type { User, UserPatch } from '../../store/users.js';
import { ApiError } from '../errors.js';
import { checkPasswordPolicy, hashPassword, MAX_PASSWORD_LENGTH } from '../passwords.js';
import { requireAction } from '../auth.js';
import { errors } from '../schemas.js';
import { checkPassword, USERNAME_PATTERN, type PeopleSettings } from '../sessions.js';
import type { RouteContext } from './context.js';
import { routeAccount } from '../route-access.js';
import { auditWhen } from '../audit.js';

const iso = (ms: number) => new Date(ms).toISOString();

export const userJson = (u: User) => ({ id: u.id, username: u.username, admin: u.admin, disabled: u.disabled, createdAt: iso(u.createdAt) });

export const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    username: { type: 'string' },
    admin: { type: 'boolean' },
    disabled: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'username', 'admin', 'disabled', 'createdAt'],
} as const;

export const usernameSchema = { type: 'string', pattern: USERNAME_PATTERN, description: 'lowercase letters, digits, ".", "_", "-"; 1 to 64, starting with a letter or digit' } as const;
const passwordSchema = { type: 'string', maxLength: MAX_PASSWORD_LENGTH, description: 'at least 12 characters' } as const;
export const usernameParams = { type: 'object', properties: { username: usernameSchema }, required: ['username'] } as const;

export function userRoutes(app: FastifyInstance, ctx: RouteContext & { people: PeopleSettings }): void {
  app.post(
    '/users',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Create a user (admin)',
        tags: ['users'],
        body: {
          type: 'object',
          properties: { username: usernameSchema, password: passwordSchema, admin: { type: 'boolean' } },
          required: ['username', 'password'],
          additionalProperties: false,
        },
        response: { 201: userSchema, ...errors(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body as { username: string; password: string; admin?: boolean };
      checkPasswordPolicy(body.password);
      const at = ctx.now();
      // Never the password, nor its hash.
      const audit = auditWhen(request, at, (u: User | null) => u !== null, () => ({ action: 'user.create', projectId: null, target: { type: 'user', id: body.username }, details: { admin: body.admin ?? false } }));
      const made = await ctx.store.users.createUser({ username: body.username, passwordHash: await hashPassword(body.password), admin: body.admin ?? false, createdAt: at }, audit);
      if (!made) throw new ApiError('GANTRY_E_CONFLICT', `a user named ${JSON.stringify(body.username)} exists`);
      return reply.status(201).header('location', `/api/v1/users/${made.username}`).send(userJson(made));
    },
  );

  app.get(
    '/users',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'List users, oldest first (admin)',
        tags: ['users'],
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: userSchema } }, required: ['items'] }, ...errors(401, 403) },
      },
    },
    async () => ({ items: (await ctx.store.users.listUsers()).map(userJson) }),
  );

  app.patch(
    '/users/:username',
    {
      // The account is checked before the handler (themself, or an admin); the handler asks about each field.
      config: { access: 'own-account' },
      schema: {
        summary: 'Change a user: admin and disabled (admin), password (admin, or the user themselves)',
        description:
          'disabled: true ends every session of the user at once and refuses its sign-ins. A new password ends the ' +
          "user's other sessions. A user changing their own password (by session or personal token) gives currentPassword too.",
        tags: ['users'],
        params: usernameParams,
        body: {
          type: 'object',
          properties: { disabled: { type: 'boolean' }, admin: { type: 'boolean' }, password: passwordSchema, currentPassword: passwordSchema },
          additionalProperties: false,
          minProperties: 1,
        },
        response: { 200: userSchema, ...errors(400, 401, 403, 404, 422, 429) },
      },
    },
    async (request) => {
      const { username } = request.params as { username: string };
      const body = request.body as { disabled?: boolean; admin?: boolean; password?: string; currentPassword?: string };
      const principal = request.principal!;
      // Found, and the caller checked (the user themself, or an admin), before validation: route-access.ts.
      const target = routeAccount(request);
      if (body.admin !== undefined || body.disabled !== undefined) requireAction(request, { kind: 'administer' });
      const patch: UserPatch = {};
      if (body.admin !== undefined) patch.admin = body.admin;
      if (body.disabled !== undefined) patch.disabled = body.disabled;
      let keepSession: string | undefined;
      if (body.password !== undefined) {
        requireAction(request, { kind: 'own-account', userId: target.id });
        checkPasswordPolicy(body.password);
        // By session or by personal token: a session left open, or a token that leaked, must not be
        // enough to take the account over.
        const own = principal.kind === 'user' && principal.user.id === target.id;
        if (own) {
          if (body.currentPassword === undefined) throw new ApiError('GANTRY_E_INVALID_REQUEST', 'body.currentPassword is required to change your own password', { field: 'body.currentPassword' });
          try {
            await checkPassword(ctx.store, ctx.people, target.username, body.currentPassword, request.ip, ctx.now());
          } catch (err) {
            // Not 401: the session is fine, the UI must not take this for being signed out.
            if (err instanceof ApiError && err.code === 'GANTRY_E_SIGN_IN_FAILED') throw new ApiError('GANTRY_E_FORBIDDEN', 'body.currentPassword is wrong', { field: 'body.currentPassword' });
            throw err;
          }
          if (principal.via === 'session') keepSession = principal.sessionHash;
        }
        patch.passwordHash = await hashPassword(body.password);
      } else if (body.currentPassword !== undefined) {
        throw new ApiError('GANTRY_E_INVALID_REQUEST', 'body.currentPassword goes with body.password', { field: 'body.currentPassword' });
      }
      const at = ctx.now();
      // What changed, by name (`password: true`), never the password.
      const details = { ...(patch.admin === undefined ? {} : { admin: patch.admin }), ...(patch.disabled === undefined ? {} : { disabled: patch.disabled }), ...(patch.passwordHash === undefined ? {} : { password: true }) };
      const audit = auditWhen(request, at, (u: User | null) => u !== null, () => ({ action: 'user.update', projectId: null, target: { type: 'user', id: target.username }, details }));
      const updated = await ctx.store.users.updateUser(target.username, patch, at, keepSession, audit);
      if (!updated) throw new ApiError('GANTRY_E_NOT_FOUND', `no user ${JSON.stringify(username)}`);
      return userJson(updated);
    },
  );
}
