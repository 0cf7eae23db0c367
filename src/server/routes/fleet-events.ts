// Live fleet status for the web UI as Server-Sent Events: the agents (GET /agents) and the queue
// (GET /queue), each sent whole at once and again whenever it changed, so the pages follow the
// fleet without polling.
//
// What changes them is announced by the fleet store only in part: a job that becomes pending
// (`ready`) or moves (`pipeline`, which also covers an agent taking, starting and ending work) wakes
// the stream at once, on PostgreSQL from any instance. An agent connecting, its heartbeats and its
// lease running out are announced nowhere, so each stream also re-reads every SAFETY_TICK_MS and
// sends only what changed. The cost per open page is then one read every 2 s on the server
// instead of one request every 3 or 5 s from the browser, and changes of jobs show at once.

import type { FastifyInstance } from 'fastify';
import type { PipelineId } from '../../domain/ids.js';
import { errors } from '../schemas.js';
import { followSnapshot, type SseStreams } from '../sse.js';
import { readAgents } from './agents.js';
import type { RouteContext } from './context.js';
import { SAFETY_TICK_MS, sseResponse } from './events.js';
import { queueLimit, queueQuery, queueScope, readQueue } from './queue.js';

export function fleetEventRoutes(app: FastifyInstance, ctx: RouteContext & { streams: SseStreams }): void {
  /** Wakes on every fleet change: which agent or queue entry it touched is not worth working out. */
  const onFleetChange = (wake: () => void) => {
    const onPipeline = (_id: PipelineId) => wake();
    const onReady = () => wake();
    ctx.store.fleet.events.on('pipeline', onPipeline);
    ctx.store.fleet.events.on('ready', onReady);
    return () => {
      ctx.store.fleet.events.off('pipeline', onPipeline);
      ctx.store.fleet.events.off('ready', onReady);
    };
  };

  app.get(
    '/agents/events',
    {
      config: { access: 'signed-in', routeClass: 'stream' },
      schema: {
        summary: 'Server-Sent Events: `agents` (as GET /agents) now and whenever it changes',
        tags: ['agents'],
        response: { ...sseResponse, ...errors(403) },
      },
    },
    async (request, reply) => {
      const first = await readAgents(ctx, request.principal!);
      const stream = ctx.streams.start(request, reply);
      followSnapshot(stream, 'agents', first, () => readAgents(ctx, request.principal!), {
        tickMs: SAFETY_TICK_MS,
        subscribe: onFleetChange,
        onError: (err) => request.log.warn({ err }, 'agent events: re-reading the agents failed'),
      });
    },
  );

  app.get(
    '/queue/events',
    {
      config: { access: 'signed-in', routeClass: 'stream' },
      schema: {
        summary: 'Server-Sent Events: `queue` (as GET /queue, with the same project scope) now and whenever it changes',
        tags: ['agents'],
        querystring: queueQuery,
        response: { ...sseResponse, ...errors(400, 403, 404) },
      },
    },
    async (request, reply) => {
      const projectId = await queueScope(ctx, request);
      const limit = queueLimit(request);
      const first = await readQueue(ctx, projectId, limit);
      const stream = ctx.streams.start(request, reply);
      followSnapshot(stream, 'queue', first, () => readQueue(ctx, projectId, limit), {
        tickMs: SAFETY_TICK_MS,
        subscribe: onFleetChange,
        onError: (err) => request.log.warn({ err }, 'queue events: re-reading the queue failed'),
      });
    },
  );
}
