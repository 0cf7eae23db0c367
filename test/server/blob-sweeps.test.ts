// The blob sweeps a server runs besides expiry, on SQLite and PostgreSQL:
// - strays: a crash between a blob's file and its row, or in the middle of an upload, leaves files
//   no row names; the stray sweep gives the first kind a row dated by the file, so the expiry
//   sweep deletes them under its locks, and deletes abandoned partial uploads;
// - the cache cap: past a project's cap its least recently used caches go.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { artifactSweep, strayBlobSweep, UNREFERENCED_BLOB_GRACE_MS } from '../../src/server/fleet/blob-routes.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { PG_URL, testPostgres } from '../helpers/postgres.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-strays-'));
// At exit, not in a root `after`: the PostgreSQL suite is declared once its database answers, and
// under load its cases ran after a root hook had already removed the directory they work in.
process.on('exit', () => fs.rmSync(base, { recursive: true, force: true }));

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

/** A store, and a way to run SQL on its database beside it (to make rows no API makes directly). */
interface Opened {
  store: Store;
  sql(text: string, params: unknown[]): Promise<void>;
}

function sweepCases(label: string, open: () => Promise<Opened>): void {
  describe(`blob sweeps (${label})`, () => {
    it("past a project's cache cap, its least recently used caches go until it fits; other projects keep theirs", async () => {
      const { store, sql } = await open();
      try {
        const a = await store.ensureProject('a', '/a', 1);
        const b = await store.ensureProject('b', '/b', 1);
        const mb = 1024 * 1024;
        const caches: [number, string, number, number][] = [
          // project, key, MiB, used at
          [a.id, 'oldest', 40, 1_000],
          [a.id, 'old', 30, 2_000],
          [a.id, 'recent', 30, 3_000],
          [a.id, 'newest', 20, 4_000],
          [b.id, 'big', 90, 500],
        ];
        for (const [project, key, size, usedAt] of caches) {
          const sha = createHash('sha256').update(`${project}/${key}`).digest('hex');
          await sql('INSERT INTO blobs (sha256, size, created_at) VALUES (?, ?, ?)', [sha, size * mb, 0]);
          await sql('INSERT INTO caches (project_id, key, blob_sha256, size, updated_at, used_at) VALUES (?, ?, ?, ?, ?, ?)', [project, key, sha, size * mb, usedAt, usedAt]);
        }
        // 120 MiB in project a against a cap of 100: "oldest" (40) is enough.
        assert.equal(await store.fleet.evictCaches(100 * mb), 1);
        assert.equal(await store.fleet.evictCaches(100 * mb), 0);
        // A cap of 45 MiB: a keeps only "newest" (20); b's one cache of 90 goes too.
        assert.equal(await store.fleet.evictCaches(45 * mb), 3);
        // Their archives are now referenced by nothing: the expiry sweep takes them, row and file.
        const removed: string[] = [];
        const r = await store.fleet.sweepArtifacts(Date.now(), Date.now(), async (sha) => void removed.push(sha));
        assert.equal(r.blobs, 4);
        assert.equal(removed.length, 4);
      } finally {
        await store.close();
      }
    });

    it('adopts old files without rows so the expiry sweep deletes them, removes abandoned partial uploads, and leaves the rest', async () => {
      const root = fs.mkdtempSync(path.join(base, 'blobs-'));
      const blobs = new DirBlobStore(root);
      const { store } = await open();
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

        await artifactSweep(store, blobs, { cacheMaxAgeMs: null, cacheMaxBytesPerProject: null })(at);
        assert.equal(await blobs.has(oldStray), false);
        assert.equal(await blobs.has(freshStray), true);
        assert.equal(await blobs.has(kept), true);

        // A second round finds nothing more to do.
        await strayBlobSweep(store, blobs, [])(at);
        await artifactSweep(store, blobs, { cacheMaxAgeMs: null, cacheMaxBytesPerProject: null })(at);
        assert.equal(await blobs.has(freshStray), true);
        assert.equal(await blobs.has(kept), true);
      } finally {
        await store.close();
      }
    });
  });
}

sweepCases('sqlite', async () => {
  const file = path.join(fs.mkdtempSync(path.join(base, 'db-')), 'gantry.db');
  const store = await openStore(`sqlite:${file}`);
  return {
    store,
    async sql(text, params) {
      const db = new Database(file);
      try {
        db.prepare(text).run(...params);
      } finally {
        db.close();
      }
    },
  };
});
const postgres = await testPostgres('blob sweeps on PostgreSQL');
if (postgres) {
  sweepCases('postgres', async () => {
    const schema = await postgres.freshSchema();
    const store = await openStore(`${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`);
    return {
      store,
      async sql(text, params) {
        let n = 0;
        const client = await postgres.admin.connect();
        try {
          await client.query(`SET search_path = ${schema}`);
          await client.query(text.replace(/\?/g, () => `$${++n}`), params);
        } finally {
          await client.query('RESET search_path');
          client.release();
        }
      },
    };
  });
}
