// The blob store as an S3-compatible bucket (docs/LOGS.md, "Where log objects live"). Blob
// `<sha256>` is the object `<prefix><sha256>`. A put takes the bytes into a local spool file first,
// checking size and digest as they come, and sends only what hashes to its name, in one PutObject
// signed with that same SHA-256: S3 checks it too, and a PUT is atomic, so an object is there
// whole or not at all. No multipart upload is used (a blob is at most 5 GiB), so nothing partial
// is ever left in the bucket: `removePartials` only clears spool files a killed process left.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GantryError } from '../domain/errors.js';
import { assertSha256Hex, type BlobStore, type PutOptions, type PutResult } from './blob-store.js';
import { readBody, S3Client, xmlAll, xmlText, type S3Answer, type S3ClientOptions } from './s3-client.js';
import { removeStaleParts, writeHashed, writeVerified } from './verified-spool.js';

/** S3's limit for one PutObject. */
export const MAX_S3_PUT_BYTES = 5 * 1024 ** 3;

export interface S3BlobStoreOptions extends S3ClientOptions {
  /** Put before every blob's name: '' or ending in '/' (`gantry/logs/`). */
  prefix: string;
  /** A local directory for uploads being checked before they are sent. */
  spoolDir: string;
  /** Keys asked for per ListObjectsV2 page: default 1000, S3's most. Smaller only for tests of paging. */
  listPageSize?: number;
}

export class S3BlobStore implements BlobStore {
  private readonly s3: S3Client;
  readonly prefix: string;

  constructor(private readonly opts: S3BlobStoreOptions) {
    this.s3 = new S3Client(opts);
    this.prefix = opts.prefix;
  }

  /** `s3://bucket/prefix`, for logs and messages. */
  get location(): string {
    return this.s3.where(this.prefix);
  }

  /** The server's origin (`https://host:port`), for logs. */
  get endpoint(): string {
    return new URL(this.opts.endpoint).origin;
  }

  async put(sha256Hex: string, body: NodeJS.ReadableStream | Readable, opts: PutOptions): Promise<PutResult> {
    assertSha256Hex(sha256Hex);
    const maxBytes = Math.min(opts.maxBytes, MAX_S3_PUT_BYTES);
    const { created, size } = await this.spoolAndSend(
      sha256Hex,
      async (file) => ({ size: await writeVerified(file, body, sha256Hex, maxBytes), sha256: sha256Hex }),
      opts.inspect,
    );
    return { created, size };
  }

  putContent(body: AsyncIterable<Buffer>, opts: { maxBytes: number }): Promise<PutResult & { sha256: string }> {
    return this.spoolAndSend('unnamed', (file) => writeHashed(file, body, Math.min(opts.maxBytes, MAX_S3_PUT_BYTES), 'the blob'));
  }

  /** Writes a spool file with `write`, then sends it as the object named by the SHA-256 `write` returns. */
  private async spoolAndSend(
    label: string,
    write: (file: fs.promises.FileHandle) => Promise<{ size: number; sha256: string }>,
    inspect?: (tmpFile: string) => Promise<void>,
  ): Promise<PutResult & { sha256: string }> {
    await fs.promises.mkdir(this.opts.spoolDir, { recursive: true });
    const tmp = path.join(this.opts.spoolDir, `${label}.${randomBytes(8).toString('hex')}.part`);
    const file = await fs.promises.open(tmp, 'wx', 0o600);
    let open = true;
    try {
      const { size, sha256 } = await write(file);
      await file.close();
      open = false;
      if (inspect) await inspect(tmp);
      if (await this.has(sha256)) return { created: false, size, sha256 };
      // Two puts of one blob may both get here: the second PUT replaces identical bytes
      // atomically, and both report created (as the directory store does).
      const answer = await this.s3.send({
        method: 'PUT',
        key: this.key(sha256),
        headers: { 'Content-Type': 'application/octet-stream' },
        body: { open: () => fs.createReadStream(tmp), length: size, sha256 },
        accept: [200],
      });
      answer.body.resume();
      return { created: true, size, sha256 };
    } finally {
      if (open) await file.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
    }
  }

  async has(sha256Hex: string): Promise<boolean> {
    return (await this.size(sha256Hex)) !== null;
  }

  async size(sha256Hex: string): Promise<number | null> {
    assertSha256Hex(sha256Hex);
    // A HEAD's 404 cannot tell a missing object from a missing bucket (it has no body): a missing
    // bucket reads as missing blobs here, and fails loudly at the first put.
    const answer = await this.s3.send({ method: 'HEAD', key: this.key(sha256Hex), accept: [200, 404] });
    answer.body.resume();
    if (answer.status === 404) return null;
    return Number(answer.headers['content-length']);
  }

  async read(sha256Hex: string, position: number, length: number): Promise<Buffer | null> {
    assertSha256Hex(sha256Hex);
    if (length <= 0) return (await this.has(sha256Hex)) ? Buffer.alloc(0) : null;
    const key = this.key(sha256Hex);
    const answer = await this.s3.send({ method: 'GET', key, headers: { Range: `bytes=${position}-${position + length - 1}` }, accept: [200, 206, 404, 416] });
    if (answer.status === 404) return this.missing(answer, key);
    const bytes = await this.bytesOf(answer, key);
    // 416: the range starts past the end. 200: a server that ignores Range sent it all.
    if (answer.status === 416) return Buffer.alloc(0);
    return answer.status === 200 ? bytes.subarray(position, position + length) : bytes;
  }

  async open(sha256Hex: string): Promise<Readable | null> {
    assertSha256Hex(sha256Hex);
    const key = this.key(sha256Hex);
    const answer = await this.s3.send({ method: 'GET', key, accept: [200, 404] });
    if (answer.status === 404) return this.missing(answer, key);
    return answer.body;
  }

  async delete(sha256Hex: string): Promise<boolean> {
    // S3's DELETE answers 204 whether or not the object was there: ask first.
    if (!(await this.has(sha256Hex))) return false;
    const answer = await this.s3.send({ method: 'DELETE', key: this.key(sha256Hex), accept: [200, 204] });
    answer.body.resume();
    return true;
  }

  async *listOlderThan(before: number): AsyncIterable<{ sha256: string; size: number; modifiedAt: number }> {
    let token: string | null = null;
    do {
      const query: Record<string, string> = { 'list-type': '2', prefix: this.prefix, 'max-keys': String(this.opts.listPageSize ?? 1000) };
      if (token) query['continuation-token'] = token;
      const answer = await this.s3.send({ method: 'GET', key: null, query, accept: [200] });
      const xml = (await this.bytesOf(answer, null)).toString('utf8');
      for (const entry of xmlAll(xml, 'Contents')) {
        const name = (xmlText(entry, 'Key') ?? '').slice(this.prefix.length);
        const modifiedAt = Date.parse(xmlText(entry, 'LastModified') ?? '');
        // Only what this store names: anything else under the prefix is not a blob.
        if (!/^[0-9a-f]{64}$/.test(name) || !(modifiedAt < before)) continue;
        yield { sha256: name, size: Number(xmlText(entry, 'Size')), modifiedAt };
      }
      token = xmlText(xml, 'IsTruncated') === 'true' ? xmlText(xml, 'NextContinuationToken') : null;
    } while (token);
  }

  removePartials(before: number): Promise<number> {
    return removeStaleParts(this.opts.spoolDir, before);
  }

  /** Whether the bucket answers these credentials (one ListObjectsV2 of one key); throws why not. */
  async probe(): Promise<void> {
    const answer = await this.s3.send({ method: 'GET', key: null, query: { 'list-type': '2', prefix: this.prefix, 'max-keys': '1' }, accept: [200] });
    answer.body.resume();
  }

  close(): void {
    this.s3.close();
  }

  private key(sha256Hex: string): string {
    return `${this.prefix}${sha256Hex}`;
  }

  /** A GET's 404: the object is missing (null), unless the bucket itself is. */
  private async missing(answer: S3Answer, key: string): Promise<null> {
    const code = xmlText((await this.bytesOf(answer, key)).toString('utf8'), 'Code');
    if (code === 'NoSuchBucket') throw new GantryError('GANTRY_E_BLOB_STORE', `GET ${this.s3.where(key)}: the bucket does not exist`);
    return null;
  }

  private async bytesOf(answer: S3Answer, key: string | null): Promise<Buffer> {
    try {
      return await readBody(answer.body);
    } catch (err) {
      throw new GantryError('GANTRY_E_BLOB_STORE', `GET ${this.s3.where(key)}: the answer was cut short (${(err as Error).message})`);
    }
  }
}
