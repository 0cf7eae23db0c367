// The queue: every pending job of agents' pipelines with why it waits (the store applies the
// take's rules, src/store/sql/fleet/queue.ts), of the projects the caller may see.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ProjectId } from '../../domain/ids.js';
import type { QueueEntry } from '../../store/fleet.js';
import { visibleProjects } from '../policy.js';
import { visibleProject } from '../route-access.js';
import { errors } from '../schemas.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const reasonSchema = {
  type: 'object',
  description:
    'code: offered (agentId, agentName, until), no_agent (tags), max_running | project_max_running | pipeline_max_running ' +
    '(limit, running), resource_group_busy (group, heldByJobId), resource_group_order (group, behindJobId), agents_busy ' +
    '(agents), no_sandbox_agent (requirement, tags: the job needs a sandboxed agent whose isolation check passed and none ' +
    'with its tags is online), sandbox_agents_busy (requirement, agents: all such agents are full), quota (usedMinutes, ' +
    'reservedMinutes, totalMinutes: the project has spent its compute minutes this month), ready. requirement: ' +
    'untrusted (a pipeline from a fork), project (the project requires the sandbox), network (network none)',
  properties: {
    code: {
      type: 'string',
      enum: [
        'offered',
        'no_agent',
        'max_running',
        'project_max_running',
        'pipeline_max_running',
        'resource_group_busy',
        'resource_group_order',
        'agents_busy',
        'no_sandbox_agent',
        'sandbox_agents_busy',
        'quota',
        'ready',
      ],
    },
  },
  required: ['code'],
  additionalProperties: true,
} as const;

const entrySchema = {
  type: 'object',
  properties: {
    attemptId: { type: 'integer' },
    attempt: { type: 'integer' },
    jobId: { type: 'integer' },
    jobName: { type: 'string' },
    stage: { type: 'string' },
    pipelineId: { type: 'integer' },
    projectId: { type: 'integer' },
    project: { type: 'string' },
    ref: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    priority: { type: 'integer' },
    urgent: { type: 'boolean', description: "one of the project's urgent jobs (urgentJobs) when it was queued: before the project's others" },
    resourceGroup: { type: ['string', 'null'] },
    queuedAt: { type: ['string', 'null'], format: 'date-time' },
    reason: reasonSchema,
  },
  required: ['attemptId', 'jobId', 'jobName', 'pipelineId', 'projectId', 'project', 'tags', 'reason'],
} as const;

function entryJson(e: QueueEntry): object {
  const reason = e.reason.code === 'offered' ? { ...e.reason, until: iso(e.reason.until) } : e.reason;
  return { ...e, queuedAt: iso(e.queuedAt), reason };
}

/** The query both GET /queue and GET /queue/events take. */
export const queueQuery = {
  type: 'object',
  properties: {
    project: { type: 'string', minLength: 1, maxLength: 100 },
    limit: { type: 'string', pattern: '^(1000|[1-9][0-9]{0,2})$' },
  },
  additionalProperties: false,
} as const;

export const queueLimit = (request: FastifyRequest) => {
  const limit = (request.query as { limit?: string }).limit;
  return limit === undefined ? 200 : Number(limit);
};

/**
 * Whose queue: the project asked for (404 unless the caller may see it, as every project route),
 * else every project the caller may see (null: all of them).
 */
export async function queueScope(ctx: RouteContext, request: FastifyRequest): Promise<ProjectId | ProjectId[] | null> {
  const q = request.query as { project?: string };
  if (q.project !== undefined) return (await visibleProject(ctx.store, request.principal!, q.project, 'viewer')).id;
  const visible = visibleProjects(request.principal!);
  return visible === 'all' ? null : visible;
}

/** GET /queue's answer (also what GET /queue/events sends). */
export async function readQueue(ctx: RouteContext, projectId: ProjectId | ProjectId[] | null, limit: number) {
  const entries = await ctx.store.fleet.explainQueue(ctx.now(), ctx.settings, projectId, limit);
  return { items: entries.map(entryJson) };
}

export function queueRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/queue',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: 'Pending jobs in queue order (urgent, then priority, then age), each with why it waits',
        description:
          "Applies the scheduler's rules to one snapshot: an explanation, not a promise (the next take decides). " +
          'Only the jobs of projects the caller may see; `project` narrows the list to one project.',
        tags: ['agents'],
        querystring: queueQuery,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: entrySchema } }, required: ['items'] }, ...errors(400, 403, 404) },
      },
    },
    async (request) => readQueue(ctx, await queueScope(ctx, request), queueLimit(request)),
  );
}
