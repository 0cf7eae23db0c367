import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { GantryError } from '../../src/domain/errors.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-blobs-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

let n = 0;
function store(): DirBlobStore {
  return new DirBlobStore(path.join(base, `blobs-${n++}`));
}

function sha(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A body that arrives in pieces with pauses, as an upload does, so concurrent puts interleave. */
function slowBody(data: Buffer, pieces = 8): Readable {
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

/** Every file under the store, relative to its root. */
function files(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => fs.statSync(path.join(root, p)).isFile()).sort();
}

const LIMIT = { maxBytes: 1 << 20 };

describe('the directory blob store', () => {
  it('gives back the bytes it was given, under sha256/<2 hex>/<62 hex>', async () => {
    const s = store();
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 256));
    const name = sha(data);
    assert.deepEqual(await s.put(name, slowBody(data), LIMIT), { created: true, size: data.length });
    assert.equal(await s.has(name), true);
    assert.equal(await s.size(name), data.length);
    assert.equal(await s.path(name), path.join(s.root, 'sha256', name.slice(0, 2), name.slice(2)));
    const stream = await s.open(name);
    assert.ok(stream);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), data);
    assert.deepEqual(files(s.root), [path.join('sha256', name.slice(0, 2), name.slice(2))]);
  });

  it('stores the same bytes once: a second put says it did not create anything', async () => {
    const s = store();
    const name = sha('same');
    assert.deepEqual(await s.put(name, Readable.from([Buffer.from('same')]), LIMIT), { created: true, size: 4 });
    assert.deepEqual(await s.put(name, Readable.from([Buffer.from('same')]), LIMIT), { created: false, size: 4 });
    assert.equal(files(s.root).length, 1);
  });

  it('refuses bytes that do not hash to the name and keeps nothing', async () => {
    const s = store();
    const name = sha('expected');
    await assert.rejects(s.put(name, Readable.from([Buffer.from('something else')]), LIMIT), { code: 'GANTRY_E_BLOB_DIGEST_MISMATCH' });
    assert.equal(await s.has(name), false);
    assert.deepEqual(files(s.root), []);
  });

  it('refuses a body over maxBytes and keeps nothing; exactly maxBytes is fine', async () => {
    const s = store();
    const data = Buffer.alloc(1000, 1);
    await assert.rejects(s.put(sha(data), slowBody(data), { maxBytes: 999 }), (err: GantryError) => {
      assert.equal(err.code, 'GANTRY_E_TOO_LARGE');
      assert.match(err.message, /999/);
      return true;
    });
    assert.deepEqual(files(s.root), []);
    assert.equal((await s.put(sha(data), slowBody(data), { maxBytes: 1000 })).created, true);
  });

  it('keeps nothing when the inspection throws, and shows it the complete bytes first', async () => {
    const s = store();
    const data = Buffer.from('an archive with ../etc/passwd in it');
    let seen = '';
    const inspect = async (tmp: string) => {
      seen = fs.readFileSync(tmp, 'utf8');
      throw new GantryError('GANTRY_E_ARTIFACT_PATH', 'archive entry "../etc/passwd" has a `..` segment');
    };
    await assert.rejects(s.put(sha(data), slowBody(data), { ...LIMIT, inspect }), { code: 'GANTRY_E_ARTIFACT_PATH' });
    assert.equal(seen, data.toString());
    assert.deepEqual(files(s.root), []);
    let inspected = false;
    const ok = await s.put(sha(data), slowBody(data), { ...LIMIT, inspect: async () => void (inspected = true) });
    assert.equal(ok.created, true);
    assert.equal(inspected, true);
  });

  it('refuses a name that is not 64 lowercase hex digits before touching the disk', async () => {
    const s = store();
    for (const bad of ['../../../etc/passwd', sha('x').toUpperCase(), sha('x').slice(1), `${sha('x').slice(0, 63)}/`]) {
      await assert.rejects(s.put(bad, Readable.from([Buffer.from('x')]), LIMIT), { code: 'GANTRY_E_INVALID_REQUEST' });
      await assert.rejects(s.has(bad), { code: 'GANTRY_E_INVALID_REQUEST' });
      await assert.rejects(s.open(bad), { code: 'GANTRY_E_INVALID_REQUEST' });
      await assert.rejects(s.delete(bad), { code: 'GANTRY_E_INVALID_REQUEST' });
    }
    assert.equal(fs.existsSync(s.root), false);
  });

  it('lets concurrent puts of the same blob all succeed and leaves one file', async () => {
    const s = store();
    const data = Buffer.from('x'.repeat(64 * 1024));
    const name = sha(data);
    const results = await Promise.all(Array.from({ length: 8 }, () => s.put(name, slowBody(data, 16), LIMIT)));
    assert.ok(results.some((r) => r.created));
    for (const r of results) assert.equal(r.size, data.length);
    assert.deepEqual(files(s.root), [path.join('sha256', name.slice(0, 2), name.slice(2))]);
    const stream = await s.open(name);
    assert.ok(stream);
    assert.equal(await text(stream), data.toString());
  });

  it('answers null for a blob it does not have, and deletes one it has', async () => {
    const s = store();
    const name = sha('gone');
    assert.equal(await s.size(name), null);
    assert.equal(await s.path(name), null);
    assert.equal(await s.open(name), null);
    assert.equal(await s.delete(name), false);
    await s.put(name, Readable.from([Buffer.from('gone')]), LIMIT);
    assert.equal(await s.delete(name), true);
    assert.equal(await s.has(name), false);
  });
});
