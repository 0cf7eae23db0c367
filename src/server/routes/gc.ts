// Garbage collection on demand (docs/API.md, "Retention and garbage collection"): an admin starts
// one (it runs in the background, on whichever instance was asked, unless one runs already), asks
// what one would delete (a dry run, answered at once), or looks at the running and the last one.

import type { FastifyInstance } from 'fastify';
import type { GcClaim, GcRun, GcSummary } from '../../store/retention.js';
import { auditWhen } from '../audit.js';
import { errors } from '../schemas.js';
import type { GarbageCollector } from '../retention/collector.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const countProperties = {
  pipelines: { type: 'integer', description: 'pipelines, with their jobs, attempts, logs, artifact records and approvals' },
  logs: { type: 'integer', description: 'attempt logs of pipelines that stay (log retention)' },
  artifacts: { type: 'integer', description: 'artifact records past their expiry (downloads answer 410 from then on)' },
  deliveries: { type: 'integer', description: 'finished webhook deliveries' },
  outbox: { type: 'integer', description: 'commit statuses sent or given up' },
  audit: { type: 'integer', description: 'audit log entries' },
  blobs: { type: 'integer', description: 'artifact and cache archives' },
  blobBytes: { type: 'integer' },
  logObjects: { type: 'integer', description: 'compacted logs' },
  logObjectBytes: { type: 'integer' },
  bytes: { type: 'integer', description: 'blobBytes + logObjectBytes' },
} as const;

const summarySchema = {
  type: 'object',
  properties: {
    dryRun: { type: 'boolean' },
    ...countProperties,
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    durationMs: { type: 'integer' },
  },
  required: ['dryRun', ...Object.keys(countProperties), 'startedAt', 'finishedAt', 'durationMs'],
} as const;

const runSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    startedBy: { type: 'string', enum: ['schedule', 'api', 'backup'] },
    instance: { type: 'string', description: 'the server instance that runs it (host:pid:random)' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
    summary: { anyOf: [summarySchema, { type: 'null' }] },
    error: { type: ['string', 'null'], description: 'why it ended early (a failure, the server stopping, its instance lost)' },
  },
  required: ['id', 'startedBy', 'instance', 'startedAt', 'finishedAt', 'summary', 'error'],
} as const;

export function summaryJson(s: GcSummary) {
  return { ...s, bytes: s.blobBytes + s.logObjectBytes, startedAt: iso(s.startedAt), finishedAt: iso(s.finishedAt) };
}

function runJson(r: GcRun) {
  return {
    id: r.id,
    startedBy: r.startedBy,
    instance: r.holder,
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    summary: r.summary === null ? null : summaryJson(r.summary),
    error: r.error,
  };
}

export function gcRoutes(app: FastifyInstance, ctx: RouteContext & { gc: GarbageCollector }): void {
  app.post(
    '/gc',
    {
      config: { access: 'admin' },
      // No body at all (curl -X POST) is a collection, as {} is.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        summary: 'Start a garbage collection in the background (202), or with dryRun see what one would delete (200)',
        description:
          'Without dryRun: 202 {id, startedAt, alreadyRunning}; while a collection runs (on any instance) a second call answers 202 with ' +
          'that one (alreadyRunning true) and starts none. GET /gc says when it ended and what it deleted. dryRun: true answers, once it ' +
          'has looked, what a collection now would delete (counts per kind and bytes), deleting nothing.',
        tags: ['retention'],
        body: { type: 'object', properties: { dryRun: { type: 'boolean' } }, additionalProperties: false },
        response: {
          200: summarySchema,
          202: {
            type: 'object',
            properties: { id: { type: 'integer' }, startedAt: { type: 'string', format: 'date-time' }, alreadyRunning: { type: 'boolean' } },
            required: ['id', 'startedAt', 'alreadyRunning'],
          },
          ...errors(400, 403),
        },
      },
    },
    async (request, reply) => {
      const body = request.body as { dryRun?: boolean };
      if (body.dryRun) return reply.status(200).send(summaryJson(await ctx.gc.dryRun()));
      const at = ctx.now();
      const audit = auditWhen(request, at, (c: GcClaim) => c.kind === 'started', (c) => ({
        action: 'gc.run',
        projectId: null,
        target: { type: 'gc', id: String(c.run.id) },
      }));
      const claim = await ctx.gc.start('api', { audit });
      return reply.status(202).send({ id: claim.run.id, startedAt: iso(claim.run.startedAt), alreadyRunning: claim.kind !== 'started' });
    },
  );

  app.get(
    '/gc',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'The garbage collection under way (on any instance), the last one finished, and the instance retention defaults',
        tags: ['retention'],
        response: {
          200: {
            type: 'object',
            properties: {
              running: { anyOf: [runSchema, { type: 'null' }] },
              last: { anyOf: [runSchema, { type: 'null' }] },
              defaults: {
                type: 'object',
                properties: {
                  pipelineDays: { type: 'integer' },
                  keepPerRef: { type: 'integer' },
                  logDays: { type: 'integer' },
                  artifactsExpireInSeconds: { type: ['integer', 'null'] },
                  keepLatestArtifacts: { type: 'boolean' },
                  deliveryDays: { type: 'integer' },
                  outboxDays: { type: 'integer' },
                },
              },
            },
            required: ['running', 'last', 'defaults'],
          },
          ...errors(403),
        },
      },
    },
    async () => {
      const { running, last } = await ctx.store.retention.runs(ctx.now());
      return { running: running === null ? null : runJson(running), last: last === null ? null : runJson(last), defaults: ctx.retention };
    },
  );
}
