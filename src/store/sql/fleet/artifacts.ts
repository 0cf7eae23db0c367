// Blobs, artifacts and caches of remote attempts (docs/PROTOCOL.md §11). Every write an agent
// causes is one statement that names the attempt, its token hash and `status = 'running'` in its
// WHERE, so a lost or fenced attempt records nothing; when it matches no row the attempt is read
// only to choose the answer. Reads check the same three things before answering.
//
// Parameters in a SELECT list are CAST: PostgreSQL cannot infer their type from the INSERT's
// target columns.

import { asJobId, asPipelineId, asProjectId } from '../../../domain/ids.js';
import type {
  StoredArtifact,
  ArtifactLookup,
  ArtifactRecord,
  BlobRef,
  BlobTouch,
  CacheLookup,
  Fence,
  PutCacheResult,
  RecordArtifactResult,
  TransferCheck,
} from '../../fleet.js';
import type { EpochMs } from '../../store.js';
import type { ExpiredArtifact } from '../../retention.js';
import type { SqlDialect, SqlExecutor } from '../dialect.js';
import { fenceOf, type SpecCache } from './fleet-tx.js';

const RUNNING = "a.id = ? AND a.token_hash = ? AND a.status = 'running'";

interface AttemptFacts {
  status: string;
  token_hash: string | null;
  failure_reason: string | null;
  job_id: number | string;
  pipeline_id: number | string;
  project_id: number | string;
}

async function attemptFacts(db: SqlExecutor, attemptId: number): Promise<AttemptFacts | undefined> {
  return db.get<AttemptFacts>('SELECT status, token_hash, failure_reason, job_id, pipeline_id, project_id FROM attempts WHERE id = ?', [attemptId]);
}

export async function checkTransfer(db: SqlExecutor, attemptId: number, tokenHash: string): Promise<TransferCheck> {
  const row = await attemptFacts(db, attemptId);
  const fence = fenceOf(row, tokenHash);
  if (fence) return fence;
  return { kind: 'ok', jobId: asJobId(Number(row!.job_id)), pipelineId: asPipelineId(Number(row!.pipeline_id)), projectId: asProjectId(Number(row!.project_id)) };
}

/** The answer to a write that matched nothing: the fence, or `otherwise` when the attempt is fine. */
async function unmatched<T>(db: SqlExecutor, attemptId: number, tokenHash: string, otherwise: () => Promise<T>): Promise<T | Fence> {
  return fenceOf(await attemptFacts(db, attemptId), tokenHash) ?? otherwise();
}

/**
 * HEAD of a blob. Refreshing `created_at` is the point: the sweep deletes only unreferenced blobs
 * untouched for an hour, so a blob an agent was just told exists survives until its record.
 */
export async function touchBlob(db: SqlExecutor, attemptId: number, tokenHash: string, sha256: string, at: EpochMs): Promise<BlobTouch> {
  const r = await db.run(
    `UPDATE blobs SET created_at = ? WHERE sha256 = ? AND EXISTS (SELECT 1 FROM attempts a WHERE ${RUNNING})`,
    [at, sha256, attemptId, tokenHash],
  );
  if (r.changes === 1) return { kind: 'ok' };
  return unmatched(db, attemptId, tokenHash, async () => ({ kind: 'missing' as const }));
}

/** After a PUT stored the bytes: the blob's row, new or refreshed. */
export async function recordBlob(db: SqlExecutor, attemptId: number, tokenHash: string, sha256: string, size: number, at: EpochMs): Promise<{ kind: 'ok' } | Fence> {
  const r = await db.run(
    'INSERT INTO blobs (sha256, size, created_at) ' +
      `SELECT CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT) FROM attempts a WHERE ${RUNNING} ` +
      'ON CONFLICT (sha256) DO UPDATE SET created_at = excluded.created_at',
    [sha256, size, at, attemptId, tokenHash],
  );
  if (r.changes === 1) return { kind: 'ok' };
  return unmatched(db, attemptId, tokenHash, async () => ({ kind: 'ok' as const }));
}

export async function recordArtifact(db: SqlExecutor, attemptId: number, tokenHash: string, rec: ArtifactRecord, at: EpochMs): Promise<RecordArtifactResult> {
  // The join on blobs (with its size) makes "the blob is stored" part of the same statement: a
  // record never points at a blob the server does not have.
  const r = await db.run(
    'INSERT INTO artifacts (attempt_id, job_id, blob_sha256, size, files, created_at, expires_at) ' +
      'SELECT a.id, a.job_id, b.sha256, b.size, CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS BIGINT) ' +
      `FROM attempts a JOIN blobs b ON b.sha256 = ? AND b.size = ? WHERE ${RUNNING} ` +
      'ON CONFLICT (attempt_id) DO NOTHING',
    [rec.files, at, rec.expiresAt, rec.sha256, rec.size, attemptId, tokenHash],
  );
  if (r.changes === 1) return { kind: 'ok', created: true };
  return unmatched(db, attemptId, tokenHash, async () => {
    const had = await db.get<{ blob_sha256: string; size: number | string; files: number | string }>(
      'SELECT blob_sha256, size, files FROM artifacts WHERE attempt_id = ?',
      [attemptId],
    );
    if (had) {
      const same = had.blob_sha256 === rec.sha256 && Number(had.size) === rec.size && Number(had.files) === rec.files;
      return same ? { kind: 'ok' as const, created: false } : { kind: 'conflict' as const };
    }
    return blobProblem(db, rec.sha256);
  });
}

async function blobProblem(db: SqlExecutor, sha256: string): Promise<{ kind: 'blob-missing' } | { kind: 'size-mismatch'; size: number }> {
  const blob = await db.get<{ size: number | string }>('SELECT size FROM blobs WHERE sha256 = ?', [sha256]);
  return blob ? { kind: 'size-mismatch', size: Number(blob.size) } : { kind: 'blob-missing' };
}

/**
 * The newest artifact of `sourceJobId`, for an attempt whose job downloads it: the source must be
 * a job of the same pipeline that the attempt's job names among its artifact sources.
 */
export async function findArtifact(
  db: SqlExecutor,
  specs: SpecCache,
  attemptId: number,
  tokenHash: string,
  sourceJobId: number,
  at: EpochMs,
): Promise<ArtifactLookup> {
  const row = await attemptFacts(db, attemptId);
  const fence = fenceOf(row, tokenHash);
  if (fence) return fence;
  const source = await db.get<{ pipeline_id: number | string; name: string }>('SELECT pipeline_id, name FROM jobs WHERE id = ?', [sourceJobId]);
  const spec = (await specs.load(db, [Number(row!.job_id)])).get(Number(row!.job_id));
  if (!source || Number(source.pipeline_id) !== Number(row!.pipeline_id) || !spec?.artifactSources.includes(source.name)) {
    return { kind: 'not-a-source' };
  }
  // The newest attempt's record, or its tombstone once expired (expireArtifactsIn). No record is
  // kept as its ref's latest here: the asking attempt runs in the same pipeline, which has not ended.
  const a = await db.get<{ attempt_id: number | string; blob_sha256: string; size: number | string; expires_at: number | string | null }>(
    'SELECT attempt_id, blob_sha256, size, expires_at FROM artifacts WHERE job_id = ? ORDER BY id DESC LIMIT 1',
    [sourceJobId],
  );
  const gone = await db.get<{ attempt_id: number | string; expires_at: number | string }>(
    'SELECT attempt_id, expires_at FROM artifact_expiries WHERE job_id = ? ORDER BY attempt_id DESC LIMIT 1',
    [sourceJobId],
  );
  if (gone && (!a || Number(gone.attempt_id) > Number(a.attempt_id))) return { kind: 'expired', expiredAt: Number(gone.expires_at) };
  if (!a) return { kind: 'none' };
  if (a.expires_at !== null && Number(a.expires_at) <= at) return { kind: 'expired', expiredAt: Number(a.expires_at) };
  return { kind: 'ok', sha256: a.blob_sha256, size: Number(a.size) };
}

/**
 * Kept past its expiry as its ref's latest (GitLab's "keep artifacts from the most recent
 * successful jobs"): the record's pipeline (`p`, of project `pr`) succeeded and no later pipeline of
 * its ref did, and its project keeps them (its own setting, else the instance's: the one
 * parameter). Read where an expired record is shown, downloaded or expired, so the three agree.
 */
export const KEPT_LATEST =
  "(p.status = 'success' AND COALESCE(pr.keep_latest_artifacts, CAST(? AS INTEGER)) = 1 AND NOT EXISTS (" +
  "SELECT 1 FROM pipelines q WHERE q.project_id = p.project_id AND q.ref = p.ref AND q.runs_on = 'fleet' AND q.status = 'success' AND q.id > p.id))";

export async function listArtifacts(db: SqlExecutor, jobId: number, keepLatestDefault: boolean): Promise<StoredArtifact[]> {
  const rows = await db.all<{
    number: number | string;
    blob_sha256: string;
    size: number | string;
    files: number | string;
    created_at: number | string;
    expires_at: number | string | null;
    kept: number | boolean;
  }>(
    `SELECT t.number, a.blob_sha256, a.size, a.files, a.created_at, a.expires_at, CASE WHEN ${KEPT_LATEST} THEN 1 ELSE 0 END AS kept ` +
      'FROM artifacts a JOIN attempts t ON t.id = a.attempt_id JOIN jobs j ON j.id = a.job_id JOIN pipelines p ON p.id = j.pipeline_id ' +
      'JOIN projects pr ON pr.id = p.project_id WHERE a.job_id = ? ORDER BY t.number',
    [keepLatestDefault ? 1 : 0, jobId],
  );
  const gone = await db.all<{ number: number | string; size: number | string; files: number | string; created_at: number | string; expires_at: number | string }>(
    'SELECT t.number, e.size, e.files, e.created_at, e.expires_at FROM artifact_expiries e JOIN attempts t ON t.id = e.attempt_id WHERE e.job_id = ?',
    [jobId],
  );
  const live: StoredArtifact[] = rows.map((r) => ({
    attempt: Number(r.number),
    sha256: r.blob_sha256,
    size: Number(r.size),
    files: Number(r.files),
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    keptAsLatest: Number(r.kept) === 1,
  }));
  const tombstones: StoredArtifact[] = gone.map((r) => ({
    attempt: Number(r.number),
    sha256: null,
    size: Number(r.size),
    files: Number(r.files),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    keptAsLatest: false,
  }));
  return [...live, ...tombstones].sort((x, y) => x.attempt - y.attempt);
}

/**
 * Caches of untrusted pipelines (pull requests from forks) live under their own prefix: such a
 * pipeline runs code anyone can write, so it must not be able to plant a cache that a protected
 * branch's pipeline would restore (nor read one that may hold what a trusted job left there).
 * Keys an agent names match [A-Za-z0-9._-], so no trusted key can start with the prefix.
 */
export const UNTRUSTED_CACHE_PREFIX = 'untrusted/';
const STORED_CACHE_KEY = `CASE WHEN p.trusted = 0 THEN '${UNTRUSTED_CACHE_PREFIX}' || CAST(? AS TEXT) ELSE CAST(? AS TEXT) END`;

export async function putCache(db: SqlExecutor, attemptId: number, tokenHash: string, key: string, blob: BlobRef, at: EpochMs): Promise<PutCacheResult> {
  // One statement replaces the key's blob: readers see the old archive or the new one.
  const r = await db.run(
    'INSERT INTO caches (project_id, key, blob_sha256, size, updated_at, used_at) ' +
      `SELECT a.project_id, ${STORED_CACHE_KEY}, b.sha256, b.size, CAST(? AS BIGINT), CAST(? AS BIGINT) ` +
      `FROM attempts a JOIN pipelines p ON p.id = a.pipeline_id JOIN blobs b ON b.sha256 = ? AND b.size = ? WHERE ${RUNNING} ` +
      'ON CONFLICT (project_id, key) DO UPDATE SET blob_sha256 = excluded.blob_sha256, size = excluded.size, updated_at = excluded.updated_at, used_at = excluded.used_at',
    [key, key, at, at, blob.sha256, blob.size, attemptId, tokenHash],
  );
  if (r.changes === 1) return { kind: 'ok' };
  return unmatched(db, attemptId, tokenHash, () => blobProblem(db, blob.sha256));
}

export async function getCache(db: SqlExecutor, attemptId: number, tokenHash: string, key: string, at: EpochMs): Promise<CacheLookup> {
  const row = await attemptFacts(db, attemptId);
  const fence = fenceOf(row, tokenHash);
  if (fence) return fence;
  // A restore is a use: a cache restored every week never expires (sweepArtifacts).
  const c = await db.get<{ blob_sha256: string; size: number | string }>(
    `UPDATE caches SET used_at = CAST(? AS BIGINT) WHERE project_id = ? AND key = (SELECT ${STORED_CACHE_KEY} FROM pipelines p WHERE p.id = ?) ` +
      'RETURNING blob_sha256, size',
    [at, row!.project_id, key, key, row!.pipeline_id],
  );
  return c ? { kind: 'ok', sha256: c.blob_sha256, size: Number(c.size) } : { kind: 'none' };
}

/** Nothing names the blob (`blobs` in the statement): no artifact record, no cache. The mark, as SQL. */
export const UNREFERENCED =
  'NOT EXISTS (SELECT 1 FROM artifacts r WHERE r.blob_sha256 = blobs.sha256) AND NOT EXISTS (SELECT 1 FROM caches c WHERE c.blob_sha256 = blobs.sha256)';

const EXPIRED_RECORDS =
  'FROM artifacts r JOIN jobs j ON j.id = r.job_id JOIN pipelines p ON p.id = j.pipeline_id JOIN projects pr ON pr.id = p.project_id ' +
  `WHERE r.expires_at IS NOT NULL AND r.expires_at <= ? AND NOT ${KEPT_LATEST}`;

/** See RetentionStore.expiredArtifacts. */
export async function expiredArtifactsIn(db: SqlExecutor, at: EpochMs, keepLatestDefault: boolean, afterId: number, limit: number): Promise<ExpiredArtifact[]> {
  const rows = await db.all<{ id: number | string; attempt_id: number | string; blob_sha256: string; size: number | string }>(
    `SELECT r.id, r.attempt_id, r.blob_sha256, r.size ${EXPIRED_RECORDS} AND r.id > ? ORDER BY r.id LIMIT ${Math.max(1, Math.floor(limit))}`,
    [at, keepLatestDefault ? 1 : 0, afterId],
  );
  return rows.map((r) => ({ id: Number(r.id), attemptId: Number(r.attempt_id), sha256: r.blob_sha256, size: Number(r.size) }));
}

/**
 * Expires the records `ids` (those still expired and not kept as their ref's latest: the DELETE
 * re-checks it) in one transaction, each leaving its tombstone in `artifact_expiries`: the record
 * goes, so its blob becomes collectable, and its download answers 410 rather than 404.
 */
export async function expireArtifactsIn(db: SqlDialect, ids: readonly number[], at: EpochMs, keepLatestDefault: boolean): Promise<number> {
  if (ids.length === 0) return 0;
  return db.transaction(async (tx) => {
    const gone = await tx.all<{ attempt_id: number | string; job_id: number | string; size: number | string; files: number | string; created_at: number | string; expires_at: number | string }>(
      `DELETE FROM artifacts WHERE id IN (SELECT r.id ${EXPIRED_RECORDS} AND r.id IN (${ids.map(() => '?').join(', ')})) ` +
        'RETURNING attempt_id, job_id, size, files, created_at, expires_at',
      [at, keepLatestDefault ? 1 : 0, ...ids],
    );
    if (gone.length > 0) {
      await tx.run(
        'INSERT INTO artifact_expiries (attempt_id, job_id, size, files, created_at, expires_at, expired_at) VALUES ' +
          `${gone.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')} ON CONFLICT (attempt_id) DO NOTHING`,
        gone.flatMap((g) => [Number(g.attempt_id), Number(g.job_id), Number(g.size), Number(g.files), Number(g.created_at), Number(g.expires_at), at]),
      );
    }
    return gone.length;
  });
}

/**
 * The sweep of one blob: its row deleted under its lock only if nothing references it and nobody
 * touched it since `before`, then `removeFile`, then the commit. A HEAD or PUT of the same blob
 * meanwhile waits for that commit (PostgreSQL: the row lock; SQLite: the one writer) and then
 * finds the file gone (the PUT answers 503 and the agent sends the bytes again), so no row ever
 * outlives its file. A record or cache that names the blob and commits first makes the DELETE
 * match nothing; one still uncommitted makes it fail on the foreign key: either way the blob
 * stays, for a later sweep to look at again.
 */
export async function removeBlobIn(db: SqlDialect, sha256: string, before: EpochMs, removeFile: (sha256: string) => Promise<void>): Promise<boolean> {
  try {
    return await db.transaction(async (tx) => {
      const r = await tx.run(`DELETE FROM blobs WHERE sha256 = ? AND created_at < ? AND ${UNREFERENCED}`, [sha256, before]);
      if (r.changes !== 1) return false;
      await removeFile(sha256);
      return true;
    });
  } catch {
    return false;
  }
}

/**
 * The minute's sweep: expired artifact records (but those kept as their ref's latest), caches
 * unused since `cachesUnusedSince`, then blobs nothing references that nobody touched since
 * `blobsBefore`, row and file together (removeBlobIn), `limit` of each.
 */
export async function sweepArtifacts(
  db: SqlDialect,
  at: EpochMs,
  blobsBefore: EpochMs,
  removeFile: (sha256: string) => Promise<void>,
  cachesUnusedSince: EpochMs | null = null,
  keepLatestDefault = false,
  limit = 100,
): Promise<{ artifacts: number; caches: number; blobs: number }> {
  const expired = await expireArtifactsIn(
    db,
    (await expiredArtifactsIn(db, at, keepLatestDefault, 0, limit)).map((a) => a.id),
    at,
    keepLatestDefault,
  );
  // Caches nobody saved or restored since then; their archives become unreferenced below.
  const unused =
    cachesUnusedSince === null
      ? { changes: 0 }
      : await db.run(
          `DELETE FROM caches WHERE (project_id, key) IN (SELECT project_id, key FROM caches WHERE used_at < ? ORDER BY used_at LIMIT ${limit})`,
          [cachesUnusedSince],
        );
  const candidates = await db.all<{ sha256: string }>(`SELECT sha256 FROM blobs WHERE created_at < ? AND ${UNREFERENCED} LIMIT ${limit}`, [blobsBefore]);
  let blobs = 0;
  for (const { sha256 } of candidates) if (await removeBlobIn(db, sha256, blobsBefore, removeFile)) blobs++;
  return { artifacts: expired, caches: unused.changes, blobs };
}

/** See FleetStore.adoptBlobs. */
export async function adoptBlobs(db: SqlExecutor, files: readonly { sha256: string; size: number; modifiedAt: EpochMs }[]): Promise<number> {
  let adopted = 0;
  for (let i = 0; i < files.length; i += 100) {
    const batch = files.slice(i, i + 100);
    const r = await db.run(
      `INSERT INTO blobs (sha256, size, created_at) VALUES ${batch.map(() => '(CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT))').join(', ')} ` +
        'ON CONFLICT (sha256) DO NOTHING',
      batch.flatMap((f) => [f.sha256, f.size, f.modifiedAt]),
    );
    adopted += r.changes;
  }
  return adopted;
}

/** See FleetStore.evictCaches. */
export async function evictCaches(db: SqlDialect, maxBytes: number): Promise<number> {
  const over = await db.all<{ project_id: number | string; total: number | string }>(
    'SELECT project_id, SUM(size) AS total FROM caches GROUP BY project_id HAVING SUM(size) > ?',
    [maxBytes],
  );
  let evicted = 0;
  for (const p of over) {
    let excess = Number(p.total) - maxBytes;
    const oldest = await db.all<{ key: string; size: number | string; used_at: number | string }>(
      'SELECT key, size, used_at FROM caches WHERE project_id = ? ORDER BY used_at, key LIMIT 1000',
      [p.project_id],
    );
    for (const c of oldest) {
      if (excess <= 0) break;
      // Only if unused since it was picked: one saved or restored meanwhile is in use again.
      const r = await db.run('DELETE FROM caches WHERE project_id = ? AND key = ? AND used_at = ?', [p.project_id, c.key, c.used_at]);
      if (r.changes === 1) {
        excess -= Number(c.size);
        evicted++;
      }
    }
  }
  return evicted;
}
