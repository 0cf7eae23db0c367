// A job's log over HTTP (docs/API.md, "Logs"): the raw bytes with Range, the live stream as
// Server-Sent Events, the sections, per-piece arrival times, and search. Every route needs the
// caller to be a viewer of the job's project like the rest of the API; the stream too (the token
// goes in the Authorization header, never in the URL).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asJobId } from '../../domain/ids.js';
import { isFinishedJob } from '../../domain/status.js';
import type { Job } from '../../store/store.js';
import { routeTarget, type RouteTarget } from '../route-access.js';
import { ApiError } from '../errors.js';
import { digitsSchema, errors, idOf, idParams, numOrUndefined } from '../schemas.js';
import type { RouteContext } from '../routes/context.js';
import { forEachPiece, readAll, readRange, type AttemptLogs, type AttemptLogView } from './attempt-logs.js';
import type { LogFeeds } from './log-feed.js';
import { LogSearcher } from './search.js';
import { SectionScanner } from './sections.js';
import { LogStreamViewer } from './stream.js';
import type { StreamAccess } from '../stream-access.js';

export interface LogRouteContext extends RouteContext {
  attemptLogs: AttemptLogs;
  feeds: LogFeeds;
  /** Keep-alive comment period of the live stream (15 s). */
  keepAliveMs: number;
  /** Ends a live stream whose caller may no longer read the job (stream-access.ts). */
  streamAccess: StreamAccess;
}

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

const attemptQuery = { attempt: digitsSchema };
const binary = { content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };

interface Located {
  job: Job;
  view: AttemptLogView | null;
  /** The attempt number asked for, or the latest; 0 when the job has none yet. */
  number: number;
}

async function locate(ctx: LogRouteContext, request: FastifyRequest): Promise<Located> {
  // Found, and the caller's role in its project checked, before the handler (route-access.ts): the
  // job and its pipeline's row alone (its project and where it runs), not the pipeline's jobs.
  const { job, pipeline } = routeTarget(request) as Required<RouteTarget>;
  const jobId = job.id;
  const asked = numOrUndefined((request.query as { attempt?: string }).attempt);
  const number = asked ?? job.attemptCount;
  if (asked !== undefined && (asked < 1 || asked > job.attemptCount)) {
    throw new ApiError('GANTRY_E_NOT_FOUND', job.attemptCount === 0 ? `job ${jobId} has not run yet: no log` : `job ${jobId} has attempts 1 to ${job.attemptCount}`);
  }
  const view = number === 0 ? null : await ctx.attemptLogs.view(job, number, pipeline.runsOn);
  if (number > 0 && !view) throw new ApiError('GANTRY_E_NOT_FOUND', `job ${jobId} has no attempt ${number}`);
  return { job, view, number };
}

async function locateRun(ctx: LogRouteContext, request: FastifyRequest): Promise<AttemptLogView> {
  const { job, view } = await locate(ctx, request);
  if (!view) throw new ApiError('GANTRY_E_NOT_FOUND', `job ${job.id} has not run yet: no log`);
  return view;
}

/** The resume point of a stream: Last-Event-ID (what EventSource sends back), else ?from=. */
function resumeOffset(request: FastifyRequest): number {
  const header = request.headers['last-event-id'];
  const from = (request.query as { from?: string }).from;
  if (header !== undefined) {
    const v = Array.isArray(header) ? header[0]! : header;
    if (!/^[0-9]{1,15}$/.test(v.trim())) throw new ApiError('GANTRY_E_INVALID_REQUEST', 'Last-Event-ID must be a byte offset (digits)', { field: 'headers.last-event-id' });
    return Number(v.trim());
  }
  return from === undefined ? 0 : Number(from);
}

export function logRoutes(app: FastifyInstance, ctx: LogRouteContext): void {
  app.get(
    '/jobs/:id/log',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "The raw bytes of a job's log (latest attempt, or ?attempt=N); Range: bytes=a-b supported",
        tags: ['logs'],
        params: idParams,
        querystring: { type: 'object', properties: attemptQuery, additionalProperties: false },
        headers: { type: 'object', properties: { range: { type: 'string' } } },
        response: { 200: { description: 'the whole log', ...binary }, 206: { description: 'the range asked for', ...binary }, ...errors(403, 404, 416) },
      },
    },
    async (request, reply) => {
      const view = await locateRun(ctx, request);
      const { size } = await view.state();
      reply.header('accept-ranges', 'bytes');
      const range = parseRange(request.headers.range, size);
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${size}`);
        throw new ApiError('GANTRY_E_RANGE_NOT_SATISFIABLE', `the log has ${size} bytes`);
      }
      reply.type('application/octet-stream');
      if (range === null) return reply.status(200).send(await readAll(view));
      const r = await readRange(view, range.start, range.end);
      if (r.dropped) reply.header('gantry-log-dropped', `${range.start}-${r.end - 1}`);
      reply.header('content-range', `bytes ${range.start}-${r.end - 1}/${size}`);
      return reply.status(206).send(r.body);
    },
  );

  app.get(
    '/jobs/:id/log/stream',
    {
      config: { access: 'viewer', routeClass: 'stream' },
      schema: {
        summary: "A job's log live, as Server-Sent Events: `log` events (id = offset after the bytes), then one `end` event",
        tags: ['logs'],
        params: idParams,
        querystring: { type: 'object', properties: { ...attemptQuery, from: digitsSchema }, additionalProperties: false },
        headers: { type: 'object', properties: { 'last-event-id': { type: 'string' } } },
        response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors(400, 403, 404, 416) },
      },
    },
    async (request, reply) => {
      const from = resumeOffset(request);
      let { job, view } = await locate(ctx, request);
      if (view) {
        const s = await view.state();
        if (s.end && from > s.size) {
          throw new ApiError('GANTRY_E_RANGE_NOT_SATISFIABLE', `the log has ${s.size} bytes; cannot resume from ${from}`);
        }
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // nginx and similar proxies would otherwise hold events back in their buffers.
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();
      res.write(': gantry log stream\n\n');
      // At shutdown the stream ends without an end event: the client resumes on another instance.
      const untrack = ctx.feeds.track({ end: () => res.destroy() });
      const unwatch = ctx.streamAccess.watch(request, () => res.destroy());

      try {
        if (!view) {
          // The job has not run yet: wait (with keep-alives) for its first attempt.
          const waited = await waitForAttempt(ctx, job, res);
          if (waited === 'gone') return;
          if ('status' in waited) {
            // Ended without running (skipped, canceled while waiting): an end with no attempt.
            res.end(`event: end\ndata: ${JSON.stringify({ attempt: null, status: waited.status, exitCode: waited.exitCode, failureReason: waited.failureReason })}\n\n`);
            return;
          }
          view = waited.view;
          job = waited.job;
        }
        const { feed, release } = await ctx.feeds.acquire(view);
        try {
          const m = ctx.metrics;
          await new LogStreamViewer(res, view, feed, from, ctx.keepAliveMs, {
            opened: () => m.logStreamClients.inc(),
            closed: () => m.logStreamClients.dec(),
            delivered: (lateMs) => m.logDelivery.observe(Math.max(0, lateMs) / 1000),
          }).run();
        } finally {
          release();
        }
      } catch (err) {
        request.log.error({ err }, 'log stream failed');
        res.end();
      } finally {
        untrack();
        unwatch();
      }
    },
  );

  app.get(
    '/jobs/:id/log/sections',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "The log's sections (GitLab section_start/section_end markers, the agent's steps): offsets, times, durations",
        tags: ['logs'],
        params: idParams,
        querystring: { type: 'object', properties: attemptQuery, additionalProperties: false },
        response: { ...errors(403, 404) },
      },
    },
    async (request) => {
      const view = await locateRun(ctx, request);
      const { size, end } = await view.state();
      const scanner = new SectionScanner();
      await forEachPiece(view, 0, size, (p) => scanner.push(p));
      return { attempt: view.number, size, finished: end !== null, sections: scanner.sections };
    },
  );

  app.get(
    '/jobs/:id/log/times',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'When each piece of the log in a byte range reached the server (ms since epoch), for per-line timestamps',
        tags: ['logs'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: { ...attemptQuery, start: digitsSchema, end: digitsSchema, limit: { type: 'string', pattern: '^([1-9][0-9]{0,3}|10000)$' } },
          additionalProperties: false,
        },
        response: { ...errors(403, 404) },
      },
    },
    async (request) => {
      const view = await locateRun(ctx, request);
      const q = request.query as { start?: string; end?: string; limit?: string };
      const { size } = await view.state();
      const start = numOrUndefined(q.start) ?? 0;
      const end = Math.min(size, numOrUndefined(q.end) ?? size);
      const limit = numOrUndefined(q.limit) ?? 1000;
      const pieces: { offset: number; end: number; at: number; dropped?: boolean }[] = [];
      await forEachPiece(view, start, end, (p) => {
        pieces.push(p.data === null ? { offset: p.offset, end: p.end, at: p.at, dropped: true } : { offset: p.offset, end: p.end, at: p.at });
        return pieces.length < limit;
      });
      const last = pieces[pieces.length - 1];
      return { attempt: view.number, size, pieces, next: last && last.end < end ? last.end : null };
    },
  );

  app.get(
    '/jobs/:id/log/search',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'Lines of the log that contain a string: line numbers, offsets and (the start of) each line',
        tags: ['logs'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            ...attemptQuery,
            q: { type: 'string', minLength: 1, maxLength: 1000 },
            ignoreCase: { type: 'boolean' },
            limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$' },
          },
          required: ['q'],
          additionalProperties: false,
        },
        response: { ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const view = await locateRun(ctx, request);
      const q = request.query as { q: string; ignoreCase?: boolean; limit?: string };
      const limit = numOrUndefined(q.limit) ?? 100;
      const { size } = await view.state();
      const searcher = new LogSearcher(q.q, q.ignoreCase === true, limit);
      await forEachPiece(view, 0, size, (p) => {
        searcher.push(p);
        return !searcher.full;
      });
      if (!searcher.full) searcher.finish();
      return { attempt: view.number, query: q.q, hits: searcher.hits, limited: searcher.full };
    },
  );
}

type Waited = { view: AttemptLogView; job: Job } | { status: string; exitCode: number | null; failureReason: string | null } | 'gone';

/** Until the job's first attempt exists (or the job ends without one, or the viewer leaves). */
async function waitForAttempt(ctx: LogRouteContext, job: Job, res: import('node:http').ServerResponse): Promise<Waited> {
  let gone = false;
  res.on('close', () => (gone = true));
  let sinceKeepAlive = 0;
  const tick = 250;
  for (;;) {
    if (gone) return 'gone';
    const j = await ctx.store.getJob(job.id);
    if (j && j.attemptCount > 0) {
      const pipeline = (await ctx.store.getPipeline(j.pipelineId))!.pipeline;
      const view = await ctx.attemptLogs.view(j, 1, pipeline.runsOn);
      if (view) return { view, job: j };
    }
    if (j && isFinishedJob(j.status)) return { status: j.status, exitCode: j.exitCode, failureReason: j.failureReason };
    await new Promise((r) => setTimeout(r, tick));
    sinceKeepAlive += tick;
    if (sinceKeepAlive >= ctx.keepAliveMs) {
      sinceKeepAlive = 0;
      res.write(': keep-alive\n\n');
    }
  }
}
