// Schedules: cron expressions per project that start pipelines (CI_PIPELINE_SOURCE=schedule).
// The firing itself is src/server/schedules/firer.ts's.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asScheduleId, type Schedule, type ScheduleUpdate } from '../../store/schedules.js';
import { ApiError } from '../errors.js';
import { errors, projectParams, refSchema, variableKeySchema } from '../schemas.js';
import { firstFiring } from '../schedules/cron.js';
import type { RouteContext } from './context.js';
import { routeProject } from '../route-access.js';
import { auditWhen } from '../audit.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const isoOrNull = { type: ['string', 'null'], format: 'date-time' } as const;

export const scheduleJson = (s: Schedule) => ({
  id: s.id,
  projectId: s.projectId,
  description: s.description,
  cron: s.cron,
  timezone: s.timezone,
  ref: s.ref,
  variables: s.variables,
  active: s.active,
  nextRunAt: iso(s.nextRunAt),
  lastFiredAt: iso(s.lastFireAt),
  lastPipelineId: s.lastPipelineId,
  lastError: s.lastError,
  createdAt: iso(s.createdAt),
  updatedAt: iso(s.updatedAt),
});

const scheduleSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    projectId: { type: 'integer' },
    description: { type: ['string', 'null'] },
    cron: { type: 'string' },
    timezone: { type: 'string' },
    ref: { type: 'string' },
    variables: { type: 'object', additionalProperties: { type: 'string' } },
    active: { type: 'boolean' },
    nextRunAt: isoOrNull,
    lastFiredAt: isoOrNull,
    lastPipelineId: { type: ['integer', 'null'] },
    lastError: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'projectId', 'description', 'cron', 'timezone', 'ref', 'variables', 'active', 'nextRunAt', 'lastFiredAt', 'lastPipelineId', 'lastError', 'createdAt', 'updatedAt'],
} as const;

const fields = {
  description: { type: ['string', 'null'], maxLength: 255 },
  cron: { type: 'string', minLength: 1, maxLength: 120 },
  timezone: { type: 'string', minLength: 1, maxLength: 64 },
  ref: refSchema,
  variables: { type: 'object', propertyNames: variableKeySchema, additionalProperties: { type: 'string', maxLength: 65536 }, maxProperties: 200 },
  active: { type: 'boolean' },
} as const;

const idParams = {
  type: 'object',
  properties: { ...projectParams.properties, id: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' } },
  required: ['project', 'id'],
} as const;

type Body = { description?: string | null; cron: string; timezone?: string; ref: string; variables?: Record<string, string>; active?: boolean };

export function scheduleRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post(
    '/projects/:project/schedules',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Create a schedule',
        description: 'cron: five fields, or six with a leading seconds field; timezone: an IANA name (default UTC).',
        tags: ['schedules'],
        params: projectParams,
        body: { type: 'object', properties: fields, required: ['cron', 'ref'], additionalProperties: false },
        response: { 201: scheduleSchema, ...errors(400, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const b = request.body as Body;
      const at = ctx.now();
      const timezone = b.timezone ?? 'UTC';
      const active = b.active ?? true;
      const next = firstFiring(b.cron, timezone, at);
      const s = await ctx.store.schedules.createSchedule({
        projectId: project.id,
        description: b.description ?? null,
        cron: b.cron,
        timezone,
        ref: b.ref,
        variables: b.variables ?? {},
        active,
        nextRunAt: active ? next : null,
        at,
      }, auditWhen(request, at, () => true, (made: Schedule) => ({ action: 'schedule.create', projectId: made.projectId, target: { type: 'schedule', id: String(made.id) }, details: { ref: made.ref, cron: made.cron, timezone: made.timezone, active: made.active } })));
      return reply.status(201).header('location', `/api/v1/projects/${project.id}/schedules/${s.id}`).send(scheduleJson(s));
    },
  );

  app.get(
    '/projects/:project/schedules',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "A project's schedules, oldest first",
        tags: ['schedules'],
        params: projectParams,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: scheduleSchema } }, required: ['items'] }, ...errors(403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      return { items: (await ctx.store.schedules.listSchedules(project.id)).map(scheduleJson) };
    },
  );

  async function scheduleOf(request: FastifyRequest): Promise<Schedule> {
    const params = request.params as { project: string; id: string };
    const project = routeProject(request);
    const id = asScheduleId(Number(params.id));
    const s = await ctx.store.schedules.getSchedule(project.id, id);
    if (!s) throw new ApiError('GANTRY_E_NOT_FOUND', `project ${project.name} has no schedule ${id}`);
    return s;
  }

  app.get(
    '/projects/:project/schedules/:id',
    {
      config: { access: 'maintainer' },
      schema: { summary: 'A schedule', tags: ['schedules'], params: idParams, response: { 200: scheduleSchema, ...errors(403, 404) } },
    },
    async (request) => scheduleJson(await scheduleOf(request)),
  );

  app.patch(
    '/projects/:project/schedules/:id',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Change a schedule',
        description: 'Fields not given keep their value. A new cron, time zone or activation sets the next firing from now.',
        tags: ['schedules'],
        params: idParams,
        body: { type: 'object', properties: fields, minProperties: 1, additionalProperties: false },
        response: { 200: scheduleSchema, ...errors(400, 403, 404, 422) },
      },
    },
    async (request) => {
      const s = await scheduleOf(request);
      const b = request.body as Partial<Body>;
      const at = ctx.now();
      const u: ScheduleUpdate = {
        description: b.description === undefined ? s.description : b.description,
        cron: b.cron ?? s.cron,
        timezone: b.timezone ?? s.timezone,
        ref: b.ref ?? s.ref,
        variables: b.variables ?? s.variables,
        active: b.active ?? s.active,
        nextRunAt: s.nextRunAt,
        at,
      };
      const timing = u.cron !== s.cron || u.timezone !== s.timezone || u.active !== s.active;
      if (timing) {
        const next = firstFiring(u.cron, u.timezone, at);
        // Reactivated: the firings of the paused time are not made up.
        u.nextRunAt = u.active ? next : null;
      }
      // The fields changed, by name: a schedule's variables are the trigger's, by key only.
      const audit = auditWhen(request, at, (r: Schedule | null) => r !== null, () => ({ action: 'schedule.update', projectId: s.projectId, target: { type: 'schedule', id: String(s.id) }, details: { fields: Object.keys(b).sort() } }));
      const updated = await ctx.store.schedules.updateSchedule(s.projectId, s.id, u, audit);
      if (!updated) throw new ApiError('GANTRY_E_NOT_FOUND', `schedule ${s.id} was deleted`);
      return scheduleJson(updated);
    },
  );

  app.delete(
    '/projects/:project/schedules/:id',
    {
      config: { access: 'maintainer' },
      schema: { summary: 'Delete a schedule', tags: ['schedules'], params: idParams, response: { 204: { type: 'null' }, ...errors(403, 404) } },
    },
    async (request, reply) => {
      const s = await scheduleOf(request);
      const audit = auditWhen(request, ctx.now(), (gone: boolean) => gone, () => ({ action: 'schedule.delete', projectId: s.projectId, target: { type: 'schedule', id: String(s.id) }, details: { ref: s.ref } }));
      if (!(await ctx.store.schedules.deleteSchedule(s.projectId, s.id, audit))) throw new ApiError('GANTRY_E_NOT_FOUND', `schedule ${s.id} was deleted`);
      return reply.status(204).send();
    },
  );
}
