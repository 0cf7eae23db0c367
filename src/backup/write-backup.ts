// `gantry backup FILE`: the embedded store, consistent while the server runs jobs, with what a
// restored server needs beside it, in one tar file.
//
// The database is copied with `VACUUM INTO` on a connection of its own: one read transaction, so
// the copy is the database as of one instant, and in WAL mode the server's writers go on
// meanwhile. (SQLite's backup API restarts whenever another connection writes, which a busy server
// does every few milliseconds: it could copy for ever.) Blobs are copied after the snapshot: they
// are named by their content and never change, and no garbage collection runs meanwhile
// (collector-hold.ts), so every blob the snapshot names is there. Blobs newer than the snapshot
// come along and are unused.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { GantryError } from '../domain/errors.js';
import { GANTRY_VERSION } from '../domain/version.js';
import { BACKUP_FORMAT, MANIFEST_NAME, type BackupManifest } from './manifest.js';
import { DEFAULT_HOLD, holdCollector, type CollectorHold } from './collector-hold.js';

/** Files of the home a restored server needs: the key that opens stored secrets, the bootstrap tokens. */
export const HOME_FILES = ['secrets.key', 'admin.token', 'agent.token'] as const;

export interface BackupRequest {
  home: string;
  /** The store's URL: only `sqlite:` is backed up here (PostgreSQL: pg_dump). */
  storeUrl: string;
  /** GANTRY_LOG_OBJECTS, or null for the home's `log-objects` directory. */
  logObjects: string | null;
  file: string;
  /** Put the blob directories (artifacts, caches, compacted logs) in the archive. */
  withBlobs: boolean;
  now: number;
  /** Told when a garbage collection under way is waited for (the backup holds the next ones off). */
  onWaitForCollection?: (runId: number) => void;
}

export interface BackupSummary {
  file: string;
  bytes: number;
  manifest: BackupManifest;
}

export async function writeBackup(r: BackupRequest): Promise<BackupSummary> {
  if (!r.storeUrl.startsWith('sqlite:') || r.storeUrl === 'sqlite::memory:') {
    throw new GantryError('GANTRY_E_USAGE', 'the store is not an SQLite file: back PostgreSQL up with pg_dump (docs/RUNNING.md, "Backup and restore")');
  }
  const dbFile = path.resolve(r.storeUrl.slice('sqlite:'.length));
  if (!fs.existsSync(dbFile)) throw new GantryError('GANTRY_E_NOT_FOUND', `no database at ${dbFile}: nothing to back up`);
  const target = path.resolve(r.file);
  if (fs.existsSync(target)) throw new GantryError('GANTRY_E_USAGE', `${target} exists: name a new file`);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-backup-'));
  let hold: CollectorHold | null = null;
  try {
    fs.chmodSync(stage, 0o700);
    // Held from before the snapshot until the blobs are copied: what the snapshot names stays.
    hold = await holdCollector(dbFile, { ...DEFAULT_HOLD, onWait: r.onWaitForCollection });
    const snapshot = path.join(stage, 'gantry.db');
    const { schemaVersion, blobs, logObjects } = snapshotDatabase(dbFile, snapshot);
    const entries = ['gantry.db'];
    const files: string[] = [];
    for (const name of HOME_FILES) {
      const from = path.join(r.home, name);
      if (!fs.existsSync(from)) continue;
      fs.copyFileSync(from, path.join(stage, name));
      fs.chmodSync(path.join(stage, name), 0o600);
      files.push(name);
    }
    entries.push(...files);
    // Directories go in through links from the stage (tar follows them): nothing is copied twice.
    const link = (name: string, dir: string) => {
      if (!fs.existsSync(dir)) return false;
      fs.symlinkSync(dir, path.join(stage, name));
      entries.push(name);
      return true;
    };
    const localLogs = link('logs', path.join(r.home, 'logs'));
    const blobsIncluded = r.withBlobs && link('blobs', path.join(r.home, 'blobs'));
    const logObjectsDir = r.logObjects === null ? path.join(r.home, 'log-objects') : r.logObjects.startsWith('s3://') ? null : path.resolve(r.logObjects);
    const logObjectsIncluded = r.withBlobs && logObjectsDir !== null && link('log-objects', logObjectsDir);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      gantryVersion: GANTRY_VERSION,
      createdAt: new Date(r.now).toISOString(),
      schemaVersion,
      files,
      localLogs,
      blobs: { location: 'dir', included: blobsIncluded, referenced: blobs },
      logObjects: { location: logObjectsDir === null ? r.logObjects! : 'dir', included: logObjectsIncluded, referenced: logObjects.map((sha256) => ({ sha256, size: null })) },
    };
    fs.writeFileSync(path.join(stage, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`);
    // The manifest first: a restore reads it before anything else.
    const partial = `${target}.part`;
    await tar.c({ file: partial, cwd: stage, follow: true, portable: true, mode: 0o600 } as tar.TarOptionsWithAliasesAsyncFile, [MANIFEST_NAME, ...entries]);
    fs.renameSync(partial, target);
    return { file: target, bytes: fs.statSync(target).size, manifest };
  } finally {
    hold?.release();
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

interface Snapshot {
  schemaVersion: number;
  blobs: { sha256: string; size: number }[];
  logObjects: string[];
}

/** The database as of one instant into `to`, and what that copy names. */
function snapshotDatabase(from: string, to: string): Snapshot {
  const source = new Database(from, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    source.prepare('VACUUM INTO ?').run(to);
  } finally {
    source.close();
  }
  // Read from the copy: exactly what was saved.
  const copy = new Database(to, { readonly: true, fileMustExist: true });
  try {
    const version = copy.prepare('SELECT MAX(id) AS v FROM schema_migrations').get() as { v: number | null };
    const blobs = copy.prepare('SELECT sha256, size FROM blobs ORDER BY sha256').all() as { sha256: string; size: number }[];
    const logObjects = (copy.prepare('SELECT DISTINCT log_object AS o FROM attempts WHERE log_object IS NOT NULL ORDER BY 1').all() as { o: string }[]).map((x) => x.o);
    return { schemaVersion: version.v ?? 0, blobs: blobs.map((b) => ({ sha256: b.sha256, size: Number(b.size) })), logObjects };
  } finally {
    copy.close();
  }
}
