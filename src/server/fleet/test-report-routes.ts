// An agent's test report (docs/PROTOCOL.md §11, "Test reports"): the agent parsed its attempt's
// JUnit files and sends the bounded result as JSON; the server never parses a job's XML. The
// schema holds every bound of TEST_REPORT_LIMITS again (an agent is trusted with nothing but its
// own attempt), the counts must add up, and the store writes the row only while the attempt is
// running under the token that sent it.

import type { FastifyInstance } from 'fastify';
import { asAttemptId } from '../../domain/ids.js';
import { reportProblem, TEST_REPORT_LIMITS, TEST_STATUSES, type TestReport } from '../../domain/test-reports.js';
import { ApiError } from '../errors.js';
import { MAX_BODY_LIMIT } from '../overload/body-limits.js';
import { hashToken } from '../tokens.js';
import { fenceError, type FleetContext } from './agent-routes.js';

const L = TEST_REPORT_LIMITS;
const count = { type: 'integer', minimum: 0, maximum: 1e9 } as const;
const name = { type: 'string', maxLength: L.name } as const;

export const testReportBodySchema = {
  type: 'object',
  properties: {
    counts: {
      type: 'object',
      properties: { total: count, passed: count, failed: count, error: count, skipped: count, durationMs: { type: 'number', minimum: 0, maximum: 1e13 } },
      required: ['total', 'passed', 'failed', 'error', 'skipped', 'durationMs'],
      additionalProperties: false,
    },
    unlisted: count,
    files: { type: 'integer', minimum: 1, maximum: L.files },
    cases: {
      type: 'array',
      maxItems: L.cases,
      items: {
        type: 'object',
        properties: {
          suite: name,
          classname: name,
          name,
          file: name,
          status: { type: 'string', enum: TEST_STATUSES },
          durationMs: { type: ['number', 'null'], minimum: 0, maximum: 1e12 },
          message: { type: ['string', 'null'], maxLength: L.message },
          output: { type: ['string', 'null'], maxLength: L.output },
          truncated: { type: 'boolean', const: true },
        },
        required: ['suite', 'classname', 'name', 'file', 'status', 'durationMs', 'message', 'output'],
        additionalProperties: false,
      },
    },
  },
  required: ['counts', 'unlisted', 'files', 'cases'],
  additionalProperties: false,
} as const;

export function testReportRoutes(app: FastifyInstance, ctx: FleetContext): void {
  app.post(
    '/agent/attempts/:id/tests',
    {
      config: { agentProtocol: 'agent' as const },
      // The report's own bound (TEST_REPORT_LIMITS.reportBytes) plus its counts.
      bodyLimit: MAX_BODY_LIMIT,
      schema: {
        tags: ['agent protocol'],
        summary: "Record the attempt's test report (its artifacts:reports:junit files, parsed by the agent)",
        params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'], additionalProperties: false },
        body: testReportBodySchema,
      },
    },
    async (request, reply) => {
      const token = request.headers['gantry-attempt-token'];
      if (typeof token !== 'string' || token === '') {
        throw new ApiError('GANTRY_E_INVALID_REQUEST', 'the gantry-attempt-token header is required', { field: 'headers.gantry-attempt-token' });
      }
      const report = request.body as TestReport;
      const problem = reportProblem(report);
      if (problem) throw new ApiError('GANTRY_E_TEST_REPORT_INVALID', problem);
      const attemptId = asAttemptId((request.params as { id: number }).id);
      const r = await ctx.store.testReports.recordFenced(attemptId, hashToken(token), report, ctx.now());
      if (r.kind === 'ok') return reply.status(r.created ? 201 : 200).send({ total: report.counts.total });
      if (r.kind === 'conflict') throw new ApiError('GANTRY_E_TEST_REPORT_INVALID', 'this attempt already recorded another test report');
      throw fenceError(r);
    },
  );
}
