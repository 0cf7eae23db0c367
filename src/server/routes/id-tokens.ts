// Job identity tokens' public face (docs/API.md, "Job identity tokens"): the OpenID Connect
// discovery document and the key set a relying party (AWS, GCP, Vault, ...) verifies tokens with,
// both public as OpenID requires; and the admin's key rotation.

import type { FastifyInstance } from 'fastify';
import { auditWhen } from '../audit.js';
import { DISCOVERY_PATH, JWKS_PATH, type IdTokenIssuer } from '../id-tokens.js';
import { errors } from '../schemas.js';
import type { RouteContext } from './context.js';

const tags = ['identity tokens'];

/** Relying parties fetch again on an unknown `kid`; a minute keeps a rotation's new key visible soon to the others. */
const CACHE = 'public, max-age=60';

const jwkSchema = {
  type: 'object',
  properties: { kty: { type: 'string' }, kid: { type: 'string' }, alg: { type: 'string' }, use: { type: 'string' }, n: { type: 'string' }, e: { type: 'string' } },
  required: ['kty', 'kid', 'alg', 'use'],
  additionalProperties: true,
} as const;

/** The routes outside /api/v1: their paths are fixed by OpenID Connect Discovery and GitLab. */
export function idTokenDiscoveryRoutes(app: FastifyInstance, ctx: { idTokens: IdTokenIssuer }): void {
  app.get(
    DISCOVERY_PATH,
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'OpenID Connect discovery: the issuer of job identity tokens and where its keys are',
        response: { 200: { type: 'object', additionalProperties: true, properties: { issuer: { type: 'string' }, jwks_uri: { type: 'string' } }, required: ['issuer', 'jwks_uri'] } },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', CACHE);
      return ctx.idTokens.discovery();
    },
  );

  app.get(
    JWKS_PATH,
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'The public keys job identity tokens are signed with (JWKS): the signing key and every key whose tokens may still live',
        response: { 200: { type: 'object', properties: { keys: { type: 'array', items: jwkSchema } }, required: ['keys'] } },
      },
    },
    async (_request, reply) => {
      const set = await ctx.idTokens.jwks();
      reply.header('cache-control', CACHE);
      return set;
    },
  );
}

export function idTokenAdminRoutes(app: FastifyInstance, ctx: RouteContext & { idTokens: IdTokenIssuer }): void {
  app.post(
    '/admin/id-token-keys/rotate',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Sign job identity tokens with a new key from now on',
        description:
          'The new key is published at once; the old one stays published until the last token it signed expires, so no token in use stops verifying. ' +
          'Every server instance of a fleet signs with the new key from its next token.',
        response: {
          200: {
            type: 'object',
            properties: { kid: { type: 'string' }, alg: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' }, published: { type: 'array', items: { type: 'string' } } },
            required: ['kid', 'alg', 'createdAt', 'published'],
          },
          ...errors(403),
        },
      },
    },
    async (request) => {
      const audit = auditWhen(request, ctx.now(), (added: boolean) => added, () => ({ action: 'id_token_key.rotate', projectId: null, target: { type: 'id_token_key', id: null } }));
      const key = await ctx.idTokens.rotate(audit);
      const published = (await ctx.idTokens.jwks()).keys.map((k) => k.kid!);
      return { kid: key.kid, alg: key.alg, createdAt: new Date(key.createdAt).toISOString(), published };
    },
  );
}
