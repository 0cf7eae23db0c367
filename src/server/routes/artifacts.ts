// A job's artifacts as people get them: the list of what its attempts uploaded, and each archive
// (.tar.gz) for download. The agent protocol's own artifact routes (fleet/blob-routes.ts) check an
// attempt token; these need the caller to be a viewer of the job's project, as every other read does.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BlobStore } from '../../blobstore/blob-store.js';
import type { Job } from '../../store/store.js';
import type { StoredArtifact } from '../../store/fleet.js';
import { routeTarget } from '../route-access.js';
import { ApiError } from '../errors.js';
import { sendBlob } from '../fleet/blob-routes.js';
import { errors, idParams } from '../schemas.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Past its expiry and not kept as its ref's latest, or already collected (its archive gone). */
const isExpired = (a: StoredArtifact, now: number) => a.sha256 === null || (a.expiresAt !== null && a.expiresAt <= now && !a.keptAsLatest);

const artifactSchema = {
  type: 'object',
  properties: {
    attempt: { type: 'integer' },
    size: { type: 'integer' },
    files: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    expired: { type: 'boolean' },
    keptAsLatest: {
      type: 'boolean',
      description: "past expiresAt but kept: its pipeline is its ref's latest successful one (keepLatestArtifacts); downloads still work",
    },
  },
  required: ['attempt', 'size', 'files', 'createdAt', 'expiresAt', 'expired', 'keptAsLatest'],
} as const;

export function artifactRoutes(app: FastifyInstance, ctx: RouteContext & { blobs: BlobStore }): void {
  // The job (and the caller's role in its project) is found and checked before the handler: route-access.ts.
  const jobOf = (request: FastifyRequest): Job => routeTarget(request).job!;

  app.get(
    '/jobs/:id/artifacts',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "The artifact archives a job's attempts uploaded, by attempt",
        tags: ['jobs'],
        params: idParams,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: artifactSchema } }, required: ['items'] }, ...errors(403, 404) },
      },
    },
    async (request) => {
      const job = jobOf(request);
      const now = ctx.now();
      const items = await ctx.store.fleet.listArtifacts(job.id, ctx.retention.keepLatestArtifacts);
      return {
        items: items.map((a) => ({
          attempt: a.attempt,
          size: a.size,
          files: a.files,
          createdAt: iso(a.createdAt),
          expiresAt: iso(a.expiresAt),
          expired: isExpired(a, now),
          keptAsLatest: a.keptAsLatest,
        })),
      };
    },
  );

  app.get(
    '/jobs/:id/artifacts/:attempt',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'Download the artifact archive (.tar.gz) of one attempt of a job',
        tags: ['jobs'],
        params: {
          type: 'object',
          properties: { id: idParams.properties.id, attempt: { type: 'string', pattern: '^[1-9][0-9]{0,5}$' } },
          required: ['id', 'attempt'],
        },
        response: { ...errors(403, 404, 410) },
      },
    },
    async (request, reply) => {
      const job = jobOf(request);
      const attempt = Number((request.params as { attempt: string }).attempt);
      const a = (await ctx.store.fleet.listArtifacts(job.id, ctx.retention.keepLatestArtifacts)).find((x) => x.attempt === attempt);
      if (!a) throw new ApiError('GANTRY_E_NOT_FOUND', `attempt ${attempt} of job ${job.id} uploaded no artifacts`);
      if (isExpired(a, ctx.now()) || a.sha256 === null) {
        throw new ApiError('GANTRY_E_ARTIFACT_EXPIRED', `the artifacts of job ${job.id} expired at ${new Date(a.expiresAt ?? 0).toISOString()}`);
      }
      // The file name a browser saves it under: the job's name, made safe for a header.
      const name = `${job.name.replace(/[^A-Za-z0-9._-]+/g, '_')}-${attempt}-artifacts.tar.gz`;
      reply.header('content-disposition', `attachment; filename="${name}"`);
      return sendBlob(ctx, request, reply, { sha256: a.sha256, size: a.size });
    },
  );
}
