// What every BlobStore promises (src/blobstore/blob-store.ts), run against each implementation:
// the directory (dir-blob-store.test.ts) and an S3-compatible bucket (s3-blob-store.test.ts).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobStore } from '../../src/blobstore/blob-store.js';
import { GantryError } from '../../src/domain/errors.js';

export interface ContractStore {
  store: BlobStore;
  /** Everything the store keeps anywhere (blobs, spool files), as names, sorted. */
  leftovers(): Promise<string[]>;
  /** The name `leftovers` shows for a stored blob. */
  stored(sha256: string): string;
}

export function sha(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A body that arrives in pieces with pauses, as an upload does, so concurrent puts interleave. */
export function slowBody(data: Buffer, pieces = 8): Readable {
  const size = Math.ceil(data.length / pieces);
  return Readable.from(
    (async function* () {
      for (let off = 0; off < data.length; off += size) {
        await sleep(2);
        yield data.subarray(off, off + size);
      }
    })(),
  );
}

const LIMIT = { maxBytes: 1 << 20 };

export function blobStoreContract(label: string, make: () => Promise<ContractStore>): void {
  describe(`the blob store contract (${label})`, () => {
    it('gives back the bytes it was given: whole, and by any range', async () => {
      const { store: s, leftovers, stored } = await make();
      const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
      const name = sha(data);
      assert.deepEqual(await s.put(name, slowBody(data), LIMIT), { created: true, size: data.length });
      assert.equal(await s.has(name), true);
      assert.equal(await s.size(name), data.length);
      const stream = await s.open(name);
      assert.ok(stream);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), data);
      for (const [pos, len] of [
        [0, 8],
        [12_345, 1],
        [50_000, 30_000],
        [99_990, 10],
        [99_990, 100], // runs past the end: what there is
        [0, 100_000],
      ] as const) {
        assert.deepEqual(await s.read(name, pos, len), data.subarray(pos, pos + len), `read(${pos}, ${len})`);
      }
      assert.deepEqual(await s.read(name, 100_000, 10), Buffer.alloc(0), 'a read at the end is empty');
      assert.deepEqual(await s.read(name, 200_000, 10), Buffer.alloc(0), 'a read past the end is empty');
      assert.deepEqual(await s.read(name, 10, 0), Buffer.alloc(0));
      assert.deepEqual(await leftovers(), [stored(name)]);
    });

    it('stores the same bytes once: a second put says it did not create anything', async () => {
      const { store: s, leftovers } = await make();
      const name = sha('same');
      assert.deepEqual(await s.put(name, Readable.from([Buffer.from('same')]), LIMIT), { created: true, size: 4 });
      assert.deepEqual(await s.put(name, Readable.from([Buffer.from('same')]), LIMIT), { created: false, size: 4 });
      assert.equal((await leftovers()).length, 1);
    });

    it('refuses bytes that do not hash to the name and keeps nothing', async () => {
      const { store: s, leftovers } = await make();
      const name = sha('expected');
      await assert.rejects(s.put(name, Readable.from([Buffer.from('something else')]), LIMIT), { code: 'GANTRY_E_BLOB_DIGEST_MISMATCH' });
      assert.equal(await s.has(name), false);
      assert.equal(await s.read(name, 0, 10), null);
      assert.deepEqual(await leftovers(), []);
    });

    it('refuses a body over maxBytes and keeps nothing; exactly maxBytes is fine', async () => {
      const { store: s, leftovers } = await make();
      const data = Buffer.alloc(1000, 1);
      await assert.rejects(s.put(sha(data), slowBody(data), { maxBytes: 999 }), (err: GantryError) => {
        assert.equal(err.code, 'GANTRY_E_TOO_LARGE');
        assert.match(err.message, /999/);
        return true;
      });
      assert.deepEqual(await leftovers(), []);
      assert.equal((await s.put(sha(data), slowBody(data), { maxBytes: 1000 })).created, true);
    });

    it('keeps nothing when the inspection throws, and shows it the complete bytes first', async () => {
      const { store: s, leftovers } = await make();
      const data = Buffer.from('an archive with ../etc/passwd in it');
      let seen = '';
      const inspect = async (tmp: string) => {
        seen = fs.readFileSync(tmp, 'utf8');
        throw new GantryError('GANTRY_E_ARTIFACT_PATH', 'archive entry "../etc/passwd" has a `..` segment');
      };
      await assert.rejects(s.put(sha(data), slowBody(data), { ...LIMIT, inspect }), { code: 'GANTRY_E_ARTIFACT_PATH' });
      assert.equal(seen, data.toString());
      assert.deepEqual(await leftovers(), []);
      let inspected = false;
      const ok = await s.put(sha(data), slowBody(data), { ...LIMIT, inspect: async () => void (inspected = true) });
      assert.equal(ok.created, true);
      assert.equal(inspected, true);
    });

    it('putContent names a blob by the SHA-256 of its bytes, stores the same bytes once, and keeps nothing when the body fails or is too large', async () => {
      const { store: s, leftovers, stored } = await make();
      const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 13) % 251));
      const chunks = () =>
        (async function* () {
          for (let off = 0; off < data.length; off += 7_000) yield data.subarray(off, off + 7_000);
        })();
      assert.deepEqual(await s.putContent(chunks(), LIMIT), { created: true, size: data.length, sha256: sha(data) });
      assert.deepEqual(await s.read(sha(data), 0, data.length), data);
      assert.deepEqual(await s.putContent(chunks(), LIMIT), { created: false, size: data.length, sha256: sha(data) });
      const broken = new Error('the log could not be read');
      const failing = (async function* () {
        yield data.subarray(0, 1_000);
        throw broken;
      })();
      await assert.rejects(s.putContent(failing, LIMIT), (e) => e === broken);
      await assert.rejects(s.putContent(chunks(), { maxBytes: data.length - 1 }), { code: 'GANTRY_E_TOO_LARGE' });
      assert.deepEqual(await leftovers(), [stored(sha(data))]);
    });

    it('refuses a name that is not 64 lowercase hex digits before touching anything', async () => {
      const { store: s, leftovers } = await make();
      for (const bad of ['../../../etc/passwd', sha('x').toUpperCase(), sha('x').slice(1), `${sha('x').slice(0, 63)}/`]) {
        await assert.rejects(s.put(bad, Readable.from([Buffer.from('x')]), LIMIT), { code: 'GANTRY_E_INVALID_REQUEST' });
        await assert.rejects(s.has(bad), { code: 'GANTRY_E_INVALID_REQUEST' });
        await assert.rejects(s.open(bad), { code: 'GANTRY_E_INVALID_REQUEST' });
        await assert.rejects(s.read(bad, 0, 1), { code: 'GANTRY_E_INVALID_REQUEST' });
        await assert.rejects(s.delete(bad), { code: 'GANTRY_E_INVALID_REQUEST' });
      }
      assert.deepEqual(await leftovers(), []);
    });

    it('lets concurrent puts of the same blob all succeed and keeps it once', async () => {
      const { store: s, leftovers, stored } = await make();
      const data = Buffer.from('x'.repeat(64 * 1024));
      const name = sha(data);
      const results = await Promise.all(Array.from({ length: 8 }, () => s.put(name, slowBody(data, 16), LIMIT)));
      assert.ok(results.some((r) => r.created));
      for (const r of results) assert.equal(r.size, data.length);
      assert.deepEqual(await leftovers(), [stored(name)]);
      const stream = await s.open(name);
      assert.ok(stream);
      assert.equal(await text(stream), data.toString());
    });

    it('answers null for a blob it does not have, and deletes one it has', async () => {
      const { store: s, leftovers } = await make();
      const name = sha('gone');
      assert.equal(await s.size(name), null);
      assert.equal(await s.has(name), false);
      assert.equal(await s.read(name, 0, 4), null);
      assert.equal(await s.open(name), null);
      assert.equal(await s.delete(name), false);
      await s.put(name, Readable.from([Buffer.from('gone')]), LIMIT);
      assert.equal(await s.delete(name), true);
      assert.equal(await s.has(name), false);
      assert.deepEqual(await leftovers(), []);
    });

    it('lists the blobs written before a time, with their sizes', async () => {
      const { store: s } = await make();
      const names = ['one', 'two!', 'three..'].map((t) => ({ name: sha(t), size: t.length }));
      for (const [i, t] of ['one', 'two!', 'three..'].entries()) await s.put(names[i]!.name, Readable.from([Buffer.from(t)]), LIMIT);
      const all = [];
      for await (const b of s.listOlderThan(Date.now() + 60_000)) all.push(b);
      assert.deepEqual(all.map((b) => ({ name: b.sha256, size: b.size })).sort((a, b) => a.name.localeCompare(b.name)), [...names].sort((a, b) => a.name.localeCompare(b.name)));
      for (const b of all) assert.ok(Math.abs(b.modifiedAt - Date.now()) < 60_000, 'modifiedAt is the write time');
      const older = [];
      for await (const b of s.listOlderThan(Date.now() - 60_000)) older.push(b);
      assert.deepEqual(older, []);
    });
  });
}
