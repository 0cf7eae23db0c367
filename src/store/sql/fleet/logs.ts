// An attempt's log in the store (docs/LOGS.md): chunk rows while the attempt runs, one object in
// the blob store once it has ended and been compacted. These are the statements behind the fleet
// store's log methods other than the append itself (sql-fleet-store.ts), which must share the
// fencing transaction.

import { asAttemptId, asJobId, type AttemptId } from '../../../domain/ids.js';
import type { AttemptStatus, FailureReason } from '../../../domain/status.js';
import type { LogLimit, LogRead, LogState, StoredLogPiece } from '../../fleet.js';
import type { SqlDialect, SqlExecutor } from '../dialect.js';

const FINISHED = "('success', 'failed', 'canceled', 'timed_out')";

interface StateRow {
  id: number | string;
  job_id: number | string;
  number: number | string;
  status: string;
  exit_code: number | null;
  failure_reason: string | null;
  log_received: number | string;
  log_object: string | null;
  log_expired_at: number | string | null;
}

interface ChunkRow {
  start_offset: number | string;
  end_offset: number | string;
  produced_at: number | string;
  data: Buffer | Uint8Array | null;
}

const STATE_COLUMNS = 'SELECT id, job_id, number, status, exit_code, failure_reason, log_received, log_object, log_expired_at FROM attempts';
const STATE = `${STATE_COLUMNS} WHERE id = ?`;

function toState(r: StateRow): LogState {
  return {
    attemptId: asAttemptId(Number(r.id)),
    jobId: asJobId(Number(r.job_id)),
    number: Number(r.number),
    status: r.status as AttemptStatus,
    exitCode: r.exit_code === null ? null : Number(r.exit_code),
    failureReason: r.failure_reason as FailureReason | null,
    received: Number(r.log_received),
    object: r.log_object,
    expiredAt: r.log_expired_at === null ? null : Number(r.log_expired_at),
  };
}

export function toPiece(r: ChunkRow): StoredLogPiece {
  return {
    offset: Number(r.start_offset),
    end: Number(r.end_offset),
    at: Number(r.produced_at),
    data: r.data === null ? null : Buffer.isBuffer(r.data) ? r.data : Buffer.from(r.data),
  };
}

export async function logState(db: SqlExecutor, attemptId: AttemptId): Promise<LogState | null> {
  const r = await db.get<StateRow>(STATE, [attemptId]);
  return r ? toState(r) : null;
}

/**
 * Each statement reads the attempt row and its chunks together, so it sees them in one snapshot:
 * a compaction that commits meanwhile is either wholly seen (the object) or not at all (the
 * rows). A read of more rows than one statement returns takes several statements; if a later one
 * meets the object, the pieces read so far are returned (their bytes are the object's: offsets
 * never change) and the caller's next read goes to the object. One statement, not a transaction
 * of four: on PostgreSQL each is a round trip, and live viewers read on every upload.
 */
export async function readLogPieces(db: SqlExecutor, attemptId: AttemptId, start: number, maxBytes: number): Promise<LogRead | null> {
  const pieces: StoredLogPiece[] = [];
  let from = start;
  let bytes = 0;
  for (;;) {
    // Rows are contiguous, so the first one wanted is the last to start at or before `from`:
    // found by the primary key (attempt_id, start_offset) in one seek. (`end_offset > ?` alone
    // made every read walk the attempt's rows from its first: a live viewer's reads grew with
    // the log.) Rows are at most one upload each, so a few per statement meet maxBytes quickly.
    const rows = await db.all<ChunkRow & { log_object: string | null; has_chunk: number | boolean | null }>(
      'SELECT a.log_object, c.attempt_id IS NOT NULL AS has_chunk, c.start_offset, c.end_offset, c.produced_at, c.data FROM attempts a ' +
        'LEFT JOIN log_chunks c ON c.attempt_id = a.id AND a.log_object IS NULL AND c.end_offset > ? AND c.start_offset >= ' +
        '(SELECT COALESCE(MAX(start_offset), 0) FROM log_chunks WHERE attempt_id = ? AND start_offset <= ?) ' +
        'WHERE a.id = ? ORDER BY c.start_offset LIMIT 16',
      [from, attemptId, from, attemptId],
    );
    if (rows.length === 0) return pieces.length > 0 ? { kind: 'chunks', pieces } : null;
    const object = rows[0]!.log_object;
    if (object !== null) return pieces.length > 0 ? { kind: 'chunks', pieces } : { kind: 'object', sha256: object };
    let n = 0;
    for (const row of rows) {
      if (!row.has_chunk) break;
      const p = toPiece(row);
      pieces.push(p);
      n++;
      bytes += p.data?.length ?? 0;
      from = p.end;
      if (bytes >= maxBytes) break;
    }
    if (n < 16 || bytes >= maxBytes) return { kind: 'chunks', pieces };
  }
}

/** The log states of several attempts in one statement (the live feeds' safety tick); missing ones are left out. */
export async function logStates(db: SqlExecutor, attemptIds: readonly AttemptId[]): Promise<LogState[]> {
  const out: LogState[] = [];
  for (let i = 0; i < attemptIds.length; i += 500) {
    const part = attemptIds.slice(i, i + 500);
    const rows = await db.all<StateRow>(`${STATE_COLUMNS} WHERE id IN (${part.map(() => '?').join(', ')})`, part);
    out.push(...rows.map(toState));
  }
  return out;
}

export async function logsToCompact(db: SqlExecutor, limit: number): Promise<AttemptId[]> {
  // log_chunks holds only the logs not compacted yet, so this reads few rows: the running
  // attempts' and the ones that just ended.
  const rows = await db.all<{ id: number | string }>(
    `SELECT a.id FROM attempts a WHERE a.status IN ${FINISHED} AND a.log_object IS NULL AND a.log_expired_at IS NULL AND a.id IN (SELECT DISTINCT attempt_id FROM log_chunks) ORDER BY a.id LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  return rows.map((r) => asAttemptId(Number(r.id)));
}

/**
 * The switch from rows to the object is one transaction: the attempt row names the object and
 * the rows go, so a reader sees one or the other, and a crash before the commit leaves the rows
 * (the object, already in the blob store, is simply written again by the next compaction: it has
 * the same name, being named by its bytes).
 *
 * The garbage collector deletes a log object no attempt names under the object's lock, in a
 * transaction that checks the names first (removeLogObjectIn). Taking the same lock here and then
 * looking at the object (`stillStored`) closes the gap where a compaction found the object already
 * there (an old one of a crash before step 3, so past the collector's grace) just as the collector
 * picked it: either this commits first and the collector sees the name, or the collector's delete
 * did and this sees no object, changes nothing, and the next compaction writes it again.
 */
export async function finishLogCompaction(
  db: SqlDialect,
  attemptId: AttemptId,
  sha256: string,
  stillStored: () => Promise<boolean> = async () => true,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await db.holdLock(tx, logObjectLock(sha256));
    if (!(await stillStored())) return false;
    const r = await tx.run(`UPDATE attempts SET log_object = ? WHERE id = ? AND status IN ${FINISHED} AND log_object IS NULL AND log_expired_at IS NULL`, [
      sha256,
      attemptId,
    ]);
    if (r.changes !== 1) return false;
    await tx.run('DELETE FROM log_chunks WHERE attempt_id = ?', [attemptId]);
    return true;
  });
}

/** The lock compaction and the collector take on one log object. */
export const logObjectLock = (sha256: string): string => `log-object:${sha256}`;

/**
 * The size limit, run in the append's transaction once the stream has grown past
 * `headBytes + tailBytes`: every chunk wholly between the head and the last `tailBytes` of the
 * stream, holes included, is replaced by one hole row. Chunk granularity: a chunk that straddles
 * either boundary is kept whole, so a little more than the limit may be kept, never less.
 */
export async function enforceLogLimit(tx: SqlExecutor, attemptId: AttemptId, end: number, limit: LogLimit): Promise<void> {
  if (end <= limit.headBytes + limit.tailBytes) return;
  // `start_offset < ?` bounds the index range: without it every append past the limit walked the
  // whole tail's rows to find none of them wanted.
  const rows = await tx.all<{ start_offset: number | string; end_offset: number | string; produced_at: number | string; hole: number | boolean }>(
    'SELECT start_offset, end_offset, produced_at, CASE WHEN data IS NULL THEN 1 ELSE 0 END AS hole FROM log_chunks ' +
      'WHERE attempt_id = ? AND start_offset >= ? AND start_offset < ? AND end_offset <= ? ORDER BY start_offset',
    [attemptId, limit.headBytes, end - limit.tailBytes, end - limit.tailBytes],
  );
  // Only one hole row already: nothing new to drop.
  if (rows.length === 0 || (rows.length === 1 && Number(rows[0]!.hole) === 1)) return;
  const first = Number(rows[0]!.start_offset);
  const last = Number(rows[rows.length - 1]!.end_offset);
  await tx.run('DELETE FROM log_chunks WHERE attempt_id = ? AND start_offset >= ? AND end_offset <= ?', [attemptId, first, last]);
  await tx.run('INSERT INTO log_chunks (attempt_id, start_offset, end_offset, produced_at, data) VALUES (?, ?, ?, ?, NULL)', [
    attemptId,
    first,
    last,
    Number(rows[0]!.produced_at),
  ]);
}
