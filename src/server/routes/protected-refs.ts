// A project's protected refs (docs/SECURITY.md, "Protected refs and variables"): the branch and tag
// globs whose pipelines get its protected variables and which only maintainers may run by hand.
// Read by anyone who may see the project (a developer refused on `main` can see why); changed by
// its maintainers, in the audit log.

import type { FastifyInstance } from 'fastify';
import type { ProtectedRefs } from '../../domain/protected-refs.js';
import { auditWhen } from '../audit.js';
import { ApiError } from '../errors.js';
import { routeProject } from '../route-access.js';
import { errors, projectParams } from '../schemas.js';
import type { RouteContext } from './context.js';

const globs = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 255 },
  maxItems: 100,
  description: "names, or names with `*` (any run of characters, `/` included: GitLab's protected branch wildcard)",
} as const;

const protectedRefsSchema = {
  type: 'object',
  properties: { branches: globs, tags: globs },
  required: ['branches', 'tags'],
  additionalProperties: false,
} as const;

export function protectedRefRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/projects/:project/protected-refs',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "The project's protected branch and tag globs",
        tags: ['projects'],
        params: projectParams,
        response: { 200: protectedRefsSchema, ...errors(403, 404) },
      },
    },
    async (request) => routeProject(request).protectedRefs,
  );

  app.put(
    '/projects/:project/protected-refs',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Replace the project's protected branch and tag globs",
        description:
          'A pipeline of a branch matching a branch glob, or of a tag matching a tag glob, gets the protected variables ' +
          '(CI_COMMIT_REF_PROTECTED=true), and only maintainers (and admins) may start, retry or play its jobs by hand: ' +
          'a developer gets 403 GANTRY_E_PROTECTED_REF. Pushes by webhook, schedules and trigger tokens are not refused. ' +
          'Empty lists protect nothing (the default).',
        tags: ['projects'],
        params: projectParams,
        body: protectedRefsSchema,
        response: { 200: protectedRefsSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const body = request.body as ProtectedRefs;
      const refs: ProtectedRefs = { branches: [...new Set(body.branches)], tags: [...new Set(body.tags)] };
      const audit = auditWhen(request, ctx.now(), (ok: boolean) => ok, () => ({
        action: 'protected_refs.set',
        projectId: project.id,
        target: { type: 'protected_refs', id: null },
        details: { branches: refs.branches, tags: refs.tags },
      }));
      if (!(await ctx.store.setProtectedRefs(project.id, refs, audit))) throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${project.id}`);
      return refs;
    },
  );
}
