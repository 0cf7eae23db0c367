// Artifacts and caches of a remote agent's attempt, through the server's blob store
// (PROTOCOL.md §11). Upload: one archive in a temp file, HEAD (the server may have it already),
// PUT the bytes, then the record. Download: the archive to a temp file, then extracted into the
// workspace, every entry checked again: an archive from the server is not trusted either.
//
// Requests are retried while the server is unreachable or overloaded, as every other request of
// an attempt is (§12); an answer that is a refusal ends the transfer with an error, which fails
// the job's artifact step (upload) or the job (download).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createArchive, extractArchive, type ArchiveInfo } from '../archive.js';
import type { ArtifactTransport, CacheTransport, TestReportTransport } from '../transports.js';
import { Backoff, untilAnswered, type ProtocolAnswer, type ProtocolClient, type RequestOptions } from './protocol-client.js';

/** Waits between retries of a transfer while the server is away. */
const BACKOFF_CAP_MS = 5_000;

function refused(what: string, a: ProtocolAnswer): Error {
  const e = (a.body as { error?: { code?: string; message?: string } } | null)?.error;
  return new Error(`${what}: ${e ? `${e.code}: ${e.message}` : `HTTP ${a.status}`}`);
}

/** A private temp directory for one archive, removed whatever happens. */
async function withTempFile<T>(fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'gantry-transfer-'));
  try {
    return await fn(path.join(dir, 'archive.tar.gz'));
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

export function httpTransports(
  client: ProtocolClient,
  attemptId: number,
  token: string,
): { artifacts: ArtifactTransport; cache: CacheTransport; reports: TestReportTransport } {
  const base = `/agent/attempts/${attemptId}`;
  const backoff = new Backoff(BACKOFF_CAP_MS);
  const send = (method: string, p: string, opts: RequestOptions = {}) =>
    untilAnswered(() => client.request(method, `${base}${p}`, { ...opts, headers: { ...opts.headers, 'gantry-attempt-token': token } }), backoff);

  /** Makes sure the server holds the archive's blob; `force` skips the HEAD (the server said it lost it). */
  async function uploadBlob(file: string, info: ArchiveInfo, force = false): Promise<void> {
    const blobPath = `/blobs/sha256/${info.sha256}`;
    if (!force) {
      const head = await send('HEAD', blobPath);
      if (head.status === 200) return;
      if (head.status !== 404) throw refused('the server refused the upload', head);
    }
    for (let tries = 1; ; tries++) {
      const put = await send('PUT', blobPath, { file });
      if (put.status === 200 || put.status === 201) return;
      // Bytes damaged on the way: once more, then it is not the network (§16).
      if (put.code === 'GANTRY_E_BLOB_DIGEST_MISMATCH' && tries < 2) continue;
      throw refused('the server refused the archive', put);
    }
  }

  /** Uploads the archive and writes its record; a record refused for a missing blob uploads once more. */
  async function uploadAndRecord(root: string, files: readonly string[], record: (info: ArchiveInfo) => Promise<ProtocolAnswer>): Promise<void> {
    await withTempFile(async (file) => {
      const info = await createArchive(root, files, file);
      await uploadBlob(file, info);
      let a = await record(info);
      if (a.status === 404 && (a.body as { error?: { blob?: string } } | null)?.error?.blob === 'missing') {
        // Swept between the HEAD and the record (it was unreferenced for an hour): send the bytes.
        await uploadBlob(file, info, true);
        a = await record(info);
      }
      if (a.status !== 200 && a.status !== 201) throw refused('the server refused the record', a);
    });
  }

  /** Downloads an archive and extracts it into `dir`; false when the server has none (or it expired). */
  async function download(p: string, dir: string, missing: readonly number[]): Promise<boolean> {
    return withTempFile(async (file) => {
      const a = await send('GET', p, { saveTo: file });
      if (missing.includes(a.status)) return false;
      if (a.status !== 200) throw refused('the download was refused', a);
      await extractArchive(file, dir);
      return true;
    });
  }

  return {
    artifacts: {
      fetch: (jobId, dir) => download(`/artifacts/${jobId}`, dir, [404, 410]),
      store: (_jobId, root, files, expireInSeconds) =>
        uploadAndRecord(root, files, (info) =>
          send('POST', '/artifacts', { json: { sha256: info.sha256, size: info.size, files: info.files, expireInSeconds } }),
        ),
    },
    reports: {
      // The parsed, bounded report as JSON (PROTOCOL.md §11, "Test reports"): the server never parses a job's XML.
      store: async (report) => {
        const a = await send('POST', '/tests', { json: report });
        if (a.status !== 200 && a.status !== 201) throw refused('the server refused the test report', a);
      },
    },
    cache: {
      restore: (key, dir) => download(`/caches/${encodeURIComponent(key)}`, dir, [404]),
      save: (key, root, files) =>
        uploadAndRecord(root, files, (info) => send('PUT', `/caches/${encodeURIComponent(key)}`, { json: { sha256: info.sha256, size: info.size } })),
    },
  };
}
