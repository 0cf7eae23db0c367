// The fleet as people see it: which agents exist, whether they are idle, busy or offline, and
// which jobs they run.

import type { FastifyInstance } from 'fastify';
import { asAgentId } from '../../store/fleet.js';
import { requireAdmin } from '../auth.js';
import { ApiError } from '../errors.js';
import { idOf, idParams, errors } from '../schemas.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const agentSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    concurrency: { type: 'integer' },
    version: { type: 'string' },
    status: { type: 'string', enum: ['idle', 'busy', 'offline'] },
    lastSeenAt: { type: ['string', 'null'], format: 'date-time' },
    createdAt: { type: 'string', format: 'date-time' },
    currentJobs: { type: 'array', items: { type: 'integer' } },
  },
  required: ['id', 'name', 'tags', 'status', 'lastSeenAt', 'currentJobs'],
} as const;

/** GET /agents's answer (also what GET /agents/events sends). */
export async function readAgents(ctx: RouteContext) {
  const agents = await ctx.store.fleet.listAgents(ctx.now(), ctx.settings.leaseMs);
  return {
    items: agents.map((a) => ({
      id: a.id,
      name: a.name,
      tags: a.tags,
      concurrency: a.concurrency,
      version: a.version,
      status: a.status,
      lastSeenAt: iso(a.lastSeenAt),
      createdAt: iso(a.createdAt),
      currentJobs: a.currentJobs,
    })),
    next: null,
  };
}

export function agentListRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/agents',
    {
      schema: {
        summary: 'The registered agents: idle, busy (with the jobs they run) or offline (not seen within a lease)',
        tags: ['agents'],
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: agentSchema }, next: { type: 'null' } } }, ...errors(403) },
      },
    },
    async () => readAgents(ctx),
  );

  app.delete(
    '/agents/:id',
    { schema: { summary: 'Deregister an agent (admin): its token stops working, its running jobs are retried', tags: ['agents'], params: idParams, response: { ...errors(403, 404) } } },
    async (request, reply) => {
      requireAdmin(request);
      const id = asAgentId(idOf(request.params));
      const all = await ctx.store.fleet.listAgents(ctx.now(), ctx.settings.leaseMs);
      if (!all.some((a) => a.id === id)) throw new ApiError('GANTRY_E_NOT_FOUND', `no agent ${id}`);
      await ctx.store.fleet.deregisterAgent(id, ctx.now(), ctx.settings);
      return reply.status(204).send();
    },
  );
}
