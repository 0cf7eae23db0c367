// Pictures of a project and of a pipeline (docs/API.md, "Insights"): a project's success rate and
// durations per day with its slowest and flakiest jobs, and a pipeline's timeline (each job's wait
// in the queue and its run, with the critical path). Viewers may read both.

import type { FastifyInstance } from 'fastify';
import { criticalPath } from '../../domain/critical-path.js';
import { INSIGHT_DAYS_DEFAULT, INSIGHT_DAYS_MAX, insightsOf } from '../../domain/insights.js';
import { latestAttempt } from '../../views/pipeline-json.js';
import { ApiError } from '../errors.js';
import { routeProject, routeTarget } from '../route-access.js';
import { errors, idParams, projectParams } from '../schemas.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const num = { type: 'number' } as const;
const numOrNull = { type: ['number', 'null'] } as const;

const daySummary = {
  finished: { type: 'integer' },
  succeeded: { type: 'integer' },
  failed: { type: 'integer' },
  canceled: { type: 'integer' },
  successRate: numOrNull,
  p50Seconds: numOrNull,
  p95Seconds: numOrNull,
} as const;

const insightsSchema = {
  type: 'object',
  properties: {
    days: { type: 'array', items: { type: 'object', properties: { day: { type: 'string', format: 'date' }, ...daySummary }, required: ['day', ...Object.keys(daySummary)] } },
    totals: { type: 'object', properties: daySummary, required: Object.keys(daySummary) },
    slowestJobs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, runs: { type: 'integer' }, p50Seconds: num, p95Seconds: num }, required: ['name', 'runs', 'p50Seconds', 'p95Seconds'] } },
    flakiestJobs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, runs: { type: 'integer' }, flaky: { type: 'integer' }, rate: num }, required: ['name', 'runs', 'flaky', 'rate'] } },
    truncated: { type: 'boolean' },
  },
  required: ['days', 'totals', 'slowestJobs', 'flakiestJobs', 'truncated'],
} as const;

const timeOrNull = { type: ['string', 'null'], format: 'date-time' } as const;
const timelineSchema = {
  type: 'object',
  properties: {
    pipelineId: { type: 'integer' },
    status: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    finishedAt: timeOrNull,
    jobs: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          name: { type: 'string' },
          stage: { type: 'string' },
          status: { type: 'string' },
          needs: { type: ['array', 'null'], items: { type: 'string' } },
          attempts: {
            type: 'array',
            items: {
              type: 'object',
              properties: { number: { type: 'integer' }, status: { type: 'string' }, agent: { type: ['string', 'null'] }, queuedAt: { type: 'string', format: 'date-time' }, startedAt: timeOrNull, finishedAt: timeOrNull },
              required: ['number', 'status', 'agent', 'queuedAt', 'startedAt', 'finishedAt'],
            },
          },
        },
        required: ['id', 'name', 'stage', 'status', 'needs', 'attempts'],
      },
    },
    criticalPath: { type: 'array', items: { type: 'integer' } },
  },
  required: ['pipelineId', 'status', 'createdAt', 'finishedAt', 'jobs', 'criticalPath'],
} as const;

export function insightRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/projects/:project/insights',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "The project's pipelines per UTC day over the last `days` (default 28, at most 90): success rate, p50/p95 duration, slowest and flakiest jobs",
        description:
          'successRate is succeeded / (succeeded + failed); canceled pipelines are counted but not rated. Durations are created → finished. ' +
          'A job is flaky in a pipeline when an attempt of it failed and a later one passed. At most the newest 5,000 pipelines of the window are read (truncated: true when there were more).',
        tags: ['insights'],
        params: projectParams,
        querystring: { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: INSIGHT_DAYS_MAX } }, additionalProperties: false },
        response: { 200: insightsSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const days = (request.query as { days?: number }).days ?? INSIGHT_DAYS_DEFAULT;
      const now = ctx.now();
      // From the start of the window's first UTC day, so that day is whole.
      const since = Date.parse(new Date(now - (days - 1) * 86_400_000).toISOString().slice(0, 10));
      const runs = await ctx.store.insights.windowRuns(routeProject(request).id, since);
      return { ...insightsOf(runs.pipelines, runs.attempts, days, now), truncated: runs.truncated };
    },
  );

  app.get(
    '/pipelines/:id/timeline',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "Each job's attempts with their times in the queue and running, and the critical path (job ids, first to last)",
        tags: ['insights'],
        params: idParams,
        response: { 200: timelineSchema, ...errors(403, 404) },
      },
    },
    async (request) => {
      const id = routeTarget(request).pipeline!.id;
      const p = await ctx.store.getPipeline(id);
      if (!p) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${id}`);
      // The compiled needs are what a job waited for either way (every earlier stage's job without
      // `needs:`); the JSON says `needs` only where the file did, as the pipeline JSON does.
      const waitsFor = (j: (typeof p.jobs)[number]) => j.spec.needs.map((n) => n.job);
      return {
        pipelineId: p.pipeline.id,
        status: p.pipeline.status,
        createdAt: iso(p.pipeline.createdAt),
        finishedAt: iso(p.pipeline.finishedAt),
        jobs: p.jobs.map((j) => ({
          id: j.id,
          name: j.name,
          stage: j.stage,
          status: j.status,
          needs: j.spec.needsMode === 'dag' ? waitsFor(j) : null,
          attempts: p.attempts
            .filter((a) => a.jobId === j.id)
            .sort((a, b) => a.number - b.number)
            .map((a) => ({ number: a.number, status: a.status, agent: a.agent, queuedAt: iso(a.queuedAt), startedAt: iso(a.startedAt), finishedAt: iso(a.finishedAt) })),
        })),
        criticalPath: criticalPath(
          p.jobs.map((j) => {
            const a = latestAttempt(p.attempts, j.id);
            return { id: j.id, name: j.name, stageIndex: j.stageIndex, needs: waitsFor(j), startedAt: a?.startedAt ?? null, finishedAt: a?.finishedAt ?? null };
          }),
        ),
      };
    },
  );
}
