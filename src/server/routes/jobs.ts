// A job's actions: play (a manual job, or a scheduled one now: GitLab's "Run now"), unschedule (a
// scheduled job becomes manual), cancel, retry, each in the audit log. Playing or retrying a job of
// a protected ref's pipeline needs maintainer (src/server/protected-refs.ts); canceling and
// unscheduling, which only hold work back, do not.
// Its log is served by src/server/logs/.

import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import { routeTarget } from '../route-access.js';
import { errors, idParams, jobSchema } from '../schemas.js';
import type { RouteContext } from './context.js';
import { auditWhen } from '../audit.js';
import { refuseOnProtectedPipeline } from '../protected-refs.js';
import { jobJson } from '../views.js';

export function jobRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const action = (verb: 'play' | 'unschedule' | 'cancel' | 'retry', summary: string) =>
    app.post(
      `/jobs/:id/${verb}`,
      { config: { access: 'developer' }, schema: { summary, tags: ['jobs'], params: idParams, response: { 200: jobSchema, ...errors(403, 404, 409) } } },
      async (request) => {
        const target = routeTarget(request);
        const job = target.job!;
        const jobId = job.id;
        const pipeline = target.pipeline!;
        if (pipeline.runsOn === 'local') throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `job ${jobId} belongs to a gantry run pipeline`);
        if (verb === 'play' || verb === 'retry') {
          const project = await ctx.store.getProject(pipeline.projectId);
          if (!project) throw new ApiError('GANTRY_E_NOT_FOUND', `no job ${jobId}`);
          refuseOnProtectedPipeline(request.principal!, project, pipeline, verb);
        }
        const at = ctx.now();
        // Only a move that happened is recorded (not a job already finished, or not manual).
        const audit = auditWhen(request, at, (r: unknown) => r !== null && typeof r === 'object', () => ({
          action: `job.${verb}` as const,
          projectId: pipeline.projectId,
          target: { type: 'job', id: String(jobId) },
          details: { name: job.name, pipelineId: pipeline.id, ref: pipeline.ref },
        }));
        const r =
          verb === 'play'
            ? await ctx.store.fleet.playJob(jobId, at, ctx.settings, audit)
            : verb === 'unschedule'
              ? await ctx.store.fleet.unscheduleJob(jobId, at, audit)
              : verb === 'cancel'
                ? await ctx.store.fleet.cancelJob(jobId, at, ctx.settings, audit)
                : await ctx.store.fleet.retryJob(jobId, at, ctx.settings, audit);
        if (r === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no job ${jobId}`);
        if (typeof r === 'string') {
          const why =
            r === 'not-manual'
              ? 'is neither a manual job waiting to be played nor a scheduled one'
              : r === 'not-scheduled'
                ? 'is not a scheduled (delayed) job'
                : r === 'finished'
                  ? 'has already finished'
                  : 'has not finished';
          throw new ApiError('GANTRY_E_ILLEGAL_TRANSITION', `job ${jobId} (${job.status}) ${why}`);
        }
        return jobJson(r);
      },
    );
  action('play', 'Play a manual job, or run a scheduled (delayed) job now');
  action('unschedule', 'Unschedule a scheduled (delayed) job: it becomes a manual job');
  action('cancel', 'Cancel a job: a waiting one at once, a running one by SIGTERM on its agent (then SIGKILL after the grace)');
  action('retry', 'Retry a finished job (a new attempt), and the jobs it held back');
}
