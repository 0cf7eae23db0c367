// A job's log: the raw bytes of one attempt, with single-range Range support so a viewer can
// resume from the byte it last saw.

import type { FastifyInstance } from 'fastify';
import { asJobId } from '../../domain/ids.js';
import { requireProject } from '../auth.js';
import { ApiError } from '../errors.js';
import { digitsSchema, errors, idOf, idParams, jobSchema, numOrUndefined } from '../schemas.js';
import type { RouteContext } from './context.js';
import type { Job } from '../../store/store.js';
import { jobJson } from '../views.js';

/**
 * The byte range [start, end) a Range header asks of a `size`-byte log; null to send it all
 * (no header, a malformed one, or several ranges: RFC 9110 lets a server ignore those); 'unsatisfiable'
 * when the range starts at or past the end.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // bytes=-N: the last N bytes.
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Number(m[2]);
  if (m[2] !== '' && last < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) + 1 };
}

export function jobRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/jobs/:id/log',
    {
      schema: {
        summary: "The raw bytes of a job's log (latest attempt, or ?attempt=N); Range: bytes=a-b supported",
        tags: ['jobs'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: { attempt: digitsSchema },
          additionalProperties: false,
        },
        headers: { type: 'object', properties: { range: { type: 'string' } } },
        response: {
          200: { description: 'the whole log', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          206: { description: 'the range asked for', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          ...errors(403, 404, 416),
        },
      },
    },
    async (request, reply) => {
      const jobId = asJobId(idOf(request.params));
      const job = await ctx.store.getJob(jobId);
      if (!job) throw new ApiError('GANTRY_E_NOT_FOUND', `no job ${jobId}`);
      const pipeline = await ctx.store.getPipeline(job.pipelineId);
      requireProject(request, pipeline!.pipeline.projectId);
      const attempt = numOrUndefined((request.query as { attempt?: string }).attempt) ?? job.attemptCount;
      if (attempt < 1 || attempt > job.attemptCount) {
        throw new ApiError(
          'GANTRY_E_NOT_FOUND',
          job.attemptCount === 0 ? `job ${jobId} has not run yet: no log` : `job ${jobId} has attempts 1 to ${job.attemptCount}`,
        );
      }
      const source = await logSourceOf(ctx, job, attempt, pipeline!.pipeline.runsOn);
      const size = await source.size();
      reply.header('accept-ranges', 'bytes');
      const range = parseRange(request.headers.range, size);
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${size}`);
        throw new ApiError('GANTRY_E_RANGE_NOT_SATISFIABLE', `the log has ${size} bytes`);
      }
      reply.type('application/octet-stream');
      if (range === null) return reply.status(200).send(await source.read(0, size));
      reply.header('content-range', `bytes ${range.start}-${range.end - 1}/${size}`);
      return reply.status(206).send(await source.read(range.start, range.end));
    },
  );

  const action = (verb: 'play' | 'cancel' | 'retry', summary: string) =>
    app.post(
      `/jobs/:id/${verb}`,
      { schema: { summary, tags: ['jobs'], params: idParams, response: { 200: jobSchema, ...errors(403, 404, 409) } } },
      async (request) => {
        const jobId = asJobId(idOf(request.params));
        const job = await ctx.store.getJob(jobId);
        if (!job) throw new ApiError('GANTRY_E_NOT_FOUND', `no job ${jobId}`);
        const pipeline = (await ctx.store.getPipeline(job.pipelineId))!.pipeline;
        requireProject(request, pipeline.projectId);
        if (pipeline.runsOn === 'local') throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `job ${jobId} belongs to a gantry run pipeline`);
        const at = ctx.now();
        const r =
          verb === 'play'
            ? await ctx.store.fleet.playJob(jobId, at, ctx.settings)
            : verb === 'cancel'
              ? await ctx.store.fleet.cancelJob(jobId, at, ctx.settings)
              : await ctx.store.fleet.retryJob(jobId, at, ctx.settings);
        if (r === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no job ${jobId}`);
        if (typeof r === 'string') {
          const why = r === 'not-manual' ? 'is not a manual job waiting to be played' : r === 'finished' ? 'has already finished' : 'has not finished';
          throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `job ${jobId} (${job.status}) ${why}`);
        }
        return jobJson(r);
      },
    );
  action('play', 'Play a manual job');
  action('cancel', 'Cancel a job: a waiting one at once, a running one by SIGTERM on its agent (then SIGKILL after the grace)');
  action('retry', 'Retry a finished job (a new attempt), and the jobs it held back');
}

interface LogSource {
  size(): Promise<number>;
  read(start: number, end: number): Promise<Buffer>;
}

/** A `gantry run` attempt's log is in the file log store; a fleet attempt's in the store's chunks. */
async function logSourceOf(ctx: RouteContext, job: Job, attempt: number, runsOn: 'local' | 'fleet'): Promise<LogSource> {
  if (runsOn === 'local') {
    const key = { pipelineId: job.pipelineId, jobId: job.id, attempt };
    return { size: async () => ctx.logs.size(key), read: async (a, b) => ctx.logs.read(key, a, b) };
  }
  const row = (await ctx.store.listAttempts(job.id)).find((a) => a.number === attempt);
  if (!row) throw new ApiError('GANTRY_E_NOT_FOUND', `job ${job.id} has no attempt ${attempt}`);
  return { size: () => ctx.store.fleet.logSize(row.id), read: (a, b) => ctx.store.fleet.readLog(row.id, a, b) };
}
