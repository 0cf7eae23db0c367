// What every blob store does before a blob becomes visible: take the bytes into a local file of
// the upload's own, counting them against the limit and hashing them as they come, so a blob
// whose bytes do not hash to its name is never published (or, for bytes the server makes itself,
// so the blob is named by what they hash to). Also the cleanup of such files that a killed
// process left behind.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GantryError } from '../domain/errors.js';

/**
 * Writes `body` into `file` and returns its size once its SHA-256 is `sha256Hex`. Throws
 * GANTRY_E_TOO_LARGE at the first byte past `maxBytes` (without reading the rest) and
 * GANTRY_E_BLOB_DIGEST_MISMATCH; the caller removes the file on any throw.
 */
export async function writeVerified(file: fs.promises.FileHandle, body: AsyncIterable<Buffer | string>, sha256Hex: string, maxBytes: number): Promise<number> {
  const { size, sha256 } = await writeHashed(file, body, maxBytes, `blob ${sha256Hex}`);
  if (sha256 !== sha256Hex) {
    throw new GantryError('GANTRY_E_BLOB_DIGEST_MISMATCH', `the uploaded bytes hash to ${sha256}, not to the blob name ${sha256Hex}`);
  }
  return size;
}

/**
 * Writes `body` into `file`, counting and hashing it, and returns its size and SHA-256. Each chunk
 * is written before the next is asked for, so a body that makes its bytes as it is read (a
 * generator) never runs ahead of the disk. Throws GANTRY_E_TOO_LARGE at the first byte past
 * `maxBytes` (`what` names the blob in the message); the caller removes the file on any throw.
 */
export async function writeHashed(file: fs.promises.FileHandle, body: AsyncIterable<Buffer | string>, maxBytes: number, what: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) {
      throw new GantryError('GANTRY_E_TOO_LARGE', `${what} is larger than the limit of ${maxBytes} bytes`);
    }
    hash.update(buf);
    await writeAll(file, buf);
  }
  return { size, sha256: hash.digest('hex') };
}

/** Deletes `*.part` files in `dir` not written since `before` (epoch ms); returns how many. */
export async function removeStaleParts(dir: string, before: number): Promise<number> {
  let removed = 0;
  for (const name of await listOrEmpty(dir)) {
    if (!name.endsWith('.part')) continue;
    const file = path.join(dir, name);
    const st = await statOrNull(file);
    // A live upload writes as bytes arrive; one untouched since `before` belongs to nobody.
    if (!st?.isFile() || st.mtimeMs >= before) continue;
    await fs.promises.rm(file, { force: true });
    removed++;
  }
  return removed;
}

async function writeAll(file: fs.promises.FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await file.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

export async function statOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.stat(p);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

export async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.promises.readdir(dir);
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
