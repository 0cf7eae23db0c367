// Compacted logs in a directory against an S3-compatible bucket (docs/BENCHMARKS.md, "Log
// objects"): a 10 MB build log (text lines with some binary) made into one object, stored, and
// read back: one 4 KiB range read from a fresh server (size, index, one block) and the whole log.
// The bucket is the tests' S3 server (s3rver on loopback behind a front that checks every SigV4
// signature and payload hash): a floor for the protocol's cost, not a figure for a network.
// Reading the chunk rows and deleting them is the same work for both stores and is left out.

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore } from '../src/blobstore/blob-store.js';
import { DirBlobStore } from '../src/blobstore/dir-blob-store.js';
import { S3BlobStore } from '../src/blobstore/s3-blob-store.js';
import { encodeLogObject, readObjectIndex, readObjectPieces, type LogPiece } from '../src/logstore/log-object.js';
import { TEST_BUCKET, TEST_REGION, TestS3 } from '../test/helpers/s3-server.js';
import { fmt } from './util.js';

const LOG_BYTES = 10 * 1024 * 1024;
const UPLOAD = 64 * 1024;
const RUNS = 5;

function buildLog(): LogPiece[] {
  const pieces: LogPiece[] = [];
  let line = 0;
  for (let at = 0; at < LOG_BYTES; ) {
    const parts: Buffer[] = [];
    let n = 0;
    while (n < UPLOAD) {
      const b = line % 50 === 49 ? randomBytes(200) : Buffer.from(`[${String(line).padStart(7, '0')}] compiling src/module_${line % 997}.c -O2 -Wall\n`);
      parts.push(b);
      n += b.length;
      line++;
    }
    const data = Buffer.concat(parts).subarray(0, Math.min(UPLOAD, LOG_BYTES - at));
    pieces.push({ offset: at, end: at + data.length, at: Date.now(), data });
    at += data.length;
  }
  return pieces;
}

async function* batches(pieces: LogPiece[]): AsyncIterable<LogPiece[]> {
  for (let i = 0; i < pieces.length; i += 64) yield pieces.slice(i, i + 64);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(label: string, make: (run: number) => BlobStore, pieces: LogPiece[]): Promise<void> {
  const encode: number[] = [];
  const put: number[] = [];
  const firstRange: number[] = [];
  const whole: number[] = [];
  let objectBytes = 0;
  for (let run = 0; run < RUNS; run++) {
    // A fresh store (and prefix) each run: every put creates.
    const store = make(run);
    let t = performance.now();
    const parts = await encodeLogObject(batches(pieces));
    const hash = createHash('sha256');
    for (const p of parts) hash.update(p);
    const sha = hash.digest('hex');
    objectBytes = parts.reduce((n, p) => n + p.length, 0);
    encode.push(performance.now() - t);
    t = performance.now();
    await store.put(sha, Readable.from(parts), { maxBytes: objectBytes });
    put.push(performance.now() - t);

    const read = async (pos: number, len: number) => (await store.read(sha, pos, len))!;
    t = performance.now();
    const size = (await store.size(sha))!;
    const index = await readObjectIndex({ size, read });
    const got = await readObjectPieces({ read }, index, 5_000_000, 4096);
    firstRange.push(performance.now() - t);
    if (!got.some((p) => p.offset <= 5_000_000 && p.end > 5_000_000)) throw new Error('the range read missed its offset');

    t = performance.now();
    let bytes = 0;
    for (let at = 0; at < LOG_BYTES; ) {
      const ps = await readObjectPieces({ read }, index, at, 1 << 20);
      for (const p of ps) if (p.end > at) {
        bytes += p.end - Math.max(at, p.offset);
        at = p.end;
      }
    }
    whole.push(performance.now() - t);
    if (bytes !== LOG_BYTES) throw new Error(`read ${bytes} bytes back`);
    if (store instanceof S3BlobStore) store.close();
  }
  console.log(
    `${label.padEnd(34)} object ${(objectBytes / 1e6).toFixed(2)} MB | encode+hash ${fmt(median(encode)).padStart(8)} | store ${fmt(median(put)).padStart(8)} | ` +
      `first 4 KiB range ${fmt(median(firstRange)).padStart(8)} | whole log ${fmt(median(whole)).padStart(8)}`,
  );
}

export async function logObjects(): Promise<void> {
  console.log(`\n## Log objects: a ${LOG_BYTES / 1024 / 1024} MiB log compacted, stored and read back (median of ${RUNS})`);
  const pieces = buildLog();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-objects-'));
  const s3 = await new TestS3().start();
  try {
    await measure('directory (fsync)', (run) => new DirBlobStore(path.join(base, `dir-${run}`)), pieces);
    await measure('S3 bucket (s3rver on loopback)', (run) =>
      new S3BlobStore({
        bucket: TEST_BUCKET,
        prefix: `bench-${run}/`,
        endpoint: s3.endpoint,
        region: TEST_REGION,
        pathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, sessionToken: null },
        spoolDir: path.join(base, 'spool'),
      }), pieces);
  } finally {
    await s3.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}
