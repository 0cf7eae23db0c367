// The blob store as a directory ($GANTRY_HOME/blobs by default; a fleet shares it over a network
// filesystem). Layout: `sha256/<2 hex>/<62 hex>` for blobs, `tmp/` for uploads in progress. Both
// are under one root so that the rename that publishes a blob stays on one filesystem, which is
// what makes it atomic.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { assertSha256Hex, type BlobStore, type PutOptions, type PutResult } from './blob-store.js';
import { isNotFound, listOrEmpty, removeStaleParts, statOrNull, writeHashed, writeVerified } from './verified-spool.js';

export class DirBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  async put(sha256Hex: string, body: NodeJS.ReadableStream | Readable, opts: PutOptions): Promise<PutResult> {
    assertSha256Hex(sha256Hex);
    const { created, size } = await this.spoolAndPublish(
      sha256Hex,
      async (file) => ({ size: await writeVerified(file, body, sha256Hex, opts.maxBytes), sha256: sha256Hex }),
      opts.inspect,
    );
    return { created, size };
  }

  putContent(body: AsyncIterable<Buffer>, opts: { maxBytes: number }): Promise<PutResult & { sha256: string }> {
    return this.spoolAndPublish('unnamed', (file) => writeHashed(file, body, opts.maxBytes, 'the blob'));
  }

  /** Writes a spool file in `tmp/` with `write`, then publishes it under the SHA-256 `write` returns. */
  private async spoolAndPublish(
    label: string,
    write: (file: fs.promises.FileHandle) => Promise<{ size: number; sha256: string }>,
    inspect?: (tmpFile: string) => Promise<void>,
  ): Promise<PutResult & { sha256: string }> {
    const tmpDir = path.join(this.root, 'tmp');
    await fs.promises.mkdir(tmpDir, { recursive: true });
    // A name of its own per upload: two uploads of the same blob (two agents, two server
    // instances) each write their own file and meet only at the rename.
    const tmp = path.join(tmpDir, `${label}.${randomBytes(8).toString('hex')}.part`);
    const file = await fs.promises.open(tmp, 'wx', 0o600);
    let open = true;
    let published = false;
    try {
      const { size, sha256 } = await write(file);
      if (inspect) await inspect(tmp);
      // Durable before it is visible: once the name exists, a row in `blobs` may point at it.
      await file.sync();
      await file.close();
      open = false;

      const dest = this.blobPath(sha256);
      const dir = path.dirname(dest);
      const made = await fs.promises.mkdir(dir, { recursive: true });
      if (await isFile(dest)) return { created: false, size, sha256 };
      // Two puts of the same blob may both get here: the second rename replaces identical bytes
      // atomically (readers holding the first file keep reading it), and both report created.
      await fs.promises.rename(tmp, dest);
      published = true;
      await fsyncDir(dir);
      if (made !== undefined) {
        // New directories are durable only once their parents are synced too.
        for (let d = path.dirname(dir); ; d = path.dirname(d)) {
          await fsyncDir(d);
          if (d === path.dirname(made) || d === path.dirname(d)) break;
        }
      }
      return { created: true, size, sha256 };
    } finally {
      if (open) await file.close().catch(() => undefined);
      if (!published) await fs.promises.rm(tmp, { force: true });
    }
  }

  async has(sha256Hex: string): Promise<boolean> {
    assertSha256Hex(sha256Hex);
    return isFile(this.blobPath(sha256Hex));
  }

  async size(sha256Hex: string): Promise<number | null> {
    assertSha256Hex(sha256Hex);
    const st = await statOrNull(this.blobPath(sha256Hex));
    return st?.isFile() ? st.size : null;
  }

  async open(sha256Hex: string): Promise<Readable | null> {
    assertSha256Hex(sha256Hex);
    const file = await openOrNull(this.blobPath(sha256Hex));
    if (!file) return null;
    // The stream holds the open file: a delete meanwhile does not cut a download short.
    return file.createReadStream();
  }

  async read(sha256Hex: string, position: number, length: number): Promise<Buffer | null> {
    assertSha256Hex(sha256Hex);
    const file = await openOrNull(this.blobPath(sha256Hex));
    if (!file) return null;
    try {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await file.read(buf, got, length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await file.close();
    }
  }

  async delete(sha256Hex: string): Promise<boolean> {
    assertSha256Hex(sha256Hex);
    try {
      await fs.promises.unlink(this.blobPath(sha256Hex));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async *listOlderThan(before: number): AsyncIterable<{ sha256: string; size: number; modifiedAt: number }> {
    const top = path.join(this.root, 'sha256');
    for (const prefix of await listOrEmpty(top)) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      const names = (await listOrEmpty(path.join(top, prefix))).filter((rest) => /^[0-9a-f]{62}$/.test(rest));
      // One directory's stats at once: the filesystem answers them in parallel.
      const stats = await Promise.all(names.map((rest) => statOrNull(path.join(top, prefix, rest))));
      for (let i = 0; i < names.length; i++) {
        const st = stats[i];
        if (st?.isFile() && st.mtimeMs < before) yield { sha256: prefix + names[i]!, size: st.size, modifiedAt: Math.floor(st.mtimeMs) };
      }
    }
  }

  removePartials(before: number): Promise<number> {
    return removeStaleParts(path.join(this.root, 'tmp'), before);
  }

  private blobPath(sha256Hex: string): string {
    return path.join(this.root, 'sha256', sha256Hex.slice(0, 2), sha256Hex.slice(2));
  }
}

async function openOrNull(p: string): Promise<fs.promises.FileHandle | null> {
  try {
    return await fs.promises.open(p, 'r');
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

async function isFile(p: string): Promise<boolean> {
  return (await statOrNull(p))?.isFile() ?? false;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
