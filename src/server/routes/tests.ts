// A pipeline's and a job's test reports (docs/API.md, "Test reports"): the latest attempt of each
// job counts, failures first, flaky passes marked (src/domain/test-reports.ts). Viewers may read
// them, as every other read of a pipeline.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asJobId, asPipelineId } from '../../domain/ids.js';
import { testsView, TEST_STATUSES, type AttemptReport, type ViewCase } from '../../domain/test-reports.js';
import { routeTarget } from '../route-access.js';
import { errors, idParams } from '../schemas.js';
import type { RouteContext } from './context.js';

const FILTER_STATUSES = [...TEST_STATUSES, 'flaky'] as const;
type FilterStatus = (typeof FILTER_STATUSES)[number];

const int = { type: 'integer' } as const;
const summarySchema = {
  type: 'object',
  properties: { total: int, passed: int, failed: int, error: int, skipped: int, flaky: int, unlisted: int, durationMs: { type: 'number' } },
  required: ['total', 'passed', 'failed', 'error', 'skipped', 'flaky', 'unlisted', 'durationMs'],
} as const;
const nullableString = { type: ['string', 'null'] } as const;
const testsSchema = {
  type: 'object',
  properties: {
    summary: summarySchema,
    suites: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, jobName: { type: 'string' }, total: int, failed: int, error: int, skipped: int, flaky: int, durationMs: { type: 'number' } },
        required: ['name', 'jobName', 'total', 'failed', 'error', 'skipped', 'flaky', 'durationMs'],
      },
    },
    matched: { type: 'integer', description: 'cases that pass the filters (status, search), before limit' },
    cases: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          jobId: int,
          jobName: { type: 'string' },
          attempt: int,
          suite: { type: 'string' },
          classname: { type: 'string' },
          name: { type: 'string' },
          file: { type: 'string' },
          status: { type: 'string', enum: TEST_STATUSES },
          flaky: { type: 'boolean' },
          durationMs: { type: ['number', 'null'] },
          message: nullableString,
          output: { ...nullableString, description: 'null for passed and skipped cases unless output=all' },
          truncated: { type: 'boolean' },
        },
        required: ['jobId', 'jobName', 'attempt', 'suite', 'classname', 'name', 'file', 'status', 'flaky', 'durationMs', 'message', 'output'],
      },
    },
  },
  required: ['summary', 'suites', 'matched', 'cases'],
} as const;

const querySchema = {
  type: 'object',
  properties: {
    status: { type: 'string', pattern: `^(${FILTER_STATUSES.join('|')})(,(${FILTER_STATUSES.join('|')}))*$`, description: 'comma-separated: failed, error, passed, skipped, flaky' },
    search: { type: 'string', maxLength: 200, description: 'case-insensitive text in the suite, class, name, file or message' },
    output: { type: 'string', enum: ['failures', 'all'], default: 'failures' },
    limit: { type: 'integer', minimum: 1, maximum: 100_000 },
  },
  additionalProperties: false,
} as const;

interface Query {
  status?: string;
  search?: string;
  output?: 'failures' | 'all';
  limit?: number;
}

function answer(reports: AttemptReport[], q: Query) {
  const view = testsView(reports);
  const statuses = q.status ? new Set(q.status.split(',') as FilterStatus[]) : null;
  const needle = q.search?.trim().toLowerCase() ?? '';
  const keep = (c: ViewCase) =>
    (!statuses || statuses.has(c.status) || (c.flaky && statuses.has('flaky'))) &&
    (needle === '' || [c.suite, c.classname, c.name, c.file, c.message ?? ''].some((s) => s.toLowerCase().includes(needle)));
  const matched = statuses || needle !== '' ? view.cases.filter(keep) : view.cases;
  const cases = (q.limit ? matched.slice(0, q.limit) : matched).map((c) =>
    q.output === 'all' || c.status === 'failed' || c.status === 'error' ? c : { ...c, output: null },
  );
  return { summary: view.summary, suites: view.suites, matched: matched.length, cases };
}

export function testRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const schemaOf = (what: string) => ({
    summary: what,
    params: idParams,
    querystring: querySchema,
    response: { 200: testsSchema, ...errors(403, 404) },
  });
  const target = (request: FastifyRequest) => routeTarget(request);

  app.get(
    '/pipelines/:id/tests',
    { config: { access: 'viewer' }, schema: { ...schemaOf("The pipeline's test reports: each job's latest attempt, failures first, flaky passes marked"), tags: ['pipelines'] } },
    async (request) => answer(await ctx.store.testReports.ofPipeline(asPipelineId(target(request).pipeline!.id)), request.query as Query),
  );

  app.get(
    '/jobs/:id/tests',
    { config: { access: 'viewer' }, schema: { ...schemaOf("A job's test report: its latest attempt, failures first, flaky passes marked"), tags: ['jobs'] } },
    async (request) => answer(await ctx.store.testReports.ofJob(asJobId(target(request).job!.id)), request.query as Query),
  );
}
