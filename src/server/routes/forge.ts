// A project's forge: where its pipelines' statuses are reported (GitHub, Gitea/Forgejo, GitLab,
// hosted or self-hosted). The token is write-only: sealed before it reaches the store, never
// returned. The sending is src/server/forge/reporter.ts's.

import type { FastifyInstance } from 'fastify';
import { FORGE_PROVIDERS, type ForgeConfig, type ForgeProvider } from '../../store/forge.js';
import { ApiError } from '../errors.js';
import { forgeTokenContext } from '../forge/reporter.js';
import { errors, projectParams } from '../schemas.js';
import type { RouteContext } from './context.js';
import { routeProject } from '../route-access.js';
import { auditAlways, auditWhen } from '../audit.js';

const DEFAULT_BASE: Partial<Record<ForgeProvider, string>> = { github: 'https://api.github.com', gitlab: 'https://gitlab.com' };
/** owner/repo; GitLab also takes nested groups or a numeric project id. */
const REPOSITORY: Record<ForgeProvider, RegExp> = {
  github: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
  gitea: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
  gitlab: /^(?:[0-9]+|[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+)$/,
};

const forgeJson = (c: ForgeConfig) => ({
  provider: c.provider,
  baseUrl: c.baseUrl,
  repository: c.repository,
  context: c.context,
  updatedAt: new Date(c.updatedAt).toISOString(),
});
const forgeSchema = {
  type: 'object',
  properties: {
    provider: { type: 'string', enum: [...FORGE_PROVIDERS] },
    baseUrl: { type: 'string' },
    repository: { type: 'string' },
    context: { type: 'string' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['provider', 'baseUrl', 'repository', 'context', 'updatedAt'],
} as const;

function baseUrlOf(provider: ForgeProvider, given: string | undefined): string {
  const raw = given ?? DEFAULT_BASE[provider];
  if (raw === undefined) throw new ApiError('GANTRY_E_INVALID_REQUEST', `body.baseUrl is required for ${provider} (the server's URL)`, { field: 'body.baseUrl' });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError('GANTRY_E_INVALID_REQUEST', 'body.baseUrl must be an http or https URL', { field: 'body.baseUrl' });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    throw new ApiError('GANTRY_E_INVALID_REQUEST', 'body.baseUrl must be an http or https URL without credentials, query or fragment', { field: 'body.baseUrl' });
  }
  return url.toString().replace(/\/+$/, '');
}

export function forgeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.put(
    '/projects/:project/forge',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Set the forge the project's pipeline statuses are reported to (the token is never returned)",
        description:
          'baseUrl: GitHub\'s API root (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3), or the Gitea/Forgejo ' +
          'or GitLab server (GitLab default https://gitlab.com). repository: owner/repo, or a GitLab project path or id.',
        tags: ['forge'],
        params: projectParams,
        body: {
          type: 'object',
          properties: {
            provider: { type: 'string', enum: [...FORGE_PROVIDERS] },
            baseUrl: { type: 'string', minLength: 1, maxLength: 2048 },
            repository: { type: 'string', minLength: 1, maxLength: 512 },
            token: { type: 'string', minLength: 1, maxLength: 4096 },
            context: { type: 'string', minLength: 1, maxLength: 255 },
          },
          required: ['provider', 'repository', 'token'],
          additionalProperties: false,
        },
        response: { 200: forgeSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const b = request.body as { provider: ForgeProvider; baseUrl?: string; repository: string; token: string; context?: string };
      if (!REPOSITORY[b.provider].test(b.repository)) {
        throw new ApiError('GANTRY_E_INVALID_REQUEST', `body.repository must be ${b.provider === 'gitlab' ? 'a project path (group/project) or id' : 'owner/repo'}`, {
          field: 'body.repository',
        });
      }
      const sealed = ctx.secrets.seal(b.token, forgeTokenContext(project.id));
      const config: ForgeConfig = {
        projectId: project.id,
        provider: b.provider,
        baseUrl: baseUrlOf(b.provider, b.baseUrl),
        repository: b.repository,
        context: b.context ?? 'gantry',
        ...sealed,
        updatedAt: ctx.now(),
      };
      // The forge and repository, never the token.
      await ctx.store.forge.putConfig(
        config,
        auditAlways(request, config.updatedAt, { action: 'forge.set', projectId: project.id, target: { type: 'forge', id: config.provider }, details: { baseUrl: config.baseUrl, repository: config.repository, context: config.context } }),
      );
      return forgeJson(config);
    },
  );

  app.get(
    '/projects/:project/forge',
    {
      config: { access: 'maintainer' },
      schema: { summary: "The project's forge, without its token", tags: ['forge'], params: projectParams, response: { 200: forgeSchema, ...errors(403, 404) } },
    },
    async (request) => {
      const project = routeProject(request);
      const c = await ctx.store.forge.getConfig(project.id);
      if (!c) throw new ApiError('GANTRY_E_NOT_FOUND', `project ${project.name} has no forge`);
      return forgeJson(c);
    },
  );

  app.delete(
    '/projects/:project/forge',
    {
      config: { access: 'maintainer' },
      schema: { summary: 'Stop reporting statuses to the forge', tags: ['forge'], params: projectParams, response: { 204: { type: 'null' }, ...errors(403, 404) } },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const audit = auditWhen(request, ctx.now(), (gone: boolean) => gone, () => ({ action: 'forge.delete', projectId: project.id, target: { type: 'forge', id: null } }));
      if (!(await ctx.store.forge.deleteConfig(project.id, audit))) throw new ApiError('GANTRY_E_NOT_FOUND', `project ${project.name} has no forge`);
      return reply.status(204).send();
    },
  );
}
