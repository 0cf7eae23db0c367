// A crash between a blob's file and its row, or in the middle of an upload, leaves files no row
// names; the stray sweep gives the first kind a row dated by the file, so the expiry sweep deletes
// them under its locks, and deletes abandoned partial uploads. Fresh files and blobs with rows stay.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { artifactSweep, strayBlobSweep, UNREFERENCED_BLOB_GRACE_MS } from '../../src/server/fleet/blob-routes.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { PG_URL, testPostgres } from '../helpers/postgres.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-strays-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

async function putBlob(blobs: DirBlobStore, text: string): Promise<string> {
  const sha = createHash('sha256').update(text).digest('hex');
  await blobs.put(sha, Readable.from([Buffer.from(text)]), { maxBytes: 1 << 20 });
  return sha;
}

function age(file: string, ms: number): void {
  const t = new Date(Date.now() - ms);
  fs.utimesSync(file, t, t);
}

const blobFile = (root: string, sha: string) => path.join(root, 'sha256', sha.slice(0, 2), sha.slice(2));

function strayCases(label: string, open: () => Promise<Store>): void {
  describe(`the stray blob sweep (${label})`, () => {
    it('adopts old files without rows so the expiry sweep deletes them, removes abandoned partial uploads, and leaves the rest', async () => {
      const root = fs.mkdtempSync(path.join(base, 'blobs-'));
      const blobs = new DirBlobStore(root);
      const store = await open();
      try {
        const hour = UNREFERENCED_BLOB_GRACE_MS;
        const oldStray = await putBlob(blobs, 'left by a crash before its row');
        const freshStray = await putBlob(blobs, 'an upload whose row is on its way');
        const kept = await putBlob(blobs, 'a blob with its row');
        age(blobFile(root, oldStray), 2 * hour);
        age(blobFile(root, kept), 2 * hour);
        // `kept` has a row, touched just now (as a recent HEAD or PUT would).
        assert.equal(await store.fleet.adoptBlobs([{ sha256: kept, size: 19, modifiedAt: Date.now() as never }]), 1);
        fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });
        const deadPart = path.join(root, 'tmp', `${oldStray}.0123456789abcdef.part`);
        const livePart = path.join(root, 'tmp', `${freshStray}.fedcba9876543210.part`);
        fs.writeFileSync(deadPart, 'half an upload');
        fs.writeFileSync(livePart, 'an upload under way');
        age(deadPart, 2 * hour);

        const at = Date.now();
        await strayBlobSweep(store, blobs, [])(at);
        assert.equal(fs.existsSync(deadPart), false);
        assert.equal(fs.existsSync(livePart), true);
        // The file is still there: only the expiry sweep deletes blobs, row and file together.
        assert.equal(await blobs.has(oldStray), true);

        await artifactSweep(store, blobs, null)(at);
        assert.equal(await blobs.has(oldStray), false);
        assert.equal(await blobs.has(freshStray), true);
        assert.equal(await blobs.has(kept), true);

        // A second round finds nothing more to do.
        await strayBlobSweep(store, blobs, [])(at);
        await artifactSweep(store, blobs, null)(at);
        assert.equal(await blobs.has(freshStray), true);
        assert.equal(await blobs.has(kept), true);
      } finally {
        await store.close();
      }
    });
  });
}

strayCases('sqlite', async () => openStore(`sqlite:${path.join(fs.mkdtempSync(path.join(base, 'db-')), 'gantry.db')}`));
const postgres = await testPostgres('the stray blob sweep on PostgreSQL');
if (postgres) {
  strayCases('postgres', async () => openStore(`${PG_URL}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`));
}
