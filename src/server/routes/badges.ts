// Badges (docs/API.md, "Badges"), as GitLab serves them for a README: a ref's pipeline status and
// its coverage as SVG. Without a token only for a project that allows it (`publicBadges`); for any
// other a caller must be a viewer, and one who may not see the project gets 404, exactly as for a
// project that does not exist, so a badge never tells that a private project is there.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PipelineStatus } from '../../domain/status.js';
import type { Project } from '../../store/store.js';
import { pipelineJson } from '../../views/pipeline-json.js';
import { principalOf } from '../auth.js';
import { badgeSvg, type BadgeTone } from '../badges/badge-svg.js';
import { ApiError } from '../errors.js';
import { findProject, visibleProject } from '../route-access.js';
import { errors, projectParams } from '../schemas.js';
import type { RouteContext } from './context.js';

/** GitLab's words on its pipeline badge. */
const STATUS_WORDS: Record<PipelineStatus, [string, BadgeTone]> = {
  created: ['created', 'neutral'],
  waiting_for_approval: ['waiting', 'busy'],
  pending: ['pending', 'busy'],
  running: ['running', 'busy'],
  manual: ['manual', 'neutral'],
  scheduled: ['scheduled', 'neutral'],
  success: ['passed', 'good'],
  failed: ['failed', 'bad'],
  canceled: ['canceled', 'neutral'],
  skipped: ['skipped', 'neutral'],
};

const badgeQuery = { type: 'object', properties: { ref: { type: 'string', minLength: 1, maxLength: 255 } }, additionalProperties: false } as const;

/** The project, if the badge may be shown to this caller; else the same 404 as for no project. */
async function badgeProject(ctx: RouteContext, request: FastifyRequest): Promise<Project> {
  const param = (request.params as { project: string }).project;
  const project = await findProject(ctx.store, param);
  if (project?.publicBadges) return project;
  const notFound = new ApiError('GANTRY_E_NOT_FOUND', `no project ${JSON.stringify(param)}`);
  // No credentials: the same answer whether the project is private or absent.
  if (request.headers.authorization === undefined && !request.headers.cookie) throw notFound;
  const principal = await principalOf(request, ctx.store, ctx.now());
  return visibleProject(ctx.store, principal, param, 'viewer');
}

function send(reply: FastifyReply, svg: string): FastifyReply {
  // A README's image is fetched through the forge's image proxy: it must not keep a stale status.
  return reply.header('content-type', 'image/svg+xml; charset=utf-8').header('cache-control', 'no-cache, max-age=0').header('x-content-type-options', 'nosniff').send(svg);
}

export function badgeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const schema = (summary: string) => ({ summary, tags: ['badges'], params: projectParams, querystring: badgeQuery, response: errors(400, 404) });

  app.get(
    '/projects/:project/badges/pipeline.svg',
    { config: { public: true }, schema: schema("The status of the ref's latest pipeline (of any ref without ?ref=) as an SVG badge; without a token only if the project has publicBadges") },
    async (request, reply) => {
      const project = await badgeProject(ctx, request);
      const ref = (request.query as { ref?: string }).ref;
      const latest = (await ctx.store.listPipelines({ projectId: project.id, ...(ref ? { ref } : {}), limit: 1 })).items[0];
      const [word, tone] = latest ? STATUS_WORDS[latest.status] : (['unknown', 'neutral'] as const);
      return send(reply, badgeSvg('pipeline', word, tone));
    },
  );

  app.get(
    '/projects/:project/badges/coverage.svg',
    { config: { public: true }, schema: schema("The coverage of the ref's latest successful pipeline (the average of its jobs') as an SVG badge; without a token only if the project has publicBadges") },
    async (request, reply) => {
      const project = await badgeProject(ctx, request);
      const ref = (request.query as { ref?: string }).ref;
      const latest = (await ctx.store.listPipelines({ projectId: project.id, status: 'success', ...(ref ? { ref } : {}), limit: 1 })).items[0];
      const full = latest ? await ctx.store.getPipeline(latest.id) : null;
      const coverage = full ? pipelineJson(full).coverage : null;
      if (coverage === null) return send(reply, badgeSvg('coverage', 'unknown', 'neutral'));
      return send(reply, badgeSvg('coverage', `${coverage.toFixed(2)}%`, coverage >= 75 ? 'good' : coverage >= 50 ? 'busy' : 'bad'));
    },
  );
}
