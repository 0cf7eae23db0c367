// What a backup archive holds (docs/RUNNING.md, "Backup and restore"): MANIFEST.json at its root
// says what else is there and which blobs the database names, so a restore can tell the operator
// what is missing before a server starts on it.

export const MANIFEST_NAME = 'MANIFEST.json';
export const BACKUP_FORMAT = 1;

/** A blob store the database names blobs in: artifacts and caches (`blobs`), compacted logs (`log-objects`). */
export interface BlobStoreListing {
  /** Where it was: `dir` (under the home, in the archive when `included`), or an `s3://` URL (never in the archive). */
  location: 'dir' | string;
  included: boolean;
  /** Every blob the database snapshot names, with its size where the database knows it. */
  referenced: { sha256: string; size: number | null }[];
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  gantryVersion: string;
  /** ISO-8601 UTC: when the database snapshot was taken. */
  createdAt: string;
  /** The newest migration of the snapshot: a Gantry older than it refuses the restore. */
  schemaVersion: number;
  /** The home's files in the archive beside the database (secrets.key, the bootstrap tokens). */
  files: string[];
  /** Local `gantry run` logs (`logs/`), in the archive. */
  localLogs: boolean;
  blobs: BlobStoreListing;
  logObjects: BlobStoreListing;
}
