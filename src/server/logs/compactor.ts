// Compaction (docs/LOGS.md): when a fleet attempt has ended, its chunk rows become one compressed
// object in the blob store and the rows are deleted. Order, and why it is crash-safe at every step:
//   1. read the rows, build the object (src/logstore/log-object.ts), hash it;
//   2. put it in the blob store (a blob appears whole or not at all);
//   3. one transaction: the attempt row names the object, the rows are deleted.
// A crash before 3 leaves the rows as they were (readers use them) and perhaps an object nobody
// names; the next run builds the same bytes, so the same name, and finds it there. Readers see
// the rows or the object, never neither: they read the attempt row and the rows in one snapshot.
// Every instance runs it; two that pick the same attempt build the same object and one of the
// two step-3 transactions changes nothing.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../blobstore/blob-store.js';
import type { AttemptId } from '../../domain/ids.js';
import { encodeLogObject, type LogPiece } from '../../logstore/log-object.js';
import type { FleetStore } from '../../store/fleet.js';
import { noCrash, type CrashHook } from '../crash-points.js';

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
    await this.running;
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
    let parts: Buffer[];
    try {
      parts = await encodeLogObject(pieces());
    } catch (err) {
      if (err instanceof Compacted) return false;
      throw err;
    }
    const hash = createHash('sha256');
    let size = 0;
    for (const p of parts) {
      hash.update(p);
      size += p.length;
    }
    const sha256 = hash.digest('hex');
    await this.blobs.put(sha256, Readable.from(parts), { maxBytes: size });
    this.crash('log.compaction-stored');
    return fleet.finishLogCompaction(attemptId, sha256);
  }
}

class Compacted extends Error {}
