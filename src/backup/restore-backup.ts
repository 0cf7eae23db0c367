// `gantry restore FILE`: a backup archive (write-backup.ts) back into a home, then a check that
// every blob its database names is where the restored server will look. The archive is unpacked
// beside the home's files first and moved into place only once it is whole and its manifest is
// one this Gantry can read; what the home held before is kept aside, never deleted.

import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import type { S3Config } from '../config/config.js';
import { openBlobStore } from '../blobstore/open.js';
import type { BlobStore } from '../blobstore/blob-store.js';
import { GantryError } from '../domain/errors.js';
import { LATEST_MIGRATION } from '../store/sql/migrations.js';
import { BACKUP_FORMAT, MANIFEST_NAME, type BackupManifest, type BlobStoreListing } from './manifest.js';
import { HOME_FILES } from './write-backup.js';

export interface RestoreRequest {
  file: string;
  home: string;
  /** Replace a home that has a database (what it held is moved to `before-restore-<time>/`). */
  force: boolean;
  /** GANTRY_LOG_OBJECTS where the restored server will find compacted logs (null: the home's). */
  logObjects: string | null;
  s3: S3Config;
  now: number;
}

export interface RestoreSummary {
  manifest: BackupManifest;
  /** Where the home's earlier contents went, if it had any. */
  keptAside: string | null;
  blobs: { referenced: number; missing: string[] };
  logObjects: { referenced: number; missing: string[] };
}

/** What the archive may put in a home, and nothing else. */
const RESTORED = ['gantry.db', ...HOME_FILES, 'logs', 'blobs', 'log-objects'];
/** What a home's database leaves beside it; moved aside with it, or the old WAL would be replayed into the restored file. */
const DB_SIDE_FILES = ['gantry.db-wal', 'gantry.db-shm'];

export async function restoreBackup(r: RestoreRequest): Promise<RestoreSummary> {
  if (!fs.existsSync(r.file)) throw new GantryError('GANTRY_E_NOT_FOUND', `no backup at ${r.file}`);
  fs.mkdirSync(r.home, { recursive: true, mode: 0o700 });
  if (fs.existsSync(path.join(r.home, 'gantry.db')) && !r.force) {
    throw new GantryError('GANTRY_E_USAGE', `${r.home} has a database already: stop its server, then restore with --force (what it holds is kept in ${r.home}/before-restore-TIME/)`);
  }
  const stamp = new Date(r.now).toISOString().replace(/[:.]/g, '-');
  const stage = path.join(r.home, `.restore-${stamp}`);
  fs.mkdirSync(stage, { mode: 0o700 });
  try {
    try {
      // node-tar refuses absolute names and `..` on its own; `strict` turns every warning into an error.
      await tar.x({ file: r.file, cwd: stage, strict: true, preserveOwner: false });
    } catch (e) {
      throw new GantryError('GANTRY_E_USAGE', `${r.file} is not a Gantry backup that can be read: ${(e as Error).message}`);
    }
    const manifest = readManifest(stage, r.file);
    const keptAside = moveAside(r.home, stamp);
    for (const name of RESTORED) {
      const from = path.join(stage, name);
      if (fs.existsSync(from)) fs.renameSync(from, path.join(r.home, name));
    }
    for (const name of HOME_FILES) if (fs.existsSync(path.join(r.home, name))) fs.chmodSync(path.join(r.home, name), 0o600);
    const blobs = await missingOf(manifest.blobs, openBlobStore(path.join(r.home, 'blobs'), r.s3, path.join(r.home, 'blobs-spool')));
    const logStore = openBlobStore(r.logObjects ?? path.join(r.home, 'log-objects'), r.s3, path.join(r.home, 'log-objects-spool'));
    const logObjects = await missingOf(manifest.logObjects, logStore);
    return { manifest, keptAside, blobs, logObjects };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

function readManifest(stage: string, file: string): BackupManifest {
  let m: BackupManifest;
  try {
    m = JSON.parse(fs.readFileSync(path.join(stage, MANIFEST_NAME), 'utf8')) as BackupManifest;
  } catch {
    throw new GantryError('GANTRY_E_USAGE', `${file} has no ${MANIFEST_NAME}: it is not a backup made by gantry backup`);
  }
  if (m.format !== BACKUP_FORMAT) throw new GantryError('GANTRY_E_USAGE', `${file} is a backup of format ${String(m.format)}; this Gantry reads format ${BACKUP_FORMAT}`);
  if (m.schemaVersion > LATEST_MIGRATION) {
    throw new GantryError('GANTRY_E_STORE_TOO_NEW', `${file} holds a database of schema ${m.schemaVersion}, written by Gantry ${m.gantryVersion}; this Gantry knows schema ${LATEST_MIGRATION}: upgrade first`);
  }
  if (!fs.existsSync(path.join(stage, 'gantry.db'))) throw new GantryError('GANTRY_E_USAGE', `${file} has no gantry.db`);
  return m;
}

/** Moves what a restore would replace into `before-restore-<stamp>/`; null when there was nothing. */
function moveAside(home: string, stamp: string): string | null {
  const present = [...RESTORED, ...DB_SIDE_FILES].filter((n) => fs.existsSync(path.join(home, n)));
  if (present.length === 0) return null;
  const aside = path.join(home, `before-restore-${stamp}`);
  fs.mkdirSync(aside, { mode: 0o700 });
  for (const n of present) fs.renameSync(path.join(home, n), path.join(aside, n));
  return aside;
}

async function missingOf(listing: BlobStoreListing, store: BlobStore): Promise<{ referenced: number; missing: string[] }> {
  const missing: string[] = [];
  for (const b of listing.referenced) {
    const size = await store.size(b.sha256);
    if (size === null || (b.size !== null && size !== b.size)) missing.push(b.sha256);
  }
  return { referenced: listing.referenced.length, missing };
}
