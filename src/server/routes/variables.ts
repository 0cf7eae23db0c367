// Project variables: write-only values, encrypted before they reach the store. A `protected` one
// is given only to jobs of pipelines on protected refs (src/server/fleet/offer.ts). Every change is
// in the audit log by key, never by value.

import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import { errors, projectParams, variableKeySchema } from '../schemas.js';
import { variableContext } from '../secrets.js';
import { variableJson } from '../views.js';
import type { RouteContext } from './context.js';
import { routeProject } from '../route-access.js';
import { auditAlways, auditWhen } from '../audit.js';

const keyParams = {
  type: 'object',
  properties: { ...projectParams.properties, key: variableKeySchema },
  required: ['project', 'key'],
} as const;

const variableSchema = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    masked: { type: 'boolean' },
    protected: { type: 'boolean', description: 'given only to pipelines of protected refs (GET /projects/:project/protected-refs)' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['key', 'masked', 'protected', 'updatedAt'],
} as const;

export function variableRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/projects/:project/variables',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "A project's variables, without their values",
        tags: ['variables'],
        params: projectParams,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: variableSchema } }, required: ['items'] },
          ...errors(403, 404),
        },
      },
    },
    async (request) => {
      const project = routeProject(request);
      return { items: (await ctx.store.listVariables(project.id)).map(variableJson) };
    },
  );

  app.put(
    '/projects/:project/variables/:key',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Create or replace a variable (the value is encrypted at rest and never returned)',
        description:
          'masked: hidden in job logs. protected: given only to jobs of pipelines on protected refs (a branch or tag matching ' +
          "the project's protected-refs globs), never to other pipelines, and never to a fork's. Both default to false.",
        tags: ['variables'],
        params: keyParams,
        body: {
          type: 'object',
          properties: { value: { type: 'string', maxLength: 65536 }, masked: { type: 'boolean', default: false }, protected: { type: 'boolean', default: false } },
          required: ['value'],
          additionalProperties: false,
        },
        response: { 204: { type: 'null' }, ...errors(400, 403, 404) },
      },
    },
    async (request, reply) => {
      const { key } = request.params as { project: string; key: string };
      const project = routeProject(request);
      const { value, masked, protected: isProtected } = request.body as { value: string; masked: boolean; protected: boolean };
      const sealed = ctx.secrets.seal(value, variableContext(project.id, key));
      const at = ctx.now();
      await ctx.store.putVariable(
        { projectId: project.id, key, ...sealed, masked, protected: isProtected, updatedAt: at },
        // The key and flags, never the value.
        auditAlways(request, at, { action: 'variable.set', projectId: project.id, target: { type: 'variable', id: key }, details: { masked, protected: isProtected } }),
      );
      return reply.status(204).send();
    },
  );

  app.delete(
    '/projects/:project/variables/:key',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Delete a variable',
        tags: ['variables'],
        params: keyParams,
        response: { 204: { type: 'null' }, ...errors(403, 404) },
      },
    },
    async (request, reply) => {
      const { key } = request.params as { project: string; key: string };
      const project = routeProject(request);
      const audit = auditWhen(request, ctx.now(), (gone: boolean) => gone, () => ({ action: 'variable.delete', projectId: project.id, target: { type: 'variable', id: key } }));
      if (!(await ctx.store.deleteVariable(project.id, key, audit))) {
        throw new ApiError('GANTRY_E_NOT_FOUND', `project ${project.name} has no variable ${key}`);
      }
      return reply.status(204).send();
    },
  );
}
