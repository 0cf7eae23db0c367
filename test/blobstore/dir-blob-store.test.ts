// The directory blob store: the contract every store keeps (blob-store-contract.ts), and its
// layout on disk.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { blobStoreContract, sha } from './blob-store-contract.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-blobs-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

let n = 0;
function store(): DirBlobStore {
  return new DirBlobStore(path.join(base, `blobs-${n++}`));
}

/** Every file under the store, relative to its root. */
function files(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => fs.statSync(path.join(root, p)).isFile()).sort();
}

const blobFile = (name: string) => path.join('sha256', name.slice(0, 2), name.slice(2));

blobStoreContract('a directory', async () => {
  const s = store();
  return { store: s, leftovers: async () => files(s.root), stored: blobFile };
});

describe('the directory blob store', () => {
  it('keeps a blob as sha256/<2 hex>/<62 hex> under its root', async () => {
    const s = store();
    const name = sha('layout');
    await s.put(name, Readable.from([Buffer.from('layout')]), { maxBytes: 100 });
    assert.deepEqual(files(s.root), [blobFile(name)]);
    assert.equal(fs.readFileSync(path.join(s.root, blobFile(name)), 'utf8'), 'layout');
  });

  it('creates nothing on disk for a name it refuses', async () => {
    const s = store();
    await assert.rejects(s.put('../../../etc/passwd', Readable.from([Buffer.from('x')]), { maxBytes: 100 }), { code: 'GANTRY_E_INVALID_REQUEST' });
    await assert.rejects(s.read('../x', 0, 1), { code: 'GANTRY_E_INVALID_REQUEST' });
    assert.equal(fs.existsSync(s.root), false);
  });

  it('removes uploads a killed process left in tmp/ once nobody has written them for a while', async () => {
    const s = store();
    fs.mkdirSync(path.join(s.root, 'tmp'), { recursive: true });
    const old = path.join(s.root, 'tmp', `${sha('a')}.0011223344556677.part`);
    const live = path.join(s.root, 'tmp', `${sha('b')}.8899aabbccddeeff.part`);
    fs.writeFileSync(old, 'cut short');
    fs.writeFileSync(live, 'still coming');
    const hourAgo = (Date.now() - 3_600_000) / 1000;
    fs.utimesSync(old, hourAgo, hourAgo);
    assert.equal(await s.removePartials(Date.now() - 60_000), 1);
    assert.deepEqual(files(s.root), [path.join('tmp', path.basename(live))]);
  });
});
