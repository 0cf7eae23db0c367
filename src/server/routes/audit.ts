// The audit log (docs/SECURITY.md, "Audit log"; the actions in docs/API.md): a project's entries
// to its maintainers, every entry to instance admins. Newest first, a page at a time: `next` is
// the cursor to pass as `before` for older entries (null at the end).

import type { FastifyInstance } from 'fastify';
import { AUDIT_ACTIONS, type StoredAuditEntry } from '../../store/audit.js';
import { routeProject } from '../route-access.js';
import { digitsSchema, errors, limitSchema, pageOf, projectParams } from '../schemas.js';
import type { RouteContext } from './context.js';

const DEFAULT_LIMIT = 50;

const entrySchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    action: { type: 'string', enum: [...AUDIT_ACTIONS] },
    actor: {
      type: 'object',
      description: "the caller: {kind: 'user', userId, username, via: 'session'|'token', tokenId?}, {kind: 'admin-token'|'project-token', tokenId}, or {kind: 'anonymous'} (a failed sign-in)",
      properties: {
        kind: { type: 'string', enum: ['user', 'admin-token', 'project-token', 'anonymous'] },
        userId: { type: 'integer' },
        username: { type: 'string' },
        via: { type: 'string', enum: ['session', 'token'] },
        tokenId: { type: 'integer' },
      },
      required: ['kind'],
    },
    target: {
      type: 'object',
      properties: { type: { type: 'string' }, id: { type: ['string', 'null'] } },
      required: ['type', 'id'],
    },
    projectId: { type: ['integer', 'null'] },
    address: { type: ['string', 'null'], description: "the client's address (through GANTRY_TRUST_PROXY's proxies only)" },
    details: { type: ['object', 'null'], additionalProperties: true, description: 'what changed: field names and non-secret values, never a value of a variable, a token or a password' },
  },
  required: ['id', 'at', 'action', 'actor', 'target', 'projectId', 'address', 'details'],
} as const;

const querystring = {
  type: 'object',
  properties: { limit: limitSchema, before: digitsSchema },
  additionalProperties: false,
} as const;

const entryJson = (e: StoredAuditEntry) => ({ ...e, at: new Date(e.at).toISOString() });

export function auditRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const page = async (projectId: Parameters<typeof ctx.store.audit.list>[0]['projectId'], q: { limit?: string; before?: string }) => {
    const r = await ctx.store.audit.list({
      ...(projectId === undefined ? {} : { projectId }),
      ...(q.before === undefined ? {} : { beforeId: Number(q.before) }),
      limit: q.limit === undefined ? DEFAULT_LIMIT : Number(q.limit),
    });
    return { items: r.items.map(entryJson), next: r.next };
  };

  app.get(
    '/projects/:project/audit',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "The project's audit log, newest first: who changed what, when, from where",
        description: `limit: 1 to 100 (default ${DEFAULT_LIMIT}); before: the previous page's next.`,
        tags: ['audit'],
        params: projectParams,
        querystring,
        response: { 200: pageOf(entrySchema), ...errors(400, 403, 404) },
      },
    },
    async (request) => page(routeProject(request).id, request.query as { limit?: string; before?: string }),
  );

  app.get(
    '/audit',
    {
      config: { access: 'admin' },
      schema: {
        summary: "The instance's audit log, every project's and the instance's own (users, personal tokens, agents, sign-ins), newest first (admin)",
        description: `limit: 1 to 100 (default ${DEFAULT_LIMIT}); before: the previous page's next.`,
        tags: ['audit'],
        querystring,
        response: { 200: pageOf(entrySchema), ...errors(400, 401, 403) },
      },
    },
    async (request) => page(undefined, request.query as { limit?: string; before?: string }),
  );
}
