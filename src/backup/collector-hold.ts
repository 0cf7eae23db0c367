// While `gantry backup` copies blobs, no garbage collection runs, on this instance or any other:
// the database snapshot names blobs that a collection starting after it could delete (their
// pipeline's retention ran out a moment later), and the archive would then name what it lacks.
// The hold is a row of gc_runs like a collection's (`started_by = 'backup'`): a server's claim
// finds it open and starts none (POST /gc answers alreadyRunning with it), its lease is renewed
// while the copy runs, and a backup killed midway leaves a lease that lapses like a dead
// instance's. A collection already running is waited for.

import Database from 'better-sqlite3';
import os from 'node:os';
import { GantryError } from '../domain/errors.js';
import { ABANDON_LAPSED_GC_RUNS } from '../store/sql/retention.js';

export interface CollectorHold {
  /** Ends the hold; the next collection may start. */
  release(): void;
}

export interface HoldOptions {
  /** How long the hold lasts unless renewed (renewed every third of it). */
  leaseMs: number;
  /** How long to wait for a collection under way to end. */
  waitMs: number;
  /** Said once when a collection is waited for. */
  onWait?: (runId: number) => void;
}

export const DEFAULT_HOLD: HoldOptions = { leaseMs: 60_000, waitMs: 10 * 60_000 };

export async function holdCollector(dbFile: string, opts: HoldOptions = DEFAULT_HOLD): Promise<CollectorHold> {
  const db = new Database(dbFile, { fileMustExist: true, timeout: 10_000 });
  // A database from before garbage collection (schema < 16) has nothing to hold off.
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gc_runs'").get()) {
    db.close();
    return { release() {} };
  }
  const holder = `backup ${os.hostname()}:${process.pid}`;
  const claim = db
    .transaction((now: number): { held: number } | { running: number } => {
      db.prepare(ABANDON_LAPSED_GC_RUNS).run(now);
      const open = db.prepare('SELECT id FROM gc_runs WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1').get() as { id: number } | undefined;
      if (open) return { running: Number(open.id) };
      const row = db.prepare("INSERT INTO gc_runs (started_by, holder, started_at, lease_until) VALUES ('backup', ?, ?, ?) RETURNING id").get(holder, now, now + opts.leaseMs) as { id: number };
      return { held: Number(row.id) };
    })
    .immediate;
  const until = Date.now() + opts.waitMs;
  let told = false;
  let id: number;
  for (;;) {
    const r = claim(Date.now());
    if ('held' in r) {
      id = r.held;
      break;
    }
    if (!told) opts.onWait?.(r.running);
    told = true;
    if (Date.now() > until) {
      db.close();
      throw new GantryError('GANTRY_E_BACKUP_WAITED', `garbage collection ${r.running} is still running after ${Math.round(opts.waitMs / 1000)} s: try the backup again when it has ended (gantry gc shows it)`);
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
  const renew = setInterval(() => {
    try {
      db.prepare('UPDATE gc_runs SET lease_until = ? WHERE id = ? AND finished_at IS NULL').run(Date.now() + opts.leaseMs, id);
    } catch {
      // Busy for a moment: the next renewal, well inside the lease, tries again.
    }
  }, opts.leaseMs / 3);
  renew.unref();
  return {
    release() {
      clearInterval(renew);
      db.prepare('UPDATE gc_runs SET finished_at = ? WHERE id = ? AND finished_at IS NULL').run(Date.now(), id);
      db.close();
    },
  };
}
