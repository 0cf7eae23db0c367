// One job as its page shows it: the job, the pipeline and project it belongs to, and every
// attempt (agent, times, exit code, failure reason, log size), for the attempt switcher.

import type { FastifyInstance } from 'fastify';
import type { Attempt } from '../../store/store.js';
import { routeTarget, type RouteTarget } from '../route-access.js';
import { errors, idParams, jobSchema } from '../schemas.js';
import { jobJson, latestCoverage } from '../views.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const isoOrNull = { type: ['string', 'null'], format: 'date-time' } as const;

const attemptSchema = {
  type: 'object',
  properties: {
    number: { type: 'integer' },
    status: { type: 'string' },
    agent: { type: ['string', 'null'] },
    queuedAt: { type: 'string', format: 'date-time' },
    startedAt: isoOrNull,
    finishedAt: isoOrNull,
    exitCode: { type: ['integer', 'null'] },
    failureReason: { type: ['string', 'null'] },
    logBytes: { type: 'integer' },
    coverage: { type: ['number', 'null'] },
  },
  required: ['number', 'status', 'agent', 'queuedAt', 'startedAt', 'finishedAt', 'exitCode', 'failureReason', 'logBytes'],
} as const;

const jobDetailSchema = {
  type: 'object',
  properties: {
    ...jobSchema.properties,
    pipelineId: { type: 'integer' },
    projectId: { type: 'integer' },
    attemptList: { type: 'array', items: attemptSchema },
    dotenv: {
      type: 'array',
      description: "the variables the job's newest attempt gave later jobs by `artifacts:reports:dotenv`, in file order (readable as its artifacts are)",
      items: { type: 'object', properties: { key: { type: 'string' }, value: { type: 'string' } }, required: ['key', 'value'] },
    },
    approvals: {
      type: ['object', 'null'],
      description: 'a job deploying to a protected environment: how many approvals it needs and the decisions made (null otherwise)',
      properties: {
        required: { type: 'integer' },
        deployers: { type: 'array', items: { type: 'string' } },
        decisions: {
          type: 'array',
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, decision: { type: 'string' }, comment: { type: ['string', 'null'] }, at: { type: 'string', format: 'date-time' } },
          },
        },
      },
    },
  },
  required: [...jobSchema.required, 'pipelineId', 'projectId', 'attemptList', 'dotenv'],
} as const;

const attemptJson = (a: Attempt) => ({
  number: a.number,
  status: a.status,
  agent: a.agent,
  queuedAt: iso(a.queuedAt),
  startedAt: iso(a.startedAt),
  finishedAt: iso(a.finishedAt),
  exitCode: a.exitCode,
  failureReason: a.failureReason,
  logBytes: a.logBytes,
  coverage: a.coverage,
});

export function jobDetailRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/jobs/:id',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'A job with its pipeline, project and every attempt (oldest first)',
        tags: ['jobs'],
        params: idParams,
        response: { 200: jobDetailSchema, ...errors(403, 404) },
      },
    },
    async (request) => {
      const { job, pipeline } = routeTarget(request) as Required<RouteTarget>;
      const attempts = (await ctx.store.listAttempts(job.id)).sort((a, b) => a.number - b.number);
      const env = job.spec.environment === null ? null : await ctx.store.gates.getEnvironment(pipeline.projectId, job.spec.environment);
      const decisions = env === null ? [] : await ctx.store.gates.jobDecisions(job.id);
      // The route's access (viewer) is the artifacts' (routes/artifacts.ts): a dotenv report is one.
      const dotenv = (await ctx.store.dotenv.ofJob(job.id))?.variables ?? [];
      const approvals =
        env === null || (env.requiredApprovals === 0 && decisions.length === 0)
          ? null
          : { required: env.requiredApprovals, deployers: env.deployers, decisions: decisions.map((d) => ({ name: d.name, decision: d.decision, comment: d.comment, at: iso(d.at) })) };
      return { ...jobJson(job, latestCoverage(attempts, job.id)), pipelineId: job.pipelineId, projectId: pipeline.projectId, attemptList: attempts.map(attemptJson), approvals, dotenv };
    },
  );
}
