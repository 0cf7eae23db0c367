// The fleet as people see it: which agents exist, whether they are idle, busy or offline, which
// jobs they run, and how isolated those jobs are (the level, limits and last isolation check the
// agent reported at its latest session).

import type { FastifyInstance } from 'fastify';
import { agentIsSandboxReady, ISOLATION_LEVELS } from '../../domain/isolation.js';
import { asAgentId } from '../../store/fleet.js';
import { visibleProjects, type Principal } from '../policy.js';
import { ApiError } from '../errors.js';
import { agentJobLimitsSchema, idOf, idParams, errors, isolationCheckSchema } from '../schemas.js';
import type { RouteContext } from './context.js';
import { auditAlways } from '../audit.js';

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
    currentJobs: { type: 'array', items: { type: 'integer' }, description: 'the jobs it runs, of the projects the caller may see' },
    isolation: { type: 'string', enum: [...ISOLATION_LEVELS], description: "none: jobs run as the agent's user, not isolated" },
    limits: { ...agentJobLimitsSchema, description: 'the most a job may use on this agent (null: no limit of this kind)' },
    isolationCheck: { ...isolationCheckSchema, description: "the agent's last isolation check (null: none ran)" },
    sandboxReady: { type: 'boolean', description: 'isolation sandbox and its last check passed: it may take jobs that need the sandbox' },
    pool: { type: 'string', description: 'the pool it runs jobs for (gantry agent --pool; default: default)' },
  },
  required: ['id', 'name', 'tags', 'pool', 'status', 'lastSeenAt', 'currentJobs', 'isolation', 'limits', 'isolationCheck', 'sandboxReady'],
} as const;

/**
 * GET /agents's answer (also what GET /agents/events sends). Agents are shared by every project:
 * anyone signed in sees them, but the jobs they run only of the projects the caller may see.
 */
export async function readAgents(ctx: RouteContext, principal: Principal) {
  const agents = await ctx.store.fleet.listAgents(ctx.now(), ctx.settings.leaseMs);
  const visible = visibleProjects(principal);
  const shown = visible === 'all' ? null : new Set<number>(visible);
  return {
    items: agents.map((a) => ({
      id: a.id,
      name: a.name,
      tags: a.tags,
      pool: a.pool,
      concurrency: a.concurrency,
      version: a.version,
      status: a.status,
      lastSeenAt: iso(a.lastSeenAt),
      createdAt: iso(a.createdAt),
      currentJobs: a.running.filter((r) => shown === null || shown.has(r.projectId)).map((r) => r.jobId),
      isolation: a.isolation.isolation,
      limits: a.isolation.limits,
      isolationCheck: a.isolation.check,
      sandboxReady: agentIsSandboxReady(a.isolation),
    })),
    next: null,
  };
}

export function agentListRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/agents',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: 'The registered agents: idle, busy (with the jobs they run) or offline (not seen within a lease)',
        tags: ['agents'],
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: agentSchema }, next: { type: 'null' } } }, ...errors(403) },
      },
    },
    async (request) => readAgents(ctx, request.principal!),
  );

  app.delete(
    '/agents/:id',
    { config: { access: 'admin' }, schema: { summary: 'Deregister an agent (admin): its token stops working, its running jobs are retried', tags: ['agents'], params: idParams, response: { ...errors(403, 404) } } },
    async (request, reply) => {
      const id = asAgentId(idOf(request.params));
      const all = await ctx.store.fleet.listAgents(ctx.now(), ctx.settings.leaseMs);
      if (!all.some((a) => a.id === id)) throw new ApiError('GANTRY_E_NOT_FOUND', `no agent ${id}`);
      const at = ctx.now();
      await ctx.store.fleet.deregisterAgent(id, at, ctx.settings, auditAlways(request, at, { action: 'agent.delete', projectId: null, target: { type: 'agent', id: String(id) }, details: { name: all.find((a) => a.id === id)!.name } }));
      return reply.status(204).send();
    },
  );
}
