// Body size limits on every route. Fastify's own limit applies to bodies it reads into memory;
// each route has one, set where it is registered when it needs more than the default, or given
// the default here, so that no content type parser's own limit decides in its place. A route whose
// handler reads the body as a stream (a blob upload, a multipart form) is out of Fastify's reach
// and says so, with the limit it enforces itself (`config.streamedBody`). docs/API.md, "Body
// size limits", lists the routes that take more than the default.

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The handler reads the body as a stream and stops it past `limit` bytes itself. */
    streamedBody?: { limit: number };
  }
}

/** What a JSON request of the API may carry: 1 MiB (Fastify's default, here made explicit). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** The most a route reads into memory: a webhook's payload (GitHub's own limit). */
export const MAX_BODY_LIMIT = 25 * 1024 * 1024;
