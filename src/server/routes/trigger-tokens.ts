// Trigger tokens: a project's tokens for other systems' CI, which start pipelines of that project
// through `POST /projects/:project/trigger` (CI_PIPELINE_SOURCE=trigger) and can do nothing else.
// Like every token, shown once and stored as its SHA-256 only (src/server/tokens.ts).

import type { FastifyInstance } from 'fastify';
import { asProjectId } from '../../domain/ids.js';
import { tokenName } from '../../domain/triggered-by.js';
import type { ApiToken } from '../../store/store.js';
import { pipelineJson } from '../../views/pipeline-json.js';
import { ApiError } from '../errors.js';
import { errors, pipelineSchema, projectParams, refSchema, variableKeySchema } from '../schemas.js';
import { generateToken, hashToken } from '../tokens.js';
import { triggerPipeline } from '../trigger.js';
import type { RouteContext } from './context.js';
import { routeProject } from '../route-access.js';
import { auditWhen } from '../audit.js';
import { acceptTriggerForms, TRIGGER_FORM_LIMIT } from './trigger-form.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Authenticated by the route itself with a project's trigger token (body or bearer). */
    triggerToken?: boolean;
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const tokenJson = (t: ApiToken) => ({ id: t.id, description: t.description, createdAt: iso(t.createdAt), lastUsedAt: iso(t.lastUsedAt) });
const tokenSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    description: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['id', 'description', 'createdAt', 'lastUsedAt'],
} as const;

const TOUCH_INTERVAL_MS = 60_000;

export function triggerTokenRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post(
    '/projects/:project/trigger-tokens',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Create a trigger token (the token is in this answer only)',
        tags: ['trigger tokens'],
        params: projectParams,
        body: { type: 'object', properties: { description: { type: 'string', maxLength: 255 } }, additionalProperties: false },
        response: { 201: { ...tokenSchema, properties: { ...tokenSchema.properties, token: { type: 'string' } }, required: [...tokenSchema.required, 'token'] }, ...errors(400, 403, 404) },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const description = (request.body as { description?: string } | undefined)?.description ?? null;
      const token = generateToken('trigger');
      const at = ctx.now();
      // The new token's id and kind, never the token.
      const audit = auditWhen(request, at, () => true, (t: ApiToken) => ({ action: 'token.create', projectId: project.id, target: { type: 'token', id: String(t.id) }, details: { kind: 'trigger', description } }));
      const stored = await ctx.store.createTriggerToken(project.id, hashToken(token), description, at, audit);
      return reply.status(201).send({ ...tokenJson(stored), token });
    },
  );

  app.get(
    '/projects/:project/trigger-tokens',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "A project's trigger tokens, without their values",
        tags: ['trigger tokens'],
        params: projectParams,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: tokenSchema } }, required: ['items'] }, ...errors(403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      return { items: (await ctx.store.listTriggerTokens(project.id)).map(tokenJson) };
    },
  );

  app.delete(
    '/projects/:project/trigger-tokens/:id',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Revoke a trigger token',
        tags: ['trigger tokens'],
        params: {
          type: 'object',
          properties: { ...projectParams.properties, id: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' } },
          required: ['project', 'id'],
        },
        response: { 204: { type: 'null' }, ...errors(403, 404) },
      },
    },
    async (request, reply) => {
      const params = request.params as { project: string; id: string };
      const project = routeProject(request);
      const audit = auditWhen(request, ctx.now(), (gone: boolean) => gone, () => ({ action: 'token.revoke', projectId: project.id, target: { type: 'token', id: params.id }, details: { kind: 'trigger' } }));
      if (!(await ctx.store.deleteTriggerToken(project.id, Number(params.id), audit))) {
        throw new ApiError('GANTRY_E_NOT_FOUND', `project ${project.name} has no trigger token ${params.id}`);
      }
      return reply.status(204).send();
    },
  );

  // In a scope of its own: only this route reads forms (GitLab's trigger API), see trigger-form.ts.
  app.register(async (scope) => {
    await acceptTriggerForms(scope);
    scope.post(
      '/projects/:project/trigger',
      {
        config: { triggerToken: true, streamedBody: { limit: TRIGGER_FORM_LIMIT } },
        schema: {
          summary: 'Start a pipeline with a trigger token (CI_PIPELINE_SOURCE=trigger)',
          description:
            "The token goes in the body (`token`, as GitLab's trigger API) or as `Authorization: Bearer`. The body is JSON, or GitLab's form " +
            '(multipart or URL-encoded fields token, ref and variables[KEY]). Only a trigger token of this ' +
            'project is accepted. An Idempotency-Key header works as on POST /projects/:project/pipelines.',
          tags: ['trigger tokens'],
          params: projectParams,
          headers: {
            type: 'object',
            properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' } },
          },
          body: {
            type: 'object',
            properties: {
              token: { type: 'string', minLength: 1, maxLength: 200 },
              ref: refSchema,
              variables: { type: 'object', propertyNames: variableKeySchema, additionalProperties: { type: 'string', maxLength: 65536 }, maxProperties: 200 },
            },
            required: ['ref'],
            additionalProperties: false,
          },
          response: { 200: pipelineSchema, 201: pipelineSchema, ...errors(400, 403, 404, 409, 422, 502) },
        },
      },
      async (request, reply) => {
        const body = request.body as { token?: string; ref: string; variables?: Record<string, string> };
        const header = request.headers.authorization;
        const bearer = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
        const given = body.token ?? bearer;
        if (given === undefined) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'send the trigger token as "token" in the body or as Authorization: Bearer');
        const token = await ctx.store.findToken(hashToken(given));
        if (!token || token.kind !== 'trigger') throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'unknown trigger token');
        // The project is looked up after the token, so an unknown caller learns nothing about names.
        const param = (request.params as { project: string }).project;
        const project = await ctx.store.getProject(/^[0-9]+$/.test(param) ? asProjectId(Number(param)) : param);
        if (!project || project.id !== token.projectId) throw new ApiError('GANTRY_E_FORBIDDEN', 'this trigger token belongs to another project');
        await ctx.store.touchToken(token.id, ctx.now(), TOUCH_INTERVAL_MS);
        const key = request.headers['idempotency-key'];
        const result = await triggerPipeline(
          { store: ctx.store, mirrors: ctx.mirrors, now: ctx.now, settings: ctx.settings, onCreated: () => ctx.metrics.pipelinesCreated.inc() },
          project,
          { ref: body.ref, ...(body.variables ? { variables: body.variables } : {}), source: 'trigger' },
          typeof key === 'string' ? key : null,
          { kind: 'trigger_token', tokenId: token.id, name: tokenName('trigger', token.id, token.description) },
        );
        if (result.replayed) reply.header('idempotent-replayed', 'true');
        reply.header('location', `/api/v1/pipelines/${result.pipeline.pipeline.id}`);
        return reply.status(result.replayed ? 200 : 201).send(pipelineJson(result.pipeline));
      },
    );
  });
}
