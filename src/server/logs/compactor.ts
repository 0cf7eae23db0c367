// Compaction (docs/LOGS.md): when a fleet attempt has ended, its chunk rows become one compressed
// object in the blob store and the rows are deleted. Order, and why it is crash-safe at every step:
//   1. read the rows and build the object (src/logstore/log-object.ts) block by block into the
//      blob store's spool file, which hashes it as it comes (BlobStore.putContent);
//   2. the store publishes it under that hash (a blob appears whole or not at all);
//   3. one transaction: the attempt row names the object, the rows are deleted.
// A crash during 1 leaves a spool file (`*.part`) that the hourly stray sweep removes. A crash
// before 3 leaves the rows as they were (readers use them) and perhaps an object nobody names;
// the next run builds the same bytes, so the same name, and finds it there. Readers see the rows
// or the object, never neither: they read the attempt row and the rows in one snapshot.
// Every instance runs it; two that pick the same attempt build the same object and one of the
// two step-3 transactions changes nothing.
// Memory: one read of rows (about 4 MiB) and one block at a time, not the object: a log may be as
// large as GANTRY_MAX_LOG_BYTES and incompressible, and every instance compacts.

import type { BlobStore } from '../../blobstore/blob-store.js';
import type { AttemptId } from '../../domain/ids.js';
import { encodeLogObjectParts, type LogPiece } from '../../logstore/log-object.js';
import type { FleetStore } from '../../store/fleet.js';
import { noCrash, type CrashHook } from '../crash-points.js';

const KICK_DELAY_MS = 1_000;

export class LogCompactor {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly fleet: FleetStore,
    private readonly blobs: BlobStore,
    private readonly onError: (err: unknown) => void,
    private readonly crash: CrashHook = noCrash,
  ) {}

  /** Waits for a running compaction (shutdown: the store closes after it). */
  async stop(): Promise<void> {
    if (this.soon) clearTimeout(this.soon);
    this.soon = null;
    await this.running;
  }

  private soon: NodeJS.Timeout | null = null;

  /**
   * Compacts in a moment (KICK_DELAY_MS), once for every attempt that ends meanwhile. Not at
   * once: an attempt's end is when its pipeline's next jobs are dispatched, and compacting on the
   * same thread in the same milliseconds (reading the rows, compressing, hashing, writing) was on
   * their way to starting. A second later the rows are as good, and the readers use them till then.
   */
  kickSoon(): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.kick();
    }, KICK_DELAY_MS);
    this.soon.unref();
  }

  /** Compacts every finished attempt still in rows; coalesces calls made while it runs. */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          for (;;) {
            const due = await this.fleet.logsToCompact(20);
            if (due.length === 0) break;
            let done = 0;
            for (const id of due) if (await this.compact(id)) done++;
            if (done === 0) break;
          }
        } while (this.again);
      } catch (err) {
        this.onError(err);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** One attempt; false when another instance did it first or it is not finished. */
  async compact(attemptId: AttemptId): Promise<boolean> {
    const fleet = this.fleet;
    async function* pieces(): AsyncIterable<LogPiece[]> {
      let at = 0;
      for (;;) {
        const r = await fleet.readLogPieces(attemptId, at, 4 << 20);
        if (!r || r.kind === 'object') throw new Compacted();
        const fresh = r.pieces.filter((p) => p.end > at);
        if (fresh.length === 0) return;
        yield fresh;
        at = fresh[fresh.length - 1]!.end;
      }
    }
    let sha256: string;
    try {
      // Bytes made here, not received: no limit but the store's own (S3: one PUT's 5 GiB).
      ({ sha256 } = await this.blobs.putContent(encodeLogObjectParts(pieces()), { maxBytes: Number.POSITIVE_INFINITY }));
    } catch (err) {
      if (err instanceof Compacted) return false;
      throw err;
    }
    this.crash('log.compaction-stored');
    // Looked at again under the object's lock: the garbage collector may have taken an old copy.
    return fleet.finishLogCompaction(attemptId, sha256, () => this.blobs.has(sha256));
  }
}

class Compacted extends Error {}
