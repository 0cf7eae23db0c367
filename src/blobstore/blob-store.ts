// Content-addressed blobs: artifact and cache archives, named by the SHA-256 of their bytes
// (docs/PROTOCOL.md §11), and compacted logs (docs/LOGS.md). The store knows nothing of jobs,
// artifacts or caches; the `blobs` table says which blobs are referenced. A directory by default
// (dir-blob-store.ts), or an S3-compatible bucket (s3-blob-store.ts): nothing here assumes a
// local file, so both give the same answers.

import type { Readable } from 'node:stream';
import { GantryError } from '../domain/errors.js';

export interface PutOptions {
  /** Bytes allowed; one more and the upload stops with GANTRY_E_TOO_LARGE, nothing kept. */
  maxBytes: number;
  /**
   * Looks at the complete, digest-checked bytes before they become the blob (the server passes
   * `checkArchiveEntries`). If it throws, nothing is kept and put rethrows its error.
   */
  inspect?: (tmpFile: string) => Promise<void>;
}

export interface PutResult {
  /** False when the blob was already stored (the bytes just received are dropped). */
  created: boolean;
  size: number;
}

export interface BlobStore {
  /**
   * Stores `body` as the blob `sha256Hex` if its bytes hash to that name. A blob is visible only
   * whole: readers never see a partial one, and a failed put leaves nothing behind.
   * Throws GANTRY_E_INVALID_REQUEST (not a 64-character lowercase hex name),
   * GANTRY_E_TOO_LARGE, GANTRY_E_BLOB_DIGEST_MISMATCH, or what `inspect` throws.
   */
  put(sha256Hex: string, body: NodeJS.ReadableStream | Readable, opts: PutOptions): Promise<PutResult>;
  /**
   * Stores `body` as the blob named by the SHA-256 of its bytes, for bytes whose name is known
   * only once they are all made (a compacted log). They go into the same spool file a put uses,
   * hashed as they come, and become visible whole, as with put. `body` is read one chunk at a
   * time, each written before the next is asked for: a generator that makes its bytes as it is
   * read holds one chunk, not the blob. Throws GANTRY_E_TOO_LARGE, or what `body` throws.
   */
  putContent(body: AsyncIterable<Buffer>, opts: { maxBytes: number }): Promise<PutResult & { sha256: string }>;
  has(sha256Hex: string): Promise<boolean>;
  /** Size in bytes, or null if the blob is not stored. */
  size(sha256Hex: string): Promise<number | null>;
  /** The blob's bytes, or null if it is not stored. */
  open(sha256Hex: string): Promise<Readable | null>;
  /**
   * Bytes [position, position + length) of the blob, fewer where it ends first; null if it is not
   * stored. For the small pieces a log read needs (an object's index, one block); `open` streams.
   */
  read(sha256Hex: string, position: number, length: number): Promise<Buffer | null>;
  /** Removes the blob; false if it was not there. Whether anything still needs it is the caller's question. */
  delete(sha256Hex: string): Promise<boolean>;
  /** Every stored blob last written before `before` (epoch ms), in no particular order. */
  listOlderThan(before: number): AsyncIterable<{ sha256: string; size: number; modifiedAt: number }>;
  /** Deletes what uploads cut short left behind (a killed process) and not written since `before`; returns how many. */
  removePartials(before: number): Promise<number>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Blob names become file paths: anything but 64 lowercase hex digits is refused before touching the disk. */
export function assertSha256Hex(sha256Hex: string): void {
  if (!SHA256_HEX.test(sha256Hex)) {
    throw new GantryError('GANTRY_E_INVALID_REQUEST', `blob name ${JSON.stringify(sha256Hex)} is not 64 lowercase hex digits (a SHA-256)`);
  }
}
