// Live status for the web UI as Server-Sent Events: a pipeline's jobs as they move, and a
// project's pipelines as they are created and move.
//
// Changes arrive from the fleet store's `pipeline` events (this instance's commits, and on
// PostgreSQL other instances' through LISTEN/NOTIFY). A `gantry run` pipeline is written by
// another process that announces nothing, and a wake-up can be lost (a NOTIFY during a
// reconnect), so each stream also looks again every SAFETY_TICK_MS and sends only what changed:
// an event is a hint to re-read the store, never the state itself.

import type { FastifyInstance } from 'fastify';
import type { PipelineId } from '../../domain/ids.js';
import { pipelineJson } from '../../views/pipeline-json.js';
import { ApiError } from '../errors.js';
import { errors, idParams, projectParams } from '../schemas.js';
import { coalescer, safetyTick, type SseStreams } from '../sse.js';
import { pipelineCoverage, pipelineSummaryJson } from '../views.js';
import type { RouteContext } from './context.js';
import { routeProject, routeTarget } from '../route-access.js';

export const SAFETY_TICK_MS = 2_000;
/** How many of a project's newest pipelines the safety tick re-reads. */
const WATCHED_PIPELINES = 20;

export const sseResponse = {
  200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
};

export function eventRoutes(app: FastifyInstance, ctx: RouteContext & { streams: SseStreams }): void {
  app.get(
    '/pipelines/:id/events',
    {
      config: { access: 'viewer', routeClass: 'stream' },
      schema: {
        summary: 'Server-Sent Events: `pipeline` (the pipeline with its jobs, as GET /pipelines/:id) now and after every change',
        tags: ['pipelines'],
        params: idParams,
        response: { ...sseResponse, ...errors(403, 404) },
      },
    },
    async (request, reply) => {
      const id = routeTarget(request).pipeline!.id;
      const first = await ctx.store.getPipeline(id);
      if (!first) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${id}`);
      const stream = ctx.streams.start(request, reply);
      let last = '';
      const send = (json: ReturnType<typeof pipelineJson>) => {
        const text = JSON.stringify(json);
        if (text !== last && stream.send('pipeline', json)) last = text;
      };
      send(pipelineJson(first));
      const c = coalescer(
        async () => {
          const p = await ctx.store.getPipeline(id);
          if (p) send(pipelineJson(p));
        },
        (err) => request.log.warn({ err }, 'pipeline events: re-reading the pipeline failed'),
        stream.strained,
      );
      const onPipeline = (changed: PipelineId) => {
        if (changed === id) c.schedule();
      };
      ctx.store.fleet.events.on('pipeline', onPipeline);
      safetyTick(stream, SAFETY_TICK_MS, c.schedule);
      stream.onClose(() => {
        ctx.store.fleet.events.off('pipeline', onPipeline);
        c.cancel();
      });
    },
  );

  app.get(
    '/projects/:project/events',
    {
      config: { access: 'viewer', routeClass: 'stream' },
      schema: {
        summary:
          "Server-Sent Events: `ready` once the stream watches, then `pipeline` (a list item, as GET /projects/:project/pipelines) for each of the project's pipelines created or changed",
        tags: ['pipelines'],
        params: projectParams,
        response: { ...sseResponse, ...errors(403, 404) },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const lastSent = new Map<number, string>();
      const changed = (summary: ReturnType<typeof pipelineSummaryJson>) => {
        const text = JSON.stringify(summary);
        if (lastSent.get(summary.id) === text) return false;
        lastSent.set(summary.id, text);
        return true;
      };
      // What the client can already see is not sent again.
      const newest = async () => {
        const items = (await ctx.store.listPipelines({ projectId: project.id, limit: WATCHED_PIPELINES })).items;
        const coverages = await ctx.store.pipelineCoverages(items.map((p) => p.id));
        return items.map((p) => pipelineSummaryJson(p, coverages.get(p.id) ?? null));
      };
      for (const s of await newest()) changed(s);
      const stream = ctx.streams.start(request, reply);
      stream.send('ready', { projectId: project.id });
      const pendingIds = new Set<PipelineId>();
      const c = coalescer(
        async () => {
          const ids = [...pendingIds];
          pendingIds.clear();
          const seen = new Set<number>();
          for (const id of ids) {
            const p = await ctx.store.getPipeline(id);
            if (!p || p.pipeline.projectId !== project.id) continue;
            seen.add(id);
            const s = pipelineSummaryJson(p.pipeline, pipelineCoverage(p));
            if (changed(s)) stream.send('pipeline', s);
          }
          if (ids.length === 0) for (const s of await newest()) if (!seen.has(s.id) && changed(s)) stream.send('pipeline', s);
        },
        (err) => request.log.warn({ err }, 'project events: re-reading pipelines failed'),
        stream.strained,
      );
      const onPipeline = (id: PipelineId) => {
        pendingIds.add(id);
        c.schedule();
      };
      ctx.store.fleet.events.on('pipeline', onPipeline);
      // An empty batch is the safety tick: re-read the newest pipelines.
      safetyTick(stream, SAFETY_TICK_MS, c.schedule);
      stream.onClose(() => {
        ctx.store.fleet.events.off('pipeline', onPipeline);
        c.cancel();
      });
    },
  );
}
