// A project's members and their roles (viewer, developer, maintainer: docs/SECURITY.md, "Roles"):
// listed by anyone who may see the project, changed by its maintainers. A maintainer cannot take
// the project's last maintainer away (demoted or removed, themself included); an admin can.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ROLES, type Member, type User } from '../../store/users.js';
import { ApiError } from '../errors.js';
import { may } from '../policy.js';
import { routeProject } from '../route-access.js';
import { auditWhen } from '../audit.js';
import { errors, projectParams } from '../schemas.js';
import type { RouteContext } from './context.js';
import { usernameSchema } from './users.js';

const iso = (ms: number) => new Date(ms).toISOString();

const memberJson = (m: Member) => ({ userId: m.userId, username: m.username, role: m.role, grantedBy: m.grantedBy, createdAt: iso(m.createdAt), updatedAt: iso(m.updatedAt) });

const memberSchema = {
  type: 'object',
  properties: {
    userId: { type: 'integer' },
    username: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    grantedBy: {
      type: 'string',
      enum: ['manual', 'sso'],
      description: 'sso: given by the single sign-on group mapping, which takes it away when the groups no longer give it; manual: given or changed by a person',
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['userId', 'username', 'role', 'grantedBy', 'createdAt', 'updatedAt'],
} as const;

const memberParams = {
  type: 'object',
  properties: { ...projectParams.properties, username: usernameSchema },
  required: ['project', 'username'],
} as const;

export function memberRoutes(app: FastifyInstance, ctx: RouteContext): void {
  async function userOf(request: FastifyRequest): Promise<User> {
    const { username } = request.params as { username: string };
    const user = await ctx.store.users.getUser(username);
    if (!user) throw new ApiError('GANTRY_E_NOT_FOUND', `no user ${JSON.stringify(username)}`);
    return user;
  }
  const lastMaintainer = (projectName: string) =>
    new ApiError('GANTRY_E_LAST_MAINTAINER', `this would leave project ${projectName} without a maintainer: make someone else maintainer first (or ask an admin)`);

  app.get(
    '/projects/:project/members',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "A project's members and their roles, by username (instance admins may do everything without being members)",
        tags: ['members'],
        params: projectParams,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: memberSchema } }, required: ['items'] }, ...errors(403, 404) },
      },
    },
    async (request) => ({ items: (await ctx.store.users.listMembers(routeProject(request).id)).map(memberJson) }),
  );

  app.put(
    '/projects/:project/members/:username',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Make a user a member of the project, or change their role",
        description:
          'viewer: reads pipelines, jobs, logs, artifacts and live streams. developer: also triggers, cancels, retries and plays. ' +
          'maintainer: also the project settings, variables, webhooks, schedules, trigger tokens and members. Demoting the last ' +
          'maintainer is 409 GANTRY_E_LAST_MAINTAINER, unless an admin does it.',
        tags: ['members'],
        params: memberParams,
        body: { type: 'object', properties: { role: { type: 'string', enum: [...ROLES] } }, required: ['role'], additionalProperties: false },
        response: { 200: memberSchema, ...errors(400, 403, 404, 409) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const user = await userOf(request);
      const { role } = request.body as { role: Member['role'] };
      const at = ctx.now();
      const audit = auditWhen(request, at, () => true, () => ({ action: 'member.set', projectId: project.id, target: { type: 'member', id: user.username }, details: { role } }));
      const r = await ctx.store.users.setMember(project.id, user.id, role, at, !may(request.principal!, { kind: 'administer' }), audit);
      if (r === 'last-maintainer') throw lastMaintainer(project.name);
      return memberJson(r);
    },
  );

  app.delete(
    '/projects/:project/members/:username',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Remove a member from the project (not the last maintainer, unless an admin does it)',
        tags: ['members'],
        params: memberParams,
        response: { 204: { type: 'null' }, ...errors(403, 404, 409) },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const user = await userOf(request);
      const audit = auditWhen(request, ctx.now(), (gone: boolean) => gone, () => ({ action: 'member.remove', projectId: project.id, target: { type: 'member', id: user.username } }));
      const r = await ctx.store.users.removeMember(project.id, user.id, !may(request.principal!, { kind: 'administer' }), audit);
      if (r === 'last-maintainer') throw lastMaintainer(project.name);
      if (!r) throw new ApiError('GANTRY_E_NOT_FOUND', `${user.username} is not a member of project ${project.name}`);
      return reply.status(204).send();
    },
  );
}
