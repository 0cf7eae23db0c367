// The OpenAPI document, generated from the route schemas by @fastify/swagger, so it cannot drift
// from what the routes validate. Must be registered before the routes it describes.

import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Gantry API',
        version,
        description:
          'The HTTP API of the Gantry CI/CD server. Every route needs Authorization: Bearer TOKEN, or the session cookie of ' +
          'POST /session (then writes carry X-CSRF-Token), unless noted.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, session: { type: 'apiKey', in: 'cookie', name: 'gantry_session' } },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
}

export function openApiRoute(app: FastifyInstance): void {
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
}
