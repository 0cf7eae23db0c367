// Projects: a name and the git URL their pipelines come from.

import { FORK_APPROVALS } from '../../domain/approvals.js';
import type { FastifyInstance } from 'fastify';
import { asProjectId } from '../../domain/ids.js';
import type { Project, ProjectPatch } from '../../store/store.js';
import { auditWhen, gitUrlForAudit } from '../audit.js';
import { requireAdmin } from '../auth.js';
import { visibleProjects } from '../policy.js';
import { ApiError } from '../errors.js';
import { NETWORK_POLICIES } from '../../domain/isolation.js';
import {
  digitsSchema,
  errors,
  gitUrlSchema,
  limitSchema,
  numOrUndefined,
  pageOf,
  projectJobLimitsSchema,
  projectNameSchema,
  projectParams,
  projectRetentionProperties,
  projectSchema,
} from '../schemas.js';
import { parseExpireIn } from '../../domain/retention.js';
import { projectJson } from '../views.js';
import type { RouteContext } from './context.js';
import { routeProject } from '../route-access.js';
import { SHARE_WEIGHT_MAX, URGENT_GLOB_MAX_LENGTH, URGENT_JOBS_MAX } from '../../domain/fair-share.js';

export function projectRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post(
    '/projects',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Create a project',
        tags: ['projects'],
        body: {
          type: 'object',
          properties: {
            name: projectNameSchema,
            gitUrl: gitUrlSchema,
          },
          required: ['name', 'gitUrl'],
          additionalProperties: false,
        },
        response: { 201: projectSchema, ...errors(400, 403, 409) },
      },
    },
    async (request, reply) => {
      const { name, gitUrl } = request.body as { name: string; gitUrl: string };
      const at = ctx.now();
      const audit = auditWhen(request, at, (p: Project | null) => p !== null, (p) => ({ action: 'project.create', projectId: p!.id, target: { type: 'project', id: name }, details: { gitUrl: gitUrlForAudit(gitUrl) } }));
      const project = await ctx.store.createProject(name, gitUrl, at, audit);
      if (!project) throw new ApiError('GANTRY_E_CONFLICT', `a project named ${JSON.stringify(name)} exists`);
      return reply.status(201).header('location', `/api/v1/projects/${project.id}`).send(projectJson(project));
    },
  );

  app.get(
    '/projects',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: 'List the projects the caller may see, oldest first',
        tags: ['projects'],
        querystring: {
          type: 'object',
          properties: {
            limit: limitSchema,
            after: digitsSchema,
          },
          additionalProperties: false,
        },
        response: { 200: pageOf(projectSchema), ...errors(400) },
      },
    },
    async (request) => {
      const q = request.query as { limit?: string; after?: string };
      const after = numOrUndefined(q.after);
      // Only the projects the caller may see: the others do not exist for it.
      const visible = visibleProjects(request.principal!);
      const page = await ctx.store.pageProjects({
        limit: numOrUndefined(q.limit),
        afterId: after === undefined ? undefined : asProjectId(after),
        ...(visible === 'all' ? {} : { onlyIds: visible }),
      });
      return { items: page.items.map(projectJson), next: page.next };
    },
  );

  app.get(
    '/projects/:project',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'A project by id or name',
        tags: ['projects'],
        params: projectParams,
        response: { 200: projectSchema, ...errors(403, 404) },
      },
    },
    async (request) => projectJson(routeProject(request)),
  );

  const limitOrNull = { type: ['integer', 'null'], minimum: 1, maximum: 100_000 } as const;
  const networkSchema = { type: 'string', enum: [...NETWORK_POLICIES] } as const;
  app.patch(
    '/projects/:project',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Change a project's git URL (admin), limits, auto-cancel, isolation, share weight (admin), urgent jobs or retention",
        description:
          'maxRunning and maxRunningPerPipeline: jobs of the project running at once, in all and per pipeline (null: no limit). ' +
          'autoCancel: a new pipeline cancels older ones on its ref whose started jobs are all interruptible. ' +
          'requireSandbox: every job needs a sandboxed agent whose isolation check passed. network, forkNetwork: the network of ' +
          "trusted pipelines' jobs and of fork pipelines' jobs (none: loopback only, which only a sandboxed agent enforces). " +
          'forkIdTokens: jobs of pipelines from forks get the identity tokens (id_tokens) they ask for, with ref_protected false (default false: none). ' +
          'publicBadges: its pipeline and coverage badges (GET /projects/:project/badges/pipeline.svg, coverage.svg) answer without a token (default false). ' +
          "forkApproval: which pipelines from forks wait for a maintainer's approval: all (the default), first-time (an author with no approved pipeline on the project yet), none. " +
          "jobLimits: replaces the job limits whole (memoryBytes >= 16 MiB, pids >= 16, 0 < cpus <= 1024; null or left out: the agent's own). " +
          'weight (admin): the project is offered work weight times as often as a project of weight 1 when both wait (default 1). ' +
          "urgentJobs: job name globs (`*`: any characters) whose jobs go before the project's others, within its share; replaces the list, and applies to jobs already queued. " +
          'retention: the fields given change (null: back to the instance default), the others stay: pipelineDays, keepPerRef, logDays, ' +
          "artifactsExpireIn (GitLab's expire_in syntax or never), keepLatestArtifacts. " +
          'Absent fields stay.',
        tags: ['projects'],
        params: projectParams,
        body: {
          type: 'object',
          properties: {
            gitUrl: gitUrlSchema,
            maxRunning: limitOrNull,
            maxRunningPerPipeline: limitOrNull,
            autoCancel: { type: 'boolean' },
            requireSandbox: { type: 'boolean' },
            network: networkSchema,
            forkNetwork: networkSchema,
            forkIdTokens: { type: 'boolean' },
            publicBadges: { type: 'boolean' },
            forkApproval: { type: 'string', enum: [...FORK_APPROVALS] },
            jobLimits: projectJobLimitsSchema,
            weight: { type: 'integer', minimum: 1, maximum: SHARE_WEIGHT_MAX },
            urgentJobs: {
              type: 'array',
              maxItems: URGENT_JOBS_MAX,
              items: { type: 'string', minLength: 1, maxLength: URGENT_GLOB_MAX_LENGTH, pattern: '^[^\\u0000-\\u001f]+$' },
            },
            retention: { type: 'object', properties: projectRetentionProperties, additionalProperties: false, minProperties: 1 },
          },
          additionalProperties: false,
          minProperties: 1,
        },
        response: { 200: projectSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const patch = request.body as ProjectPatch;
      // A git URL may be a path on the server: only an admin points a project at one.
      if (patch.gitUrl !== undefined) requireAdmin(request);
      // A weight takes its share from every other project's: the instance's call, not the project's.
      if (patch.weight !== undefined) requireAdmin(request);
      const expireIn = patch.retention?.artifactsExpireIn;
      if (typeof expireIn === 'string' && parseExpireIn(expireIn) === undefined) {
        throw new ApiError('GANTRY_E_INVALID_REQUEST', `body.retention.artifactsExpireIn must be a duration as GitLab writes expire_in (30 days, 1h 30m) or never, not ${JSON.stringify(expireIn)}`, {
          field: 'body.retention.artifactsExpireIn',
        });
      }
      const audit = auditWhen(request, ctx.now(), (p: Project | null) => p !== null, () => ({ action: 'project.update', projectId: project.id, target: { type: 'project', id: project.name }, details: { ...patch, ...(patch.gitUrl === undefined ? {} : { gitUrl: gitUrlForAudit(patch.gitUrl) }) } }));
      const updated = await ctx.store.updateProject(project.id, patch, audit);
      if (!updated) throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${project.id}`);
      return projectJson(updated);
    },
  );
}
