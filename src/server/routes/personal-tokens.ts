// Personal access tokens: a person's own bearer tokens for scripts and the CLI. A token acts as its
// user with the user's roles, narrowed to some projects and/or to reads (policy.ts); it stops when
// revoked, when it expires, and while its user is disabled. Like every token, shown once and
// stored as its SHA-256 only (src/server/tokens.ts). Made, listed and revoked by the user
// themself, or an admin.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ProjectId } from '../../domain/ids.js';
import type { ApiToken } from '../../store/store.js';
import type { User } from '../../store/users.js';
import { ApiError } from '../errors.js';
import { levelOn, may } from '../policy.js';
import { findProject, routeAccount } from '../route-access.js';
import { auditWhen } from '../audit.js';
import { errors } from '../schemas.js';
import { generateToken, hashToken } from '../tokens.js';
import type { RouteContext } from './context.js';
import { usernameParams } from './users.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const tokenSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    description: { type: 'string' },
    projects: { type: ['array', 'null'], items: { type: 'integer' }, description: 'the project ids it is narrowed to; null: every project its user may see' },
    readOnly: { type: 'boolean' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    expired: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['id', 'description', 'projects', 'readOnly', 'expiresAt', 'expired', 'createdAt', 'lastUsedAt'],
} as const;

export function personalTokenRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const tokenJson = (t: ApiToken) => ({
    id: t.id,
    description: t.description ?? '',
    projects: t.projects,
    readOnly: t.readOnly,
    expiresAt: iso(t.expiresAt),
    expired: t.expiresAt !== null && t.expiresAt <= ctx.now(),
    createdAt: iso(t.createdAt),
    lastUsedAt: iso(t.lastUsedAt),
  });

  // `:username` is found, and the caller checked (the user themself, or an admin), before the handler: route-access.ts.
  const ownerOf = (request: FastifyRequest): User => routeAccount(request);

  app.post(
    '/users/:username/tokens',
    {
      config: { access: 'own-account' },
      schema: {
        summary: 'Make a personal access token (the token is in this answer only)',
        description:
          "The token acts as the user, with the user's roles. projects (ids or names) narrows it to those projects; readOnly to " +
          'reads (GET); expiresAt ends it (past that: 401 GANTRY_E_TOKEN_EXPIRED). The user themself (signed in, not with another ' +
          'personal token) or an admin.',
        tags: ['users'],
        params: usernameParams,
        body: {
          type: 'object',
          properties: {
            description: { type: 'string', minLength: 1, maxLength: 255 },
            expiresAt: { type: 'string', format: 'date-time' },
            projects: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 100 }, minItems: 1, maxItems: 100 },
            readOnly: { type: 'boolean' },
          },
          required: ['description'],
          additionalProperties: false,
        },
        response: {
          201: { ...tokenSchema, properties: { ...tokenSchema.properties, token: { type: 'string' } }, required: [...tokenSchema.required, 'token'] },
          ...errors(400, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const owner = ownerOf(request);
      const principal = request.principal!;
      // A token that could make tokens could outlive its own expiry or shed its narrowing.
      if (principal.kind === 'user' && principal.via === 'token' && !may(principal, { kind: 'administer' })) {
        throw new ApiError('GANTRY_E_FORBIDDEN', 'a personal access token cannot make tokens: sign in to make one');
      }
      const body = request.body as { description: string; expiresAt?: string; projects?: string[]; readOnly?: boolean };
      const now = ctx.now();
      const expiresAt = body.expiresAt === undefined ? null : Date.parse(body.expiresAt);
      if (expiresAt !== null && !(expiresAt > now)) throw new ApiError('GANTRY_E_INVALID_REQUEST', 'body.expiresAt must be in the future', { field: 'body.expiresAt' });
      let projects: ProjectId[] | null = null;
      if (body.projects !== undefined) {
        const ids = new Set<ProjectId>();
        for (const param of body.projects) {
          const project = await findProject(ctx.store, param);
          // As everywhere: a project the caller may not see does not exist for it.
          if (!project || levelOn(principal, project.id) === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${JSON.stringify(param)}`, { field: 'body.projects' });
          ids.add(project.id);
        }
        projects = [...ids].sort((a, b) => a - b);
      }
      const token = generateToken('personal');
      const audit = auditWhen(request, now, () => true, (t: ApiToken) => ({
        action: 'token.create',
        projectId: null,
        target: { type: 'token', id: String(t.id) },
        details: { kind: 'personal', user: owner.username, description: body.description, projects, readOnly: body.readOnly ?? false, expiresAt },
      }));
      const stored = await ctx.store.users.createPersonalToken({
        hash: hashToken(token),
        userId: owner.id,
        description: body.description,
        projects,
        readOnly: body.readOnly ?? false,
        expiresAt,
        createdAt: now,
      }, audit);
      return reply.status(201).send({ ...tokenJson(stored), token });
    },
  );

  app.get(
    '/users/:username/tokens',
    {
      config: { access: 'own-account' },
      schema: {
        summary: "A user's personal access tokens, without their values (the user themself, or an admin)",
        tags: ['users'],
        params: usernameParams,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: tokenSchema } }, required: ['items'] }, ...errors(403, 404) },
      },
    },
    async (request) => {
      const owner = ownerOf(request);
      return { items: (await ctx.store.users.listPersonalTokens(owner.id)).map(tokenJson) };
    },
  );

  app.delete(
    '/users/:username/tokens/:id',
    {
      config: { access: 'own-account' },
      schema: {
        summary: 'Revoke a personal access token: it stops working at once',
        tags: ['users'],
        params: {
          type: 'object',
          properties: { ...usernameParams.properties, id: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' } },
          required: ['username', 'id'],
        },
        response: { 204: { type: 'null' }, ...errors(403, 404) },
      },
    },
    async (request, reply) => {
      const owner = ownerOf(request);
      const id = Number((request.params as { id: string }).id);
      const audit = auditWhen(request, ctx.now(), (gone: boolean) => gone, () => ({ action: 'token.revoke', projectId: null, target: { type: 'token', id: String(id) }, details: { kind: 'personal', user: owner.username } }));
      if (!(await ctx.store.users.deletePersonalToken(owner.id, id, audit))) throw new ApiError('GANTRY_E_NOT_FOUND', `${owner.username} has no personal access token ${id}`);
      return reply.status(204).send();
    },
  );
}
