// Compute minutes (docs/API.md, "Compute minutes"): a project's quota and grants (set by an
// admin, read by its maintainers), its usage in a month as JSON or as billing lines in CSV, and
// the instance's usage for admins. The store keeps compute milliseconds; minutes appear here,
// rounded to three decimals (the CSV's to six).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import crypto from 'node:crypto';
import { minutesOf, monthOf, MONTH_PATTERN, msOfMinutes, type Month } from '../../domain/compute-minutes.js';
import { FACTOR_SCALE } from '../../domain/pools.js';
import type { DayUsage, Grant, GrantResult, QuotaView, Usage, UsageLine } from '../../store/compute-minutes.js';
import type { Project } from '../../store/store.js';
import { auditWhen } from '../audit.js';
import { ApiError } from '../errors.js';
import { findProject, routeProject } from '../route-access.js';
import { errors, projectParams } from '../schemas.js';
import type { RouteContext } from './context.js';
import { approverOf } from './approvals.js';

const iso = (ms: number) => new Date(ms).toISOString();

const grantSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    minutes: { type: 'number' },
    reason: { type: 'string' },
    by: { type: ['string', 'null'] },
    at: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'minutes', 'reason', 'by', 'at'],
} as const;

const quotaSchema = {
  type: 'object',
  properties: {
    monthlyMinutes: { type: ['integer', 'null'] },
    hardLimit: { type: 'boolean' },
    grants: { type: 'array', items: grantSchema },
  },
  required: ['monthlyMinutes', 'hardLimit', 'grants'],
} as const;

const usageProperties = {
  month: { type: 'string' },
  limitMinutes: { type: ['number', 'null'] },
  grantedMinutes: { type: 'number' },
  usedMinutes: { type: 'number' },
  reservedMinutes: { type: 'number' },
  remainingMinutes: { type: ['number', 'null'] },
  byPool: {
    type: 'object',
    additionalProperties: { type: 'object', properties: { minutes: { type: 'number' }, jobSeconds: { type: 'number' } }, required: ['minutes', 'jobSeconds'] },
  },
} as const;
/** Minutes consumed each UTC day of the month, by pool: what the usage page charts. */
const daysSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { day: { type: 'string', format: 'date' }, byPool: { type: 'object', additionalProperties: { type: 'number' } } },
    required: ['day', 'byPool'],
  },
} as const;
const usageSchema = { type: 'object', properties: { ...usageProperties, days: daysSchema }, required: [...Object.keys(usageProperties), 'days'] } as const;

/** The days of the month that consumed anything, each with its minutes per pool. */
function daysJson(days: readonly DayUsage[]): { day: string; byPool: Record<string, number> }[] {
  const out = new Map<string, Record<string, number>>();
  for (const d of days) {
    const byPool = out.get(d.day) ?? {};
    // One row per day and pool: the store sums them.
    byPool[d.pool] = minutesOf(d.amountMs);
    out.set(d.day, byPool);
  }
  return [...out].map(([day, byPool]) => ({ day, byPool }));
}

const usageQuery = {
  type: 'object',
  properties: {
    month: { type: 'string', pattern: MONTH_PATTERN.source },
    format: { type: 'string', enum: ['json', 'csv'] },
  },
  additionalProperties: false,
} as const;

const grantJson = (g: Grant) => ({ id: g.id, minutes: minutesOf(g.amountMs), reason: g.reason, by: g.actor, at: iso(g.at) });
const quotaJson = (q: QuotaView) => ({ monthlyMinutes: q.monthlyMinutes, hardLimit: q.hardLimit, grants: q.grants.map(grantJson) });

/** The usage JSON (stable: the web UI's usage page reads it). Remaining is never below 0: an overrun shows as used + reserved above limit + granted. */
function usageJson(u: Usage) {
  return {
    month: u.month,
    limitMinutes: u.limitMs === null ? null : minutesOf(u.limitMs),
    grantedMinutes: minutesOf(u.grantsMs),
    usedMinutes: minutesOf(u.consumedMs),
    reservedMinutes: minutesOf(u.reservedMs),
    remainingMinutes: u.availableMs === null ? null : minutesOf(Math.max(0, u.availableMs)),
    byPool: Object.fromEntries(Object.entries(u.byPool).map(([pool, p]) => [pool, { minutes: minutesOf(p.amountMs), jobSeconds: p.durationMs / 1000 }])),
  };
}

/** The month asked for (default: the current one); a month not yet begun is refused. */
function monthAsked(request: FastifyRequest, at: number): Month {
  const month = (request.query as { month?: string }).month ?? monthOf(at);
  if (month > monthOf(at)) throw new ApiError('GANTRY_E_INVALID_REQUEST', `month ${month} has not begun`, { field: 'querystring.month' });
  return month;
}

const csvField = (v: string | number | null) => {
  const s = v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One line per attempt that consumed in the month: what billing reads. */
function sendCsv(reply: FastifyReply, name: string, lines: readonly UsageLine[], withProject: boolean): FastifyReply {
  const head = ['pipeline', 'job', 'attempt', 'pool', 'factor', 'seconds', 'minutes'];
  const rows = lines.map((l) => [l.pipelineId, l.jobId, l.attempt, l.pool, l.factorMilli / FACTOR_SCALE, (l.durationMs / 1000).toFixed(3), (l.amountMs / 60_000).toFixed(6)]);
  const table = withProject ? [['project', ...head], ...rows.map((r, i) => [lines[i]!.project, ...r])] : [head, ...rows];
  reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`);
  return reply.send(table.map((r) => r.map(csvField).join(',')).join('\n') + '\n');
}

async function projectForAdmin(ctx: RouteContext, request: FastifyRequest): Promise<Project> {
  const param = (request.params as { project: string }).project;
  const project = await findProject(ctx.store, param);
  if (!project) throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${JSON.stringify(param)}`);
  return project;
}

export function computeMinutesRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const tags = ['compute minutes'];

  app.get(
    '/projects/:project/quota',
    {
      config: { access: 'maintainer' },
      schema: { summary: "The project's compute-minute quota and its grants (newest first, at most 100)", tags, params: projectParams, response: { 200: quotaSchema, ...errors(403, 404) } },
    },
    async (request) => quotaJson((await ctx.store.fleet.quotaOf(routeProject(request).id))!),
  );

  app.put(
    '/projects/:project/quota',
    {
      config: { access: 'admin' },
      schema: {
        summary: "Set the project's monthly compute-minute quota",
        description:
          'monthlyMinutes: whole compute minutes a month (null: unlimited; usage is still counted). The month under way takes the ' +
          'new figure at once (what was used stays used). hardLimit: a running job of a project that ran out is stopped ' +
          '(quota_exceeded) once its reserved slice has run; left out, it stays as it was (false for a new project: running jobs finish).',
        tags,
        params: projectParams,
        body: {
          type: 'object',
          properties: { monthlyMinutes: { type: ['integer', 'null'], minimum: 0, maximum: 100_000_000 }, hardLimit: { type: 'boolean' } },
          required: ['monthlyMinutes'],
          additionalProperties: false,
        },
        response: { 200: quotaSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = await projectForAdmin(ctx, request);
      const body = request.body as { monthlyMinutes: number | null; hardLimit?: boolean };
      const hardLimit = body.hardLimit ?? (await ctx.store.fleet.quotaOf(project.id))!.hardLimit;
      const at = ctx.now();
      const audit = auditWhen(request, at, (q: QuotaView | null) => q !== null, () => ({
        action: 'quota.set',
        projectId: project.id,
        target: { type: 'project', id: project.name },
        details: { monthlyMinutes: body.monthlyMinutes, hardLimit },
      }));
      const q = await ctx.store.fleet.setQuota(project.id, { monthlyMinutes: body.monthlyMinutes, hardLimit }, approverOf(request.principal!).name, at, audit);
      if (!q) throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${project.id}`);
      return quotaJson(q);
    },
  );

  app.post(
    '/projects/:project/quota/grants',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Give the project compute minutes that do not expire with the month',
        description:
          'Spent after the monthly allowance, as GitLab does; what is left carries into the next months. With an Idempotency-Key ' +
          'header, the same key and body answer the first grant (200) and another body is refused (409).',
        tags,
        params: projectParams,
        headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' } } },
        body: {
          type: 'object',
          properties: { minutes: { type: 'number', exclusiveMinimum: 0, maximum: 100_000_000 }, reason: { type: 'string', minLength: 1, maxLength: 500 } },
          required: ['minutes', 'reason'],
          additionalProperties: false,
        },
        response: { 200: grantSchema, 201: grantSchema, ...errors(400, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const project = await projectForAdmin(ctx, request);
      const body = request.body as { minutes: number; reason: string };
      const amountMs = msOfMinutes(body.minutes);
      if (amountMs < 1) throw new ApiError('GANTRY_E_INVALID_REQUEST', 'a grant is at least one compute millisecond (0.0000167 minutes)', { field: 'body.minutes' });
      const header = request.headers['idempotency-key'];
      const key = typeof header === 'string' ? `key:${header}` : `request:${crypto.randomUUID()}`;
      const at = ctx.now();
      const audit = auditWhen(request, at, (r: GrantResult) => r.kind === 'created', () => ({
        action: 'quota.grant',
        projectId: project.id,
        target: { type: 'project', id: project.name },
        details: { minutes: minutesOf(amountMs), reason: body.reason },
      }));
      const r = await ctx.store.fleet.grantMinutes(project.id, { amountMs, reason: body.reason, key }, approverOf(request.principal!).name, at, audit);
      if (r.kind === 'no-project') throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${project.id}`);
      if (r.kind === 'mismatch') throw new ApiError('GANTRY_E_IDEMPOTENCY_MISMATCH', `Idempotency-Key ${String(header)} was used for another grant`);
      if (r.kind === 'existing') reply.header('idempotent-replayed', 'true');
      return reply.status(r.kind === 'created' ? 201 : 200).send(grantJson(r.grant));
    },
  );

  app.get(
    '/projects/:project/usage',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "The project's compute minutes in a month (default: the current one), or its billing lines (format=csv)",
        description:
          'limitMinutes: the month`s allowance (null: unlimited); grantedMinutes: what grants offer in it; usedMinutes: consumed ' +
          '(attempts that ended in the month); reservedMinutes: held by running jobs; remainingMinutes: what may still start ' +
          '(never below 0; null: unlimited). byPool: consumed minutes and wall-clock seconds per pool. days: each UTC day that consumed, ' +
          'its minutes per pool. format=csv: one line per ' +
          'attempt, pipeline,job,attempt,pool,factor,seconds,minutes.',
        tags,
        params: projectParams,
        querystring: usageQuery,
        response: { 200: usageSchema, ...errors(400, 403, 404) },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const at = ctx.now();
      const month = monthAsked(request, at);
      if ((request.query as { format?: string }).format === 'csv') {
        return sendCsv(reply, `usage-${project.name}-${month}`, await ctx.store.fleet.usageLines(project.id, month), false);
      }
      const [usage, days] = await Promise.all([ctx.store.fleet.usage(project.id, month, at), ctx.store.fleet.usageByDay(project.id, month)]);
      return { ...usageJson(usage!), days: daysJson(days) };
    },
  );

  app.get(
    '/usage',
    {
      config: { access: 'admin' },
      schema: {
        summary: "The instance's compute minutes in a month: every project with a quota or with usage, or all billing lines (format=csv)",
        tags,
        querystring: usageQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              month: { type: 'string' },
              usedMinutes: { type: 'number' },
              days: daysSchema,
              projects: { type: 'array', items: { type: 'object', properties: { project: { type: 'string' }, projectId: { type: 'integer' }, ...usageProperties } } },
            },
            required: ['month', 'usedMinutes', 'days', 'projects'],
          },
          ...errors(400, 403),
        },
      },
    },
    async (request, reply) => {
      const at = ctx.now();
      const month = monthAsked(request, at);
      if ((request.query as { format?: string }).format === 'csv') return sendCsv(reply, `usage-${month}`, await ctx.store.fleet.usageLines(null, month), true);
      const [projects, days] = await Promise.all([ctx.store.fleet.usageByProject(month, at), ctx.store.fleet.usageByDay(null, month)]);
      return {
        month,
        usedMinutes: minutesOf(projects.reduce((sum, p) => sum + p.consumedMs, 0)),
        days: daysJson(days),
        projects: projects.map((p) => ({ project: p.project, projectId: p.projectId, ...usageJson(p) })),
      };
    },
  );
}
