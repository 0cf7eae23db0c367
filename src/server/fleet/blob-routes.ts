// Artifacts and caches of remote attempts (docs/PROTOCOL.md §11): blobs in, records written,
// archives out. The bytes live in the blob store; which attempt may write or read them is the
// fleet store's conditional statements (token hash and `running` in each WHERE). Every archive is
// checked (checkArchiveEntries) before it becomes a blob, and again by the agent that extracts it.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { checkArchiveEntries } from '../../agent/archive.js';
import type { BlobStore } from '../../blobstore/blob-store.js';
import { asAttemptId, asJobId, type AttemptId } from '../../domain/ids.js';
import type { BlobRef } from '../../store/fleet.js';
import type { EpochMs, Store } from '../../store/store.js';
import { ApiError } from '../errors.js';
import { hashToken } from '../tokens.js';
import { fenceError, type FleetContext } from './agent-routes.js';

/** Default `maxBlobBytes`: the largest archive an agent may upload. */
export const MAX_BLOB_BYTES = 4 * 1024 ** 3;
/** A blob nothing references survives this long after its last upload or HEAD (an upload not yet recorded). */
export const UNREFERENCED_BLOB_GRACE_MS = 60 * 60 * 1000;

export interface BlobContext extends FleetContext {
  blobs: BlobStore;
  maxBlobBytes: number;
}

const hex = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const cacheKey = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,255}$' } as const;
const id = { type: 'integer', minimum: 1 } as const;

function attemptOf(request: FastifyRequest): { id: AttemptId; tokenHash: string } {
  const token = request.headers['gantry-attempt-token'];
  if (typeof token !== 'string' || token === '') {
    throw new ApiError('GANTRY_E_INVALID_REQUEST', 'the gantry-attempt-token header is required', { field: 'headers.gantry-attempt-token' });
  }
  return { id: asAttemptId((request.params as { id: number }).id), tokenHash: hashToken(token) };
}

function blobProblem(r: { kind: 'blob-missing' } | { kind: 'size-mismatch'; size: number }, blob: BlobRef): ApiError {
  if (r.kind === 'blob-missing') return new ApiError('GANTRY_E_NOT_FOUND', `no blob ${blob.sha256}: upload it first`, { blob: 'missing' });
  return new ApiError('GANTRY_E_INVALID_REQUEST', `blob ${blob.sha256} has ${r.size} bytes, not ${blob.size}`, { field: 'body.size' });
}

/** Sends a stored blob. A row whose bytes are gone is the blob store failing (or not shared by every instance). */
export async function sendBlob(ctx: { blobs: BlobStore }, request: FastifyRequest, reply: FastifyReply, blob: BlobRef): Promise<FastifyReply> {
  const stream: Readable | null = await ctx.blobs.open(blob.sha256);
  if (!stream) {
    request.log.error({ sha256: blob.sha256 }, 'a recorded blob is not in the blob store: is the blob directory shared by every server instance?');
    throw new ApiError('GANTRY_E_STORE', `blob ${blob.sha256} is missing`);
  }
  return reply.header('content-type', 'application/octet-stream').header('content-length', String(blob.size)).send(stream);
}

export function blobRoutes(app: FastifyInstance, ctx: BlobContext): void {
  // A scope of its own: here an octet-stream body is handed over unread, as a stream, so that the
  // attempt is checked before the first byte is read and the bytes go to disk, not to memory.
  void app.register(async (scope) => {
    scope.removeContentTypeParser('application/octet-stream');
    scope.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

    const tags = ['agent protocol'];
    const config = { agentProtocol: 'agent' as const };
    const blobParams = { type: 'object', properties: { id, hex }, required: ['id', 'hex'], additionalProperties: false } as const;

    scope.head('/agent/attempts/:id/blobs/sha256/:hex', { config, schema: { tags, summary: 'Whether the server has a blob', params: blobParams } }, async (request, reply) => {
      const { id: attemptId, tokenHash } = attemptOf(request);
      const sha256 = (request.params as { hex: string }).hex;
      const r = await ctx.store.fleet.touchBlob(attemptId, tokenHash, sha256, ctx.now());
      if (r.kind !== 'ok' && r.kind !== 'missing') throw fenceError(r);
      // The row refreshed first, the file looked at second: a sweep deleting both commits before
      // the refresh, so a file seen here stays (PROTOCOL.md §11, Expiry).
      const size = r.kind === 'ok' ? await ctx.blobs.size(sha256) : null;
      if (size === null) return reply.status(404).send();
      return reply.status(200).header('content-length', String(size)).send();
    });

    scope.put(
      '/agent/attempts/:id/blobs/sha256/:hex',
      // Streamed to disk by the blob store, which stops it past maxBlobBytes (Fastify's bodyLimit cannot).
      { config: { ...config, streamedBody: { limit: ctx.maxBlobBytes } }, schema: { tags, summary: 'Upload a blob (an artifact or cache archive, tar.gz)', params: blobParams } },
      async (request, reply) => {
        const { id: attemptId, tokenHash } = attemptOf(request);
        const sha256 = (request.params as { hex: string }).hex;
        const body = request.body as Readable | undefined;
        if (!body || typeof (body as Partial<Readable>).pipe !== 'function') {
          throw new ApiError('GANTRY_E_INVALID_REQUEST', 'the body must be the blob (application/octet-stream)', { field: 'body' });
        }
        // Before the body is read: a lost attempt's upload costs the server nothing.
        const check = await ctx.store.fleet.checkTransfer(attemptId, tokenHash);
        if (check.kind !== 'ok') throw fenceError(check);
        const declared = Number(request.headers['content-length']);
        if (Number.isFinite(declared) && declared > ctx.maxBlobBytes) {
          throw new ApiError('GANTRY_E_TOO_LARGE', `the blob is larger than the limit of ${ctx.maxBlobBytes} bytes`, { limit: ctx.maxBlobBytes });
        }
        let put;
        try {
          put = await ctx.blobs.put(sha256, body, { maxBytes: ctx.maxBlobBytes, inspect: async (file) => void (await checkArchiveEntries(file)) });
        } catch (e) {
          if ((e as ApiError).code === 'GANTRY_E_TOO_LARGE') throw new ApiError('GANTRY_E_TOO_LARGE', (e as Error).message, { limit: ctx.maxBlobBytes });
          throw e;
        }
        const r = await ctx.store.fleet.recordBlob(attemptId, tokenHash, sha256, put.size, ctx.now());
        if (r.kind !== 'ok') throw fenceError(r);
        // A sweep may have deleted the file after put found it there; its row delete committed
        // before recordBlob, so looking now tells. The agent sends the bytes again.
        if (!(await ctx.blobs.has(sha256))) throw new ApiError('GANTRY_E_STORE', `blob ${sha256} was swept during its upload`);
        return reply.status(put.created ? 201 : 200).send({ sha256, size: put.size });
      },
    );

    scope.post(
      '/agent/attempts/:id/artifacts',
      {
        config,
        schema: {
          tags,
          summary: "Record the attempt's artifact archive (an uploaded blob)",
          params: { type: 'object', properties: { id }, required: ['id'], additionalProperties: false },
          body: {
            type: 'object',
            properties: {
              sha256: hex,
              size: { type: 'integer', minimum: 0 },
              files: { type: 'integer', minimum: 0 },
              expireInSeconds: { type: ['integer', 'null'], minimum: 0 },
            },
            required: ['sha256', 'size', 'files', 'expireInSeconds'],
            additionalProperties: false,
          },
        },
      },
      async (request, reply) => {
        const { id: attemptId, tokenHash } = attemptOf(request);
        const b = request.body as { sha256: string; size: number; files: number; expireInSeconds: number | null };
        const at = ctx.now();
        const rec = { sha256: b.sha256, size: b.size, files: b.files, expiresAt: b.expireInSeconds === null ? null : at + b.expireInSeconds * 1000 };
        const r = await ctx.store.fleet.recordArtifact(attemptId, tokenHash, rec, at);
        if (r.kind === 'ok') return reply.status(r.created ? 201 : 200).send({ sha256: b.sha256, size: b.size, files: b.files });
        if (r.kind === 'conflict') throw new ApiError('GANTRY_E_CONFLICT', 'this attempt already recorded another artifact archive');
        if (r.kind === 'blob-missing' || r.kind === 'size-mismatch') throw blobProblem(r, b);
        throw fenceError(r);
      },
    );

    scope.get(
      '/agent/attempts/:id/artifacts/:jobId',
      {
        config,
        schema: {
          tags,
          summary: "Download the artifact archive of one of the attempt's artifact sources",
          params: { type: 'object', properties: { id, jobId: id }, required: ['id', 'jobId'], additionalProperties: false },
        },
      },
      async (request, reply) => {
        const { id: attemptId, tokenHash } = attemptOf(request);
        const jobId = asJobId((request.params as { jobId: number }).jobId);
        const r = await ctx.store.fleet.findArtifact(attemptId, tokenHash, jobId, ctx.now());
        if (r.kind === 'ok') return sendBlob(ctx, request, reply, r);
        if (r.kind === 'none') throw new ApiError('GANTRY_E_NOT_FOUND', `job ${jobId} has no artifacts`);
        if (r.kind === 'expired') {
          throw new ApiError('GANTRY_E_ARTIFACT_EXPIRED', `the artifacts of job ${jobId} expired at ${new Date(r.expiredAt).toISOString()}`);
        }
        if (r.kind === 'not-a-source') throw new ApiError('GANTRY_E_FORBIDDEN', `job ${jobId} is not an artifact source of this attempt's job`);
        throw fenceError(r);
      },
    );

    const cacheParams = { type: 'object', properties: { id, key: cacheKey }, required: ['id', 'key'], additionalProperties: false } as const;

    scope.get('/agent/attempts/:id/caches/:key', { config, schema: { tags, summary: "Download the project's cache under a key", params: cacheParams } }, async (request, reply) => {
      const { id: attemptId, tokenHash } = attemptOf(request);
      const key = (request.params as { key: string }).key;
      const r = await ctx.store.fleet.getCache(attemptId, tokenHash, key, ctx.now());
      if (r.kind === 'ok') return sendBlob(ctx, request, reply, r);
      if (r.kind === 'none') throw new ApiError('GANTRY_E_NOT_FOUND', `no cache ${JSON.stringify(key)}`);
      throw fenceError(r);
    });

    scope.put(
      '/agent/attempts/:id/caches/:key',
      {
        config,
        schema: {
          tags,
          summary: 'Point a cache key of the project at an uploaded blob (replaces the cache whole)',
          params: cacheParams,
          body: {
            type: 'object',
            properties: { sha256: hex, size: { type: 'integer', minimum: 0 } },
            required: ['sha256', 'size'],
            additionalProperties: false,
          },
        },
      },
      async (request) => {
        const { id: attemptId, tokenHash } = attemptOf(request);
        const key = (request.params as { key: string }).key;
        const b = request.body as BlobRef;
        const r = await ctx.store.fleet.putCache(attemptId, tokenHash, key, b, ctx.now());
        if (r.kind === 'ok') return { key, sha256: b.sha256, size: b.size };
        if (r.kind === 'blob-missing' || r.kind === 'size-mismatch') throw blobProblem(r, b);
        throw fenceError(r);
      },
    );
  });
}

/**
 * The expiry sweep (run by the Sweeper every minute): a project's least recently used caches past
 * `cacheMaxBytesPerProject`, expired artifact records (but the latest of each ref where
 * keepLatestArtifacts holds: `keepLatestDefault` for projects without their own setting) and
 * caches unused for `cacheMaxAgeMs` (null: kept for ever) go, then blobs that nothing references
 * and nobody uploaded or asked about for the grace, row and file together. A hundred of each per
 * minute; the garbage collector (src/server/retention/) does the same to the end, and the rest.
 */
export function artifactSweep(
  store: Store,
  blobs: BlobStore,
  caches: { cacheMaxAgeMs: number | null; cacheMaxBytesPerProject: number | null; keepLatestDefault?: boolean; graceMs?: number },
): (at: number) => Promise<void> {
  const { cacheMaxAgeMs, cacheMaxBytesPerProject } = caches;
  const graceMs = caches.graceMs ?? UNREFERENCED_BLOB_GRACE_MS;
  return async (at) => {
    if (cacheMaxBytesPerProject !== null) await store.fleet.evictCaches(cacheMaxBytesPerProject);
    await store.fleet.sweepArtifacts(
      at,
      at - graceMs,
      async (sha256) => {
        await blobs.delete(sha256);
      },
      cacheMaxAgeMs === null ? null : at - cacheMaxAgeMs,
      caches.keepLatestDefault ?? false,
    );
  };
}

/**
 * The stray sweep (part of each garbage collection): blob files a crash left without a row (the
 * file is written before its row) get one, dated by the file, so the sweep of unreferenced blobs
 * deletes them with its locks like any other; uploads a killed process cut short (`tmp/*.part`)
 * go once nobody has written them for the same grace.
 */
export function strayBlobSweep(store: Store, blobs: BlobStore, alsoPartialsOf: readonly BlobStore[], graceMs = UNREFERENCED_BLOB_GRACE_MS): (at: number) => Promise<void> {
  return async (at) => {
    const before = at - graceMs;
    let batch: { sha256: string; size: number; modifiedAt: EpochMs }[] = [];
    for await (const f of blobs.listOlderThan(before)) {
      batch.push({ ...f, modifiedAt: f.modifiedAt as EpochMs });
      if (batch.length >= 1_000) {
        await store.fleet.adoptBlobs(batch);
        batch = [];
      }
    }
    if (batch.length) await store.fleet.adoptBlobs(batch);
    for (const b of [blobs, ...alsoPartialsOf]) await b.removePartials(before);
  };
}
