// Pipelines: trigger (with Idempotency-Key), list, read, cancel.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PipelineWithJobs } from '../../store/store.js';
import { asPipelineId } from '../../domain/ids.js';
import { PIPELINE_SOURCES, PIPELINE_STATUSES, type PipelineSource, type PipelineStatus } from '../../domain/status.js';
import { pipelineJson } from '../../views/pipeline-json.js';
import { callerAsTrigger } from '../auth.js';
import { cancelPipeline } from '../cancel.js';
import { ApiError } from '../errors.js';
import { digitsSchema, errors, idOf, idParams, limitSchema, numOrUndefined, pageOf, pipelineSchema, pipelineSummarySchema, projectParams, refSchema, variableKeySchema } from '../schemas.js';
import { triggerPipeline, type TriggerRequest } from '../trigger.js';
import { pipelineSummaryJson } from '../views.js';
import type { RouteContext } from './context.js';
import { routeProject, routeTarget } from '../route-access.js';
import { describePrincipal } from '../policy.js';
import { mayRunProtected, refuseOnProtectedPipeline } from '../protected-refs.js';
import { auditEntry, auditWhen } from '../audit.js';

/** The pipeline of `:id` with its jobs (the caller's role in its project is checked: route-access.ts). */
async function pipelineOf(ctx: RouteContext, request: FastifyRequest): Promise<PipelineWithJobs> {
  const id = routeTarget(request).pipeline!.id;
  const p = await ctx.store.getPipeline(id);
  if (!p) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${id}`);
  return p;
}

export function pipelineRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post(
    '/projects/:project/pipelines',
    {
      config: { access: 'developer' },
      schema: {
        summary: "Create a pipeline from a ref of the project's repository",
        description:
          'Resolves the ref (fetching the mirror), compiles the pipeline file of that commit and stores the pipeline with all ' +
          'its jobs. With an Idempotency-Key header, the same key and body return the original pipeline (200, ' +
          'Idempotent-Replayed: true) and the same key with another body is refused (409). A protected ref needs maintainer ' +
          '(403 GANTRY_E_PROTECTED_REF).',
        tags: ['pipelines'],
        params: projectParams,
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' } },
        },
        body: {
          type: 'object',
          properties: {
            ref: refSchema,
            sha: { type: 'string', pattern: '^[0-9a-fA-F]{7,64}$' },
            variables: {
              type: 'object',
              propertyNames: variableKeySchema,
              additionalProperties: { type: 'string', maxLength: 65536 },
              maxProperties: 200,
            },
            // The UI's "Run pipeline" form says `web`; scripts leave it out (`api`).
            source: { type: 'string', enum: ['api', 'web'] },
          },
          required: ['ref'],
          additionalProperties: false,
        },
        response: { 200: pipelineSchema, 201: pipelineSchema, ...errors(400, 403, 404, 409, 422, 502) },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const key = request.headers['idempotency-key'];
      const onCreated = (): void => {
        ctx.metrics.pipelinesCreated.inc();
        ctx.crash('trigger.created');
      };
      const result = await triggerPipeline(
        { store: ctx.store, mirrors: ctx.mirrors, now: ctx.now, settings: ctx.settings, onCreated },
        project,
        request.body as TriggerRequest,
        typeof key === 'string' ? key : null,
        callerAsTrigger(request.principal!),
        { mayRunProtected: mayRunProtected(request.principal!, project), name: describePrincipal(request.principal!) },
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      reply.header('location', `/api/v1/pipelines/${result.pipeline.pipeline.id}`);
      return reply.status(result.replayed ? 200 : 201).send(pipelineJson(result.pipeline));
    },
  );

  app.get(
    '/projects/:project/pipelines',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "A project's pipelines, newest first",
        tags: ['pipelines'],
        params: projectParams,
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...PIPELINE_STATUSES] },
            ref: { type: 'string', minLength: 1, maxLength: 255 },
            source: { type: 'string', enum: [...PIPELINE_SOURCES] },
            children: {
              type: 'string',
              enum: ['true', 'false'],
              description: 'false: leave out child pipelines (source parent_pipeline); default true, as GitLab lists them',
            },
            limit: limitSchema,
            before: digitsSchema,
          },
          additionalProperties: false,
        },
        response: { 200: pageOf(pipelineSummarySchema), ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const q = request.query as { status?: PipelineStatus; ref?: string; source?: PipelineSource; children?: 'true' | 'false'; limit?: string; before?: string };
      const page = await ctx.store.listPipelines({
        projectId: project.id,
        status: q.status,
        ref: q.ref,
        source: q.source,
        children: q.children !== 'false',
        limit: numOrUndefined(q.limit),
        beforeId: q.before === undefined ? undefined : asPipelineId(Number(q.before)),
      });
      const coverages = await ctx.store.pipelineCoverages(page.items.map((p) => p.id));
      return { items: page.items.map((p) => pipelineSummaryJson(p, coverages.get(p.id) ?? null)), next: page.next };
    },
  );

  app.get(
    '/pipelines/:id',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'A pipeline with its jobs (the shape `gantry run --json` prints)',
        tags: ['pipelines'],
        params: idParams,
        response: { 200: pipelineSchema, ...errors(403, 404) },
      },
    },
    async (request) => {
      return pipelineJson(await pipelineOf(ctx, request));
    },
  );

  app.post(
    '/pipelines/:id/cancel',
    {
      config: { access: 'developer' },
      schema: {
        summary: 'Cancel a pipeline and every job of it not yet finished',
        tags: ['pipelines'],
        params: idParams,
        response: { 200: pipelineSchema, ...errors(403, 404, 409) },
      },
    },
    async (request) => {
      const p = await pipelineOf(ctx, request);
      const id = p.pipeline.id;
      // A `gantry run` pipeline has no agents to ask: its attempts end at once.
      if (p.pipeline.runsOn === 'local') {
        // A gantry run pipeline is canceled by several moves, not one transaction: its entry follows them.
        const canceled = await cancelPipeline(ctx.store, id, ctx.now);
        await ctx.store.audit.record(auditEntry(request, ctx.now(), { action: 'pipeline.cancel', projectId: p.pipeline.projectId, target: { type: 'pipeline', id: String(id) }, details: { ref: p.pipeline.ref } }));
        return pipelineJson(canceled);
      }
      const at = ctx.now();
      const audit = auditWhen(request, at, (r: unknown) => r !== null && typeof r === 'object', () => ({
        action: 'pipeline.cancel',
        projectId: p.pipeline.projectId,
        target: { type: 'pipeline', id: String(id) },
        details: { ref: p.pipeline.ref },
      }));
      const r = await ctx.store.fleet.cancelPipeline(id, at, ctx.settings, audit);
      if (r === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${id}`);
      if (r === 'finished') {
        const current = (await ctx.store.getPipeline(id))!.pipeline.status;
        throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `pipeline ${id} is ${current}: it cannot be canceled`);
      }
      return pipelineJson(r);
    },
  );

  app.post(
    '/pipelines/:id/retry',
    {
      config: { access: 'developer' },
      schema: {
        summary: "Retry a finished pipeline's failed, canceled and timed-out jobs (and what they held back)",
        description: 'A pipeline of a protected ref needs maintainer (403 GANTRY_E_PROTECTED_REF).',
        tags: ['pipelines'],
        params: idParams,
        response: { 200: pipelineSchema, ...errors(403, 404, 409) },
      },
    },
    async (request) => {
      const p = await pipelineOf(ctx, request);
      const id = p.pipeline.id;
      if (p.pipeline.runsOn === 'local') throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `pipeline ${id} ran with gantry run: run it again there`);
      const project = await ctx.store.getProject(p.pipeline.projectId);
      if (!project) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${id}`);
      refuseOnProtectedPipeline(request.principal!, project, p.pipeline, 'retry');
      const at = ctx.now();
      const audit = auditWhen(request, at, (r: unknown) => r !== null && typeof r === 'object', () => ({
        action: 'pipeline.retry',
        projectId: p.pipeline.projectId,
        target: { type: 'pipeline', id: String(id) },
        details: { ref: p.pipeline.ref },
      }));
      const r = await ctx.store.fleet.retryPipeline(id, at, ctx.settings, audit);
      if (r === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${id}`);
      if (r === 'nothing-to-retry') throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `pipeline ${id} has no failed, canceled or timed-out job to retry`);
      return pipelineJson(r);
    },
  );
}
