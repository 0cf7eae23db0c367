// Where a job attempt's log is read from, whatever holds it: the store's chunk rows (a fleet
// attempt while it runs), its compacted object in the blob store (a fleet attempt that ended), or
// the file log store (a `gantry run` attempt, written by the CLI's process in the same home).
// Everything above this module sees one thing: pieces with offsets and arrival times.

import type { BlobStore } from '../../blobstore/blob-store.js';
import { GantryError } from '../../domain/errors.js';
import { asAttemptId, type AttemptId } from '../../domain/ids.js';
import { isFinishedAttempt } from '../../domain/status.js';
import { readObjectIndex, readObjectPieces, type LogPiece, type ObjectIndex } from '../../logstore/log-object.js';
import type { LogStore } from '../../logstore/log-store.js';
import type { Job, Store } from '../../store/store.js';
import type { LogState as StoredLogState } from '../../store/fleet.js';

/** How an attempt ended, as the stream's last event tells it. */
export interface LogEnd {
  attempt: number;
  status: string;
  exitCode: number | null;
  failureReason: string | null;
}

export interface LogState {
  /** Bytes of stream held so far (dropped ranges included: offsets never shift). */
  size: number;
  /** Set once the attempt has ended; `size` is then final. */
  end: LogEnd | null;
}

/** One attempt's log, read-only. */
export interface AttemptLogView {
  readonly attemptId: AttemptId;
  readonly pipelineId: number;
  readonly number: number;
  /** A `gantry run` attempt: no store events announce its growth, it is polled. */
  readonly local: boolean;
  state(): Promise<LogState>;
  /** The pieces from byte `start` on (the first may begin before it), about `maxBytes` of them; [] at the end. */
  pieces(start: number, maxBytes: number): Promise<LogPiece[]>;
}

const INDEX_CACHE = 256;

function viewState(s: StoredLogState): LogState {
  const end = isFinishedAttempt(s.status) ? { attempt: s.number, status: s.status, exitCode: s.exitCode, failureReason: s.failureReason } : null;
  return { size: s.received, end };
}

export class AttemptLogs {
  /** Parsed indexes of compacted objects, most recently used last (objects never change). */
  private readonly indexes = new Map<string, ObjectIndex>();
  /**
   * Reads of fleet logs under way, by attempt, offset and size: a second identical read shares the
   * first's answer. Viewers that connect together (a link pasted in a chat, a page reloaded by
   * a thousand people) all start at the same offset; on PostgreSQL their reads are concurrent, and
   * each held its own copy of the same rows until the socket drained (1,000 viewers: +130 MB).
   */
  private readonly reading = new Map<string, Promise<LogPiece[]>>();

  constructor(
    private readonly store: Store,
    private readonly files: LogStore,
    private readonly blobs: BlobStore,
  ) {}

  /** The view of `job`'s attempt `number`; null if the job has no such attempt. */
  async view(job: Job, number: number, runsOn: 'local' | 'fleet'): Promise<AttemptLogView | null> {
    const row = (await this.store.listAttempts(job.id)).find((a) => a.number === number);
    if (!row) return null;
    if (runsOn === 'local') return this.localView(job, row.id, number);
    // Every read of a log (bytes, stream, sections, times, search) comes through here.
    const expiredAt = (await this.store.fleet.logState(row.id))?.expiredAt ?? null;
    if (expiredAt !== null) {
      throw new GantryError('GANTRY_E_LOG_EXPIRED', `the log of attempt ${number} of job ${job.id} was deleted by log retention at ${new Date(expiredAt).toISOString()}`);
    }
    return this.fleetView(row.id, job.pipelineId, number);
  }

  private fleetView(attemptId: AttemptId, pipelineId: number, number: number): AttemptLogView {
    const fleet = this.store.fleet;
    return {
      attemptId,
      pipelineId,
      number,
      local: false,
      state: async () => {
        const s = await fleet.logState(attemptId);
        if (!s) throw new GantryError('GANTRY_E_NOT_FOUND', `no attempt ${attemptId}`);
        return viewState(s);
      },
      pieces: (start, maxBytes) => {
        const key = `${attemptId}:${start}:${maxBytes}`;
        const under = this.reading.get(key);
        if (under) return under;
        const read = (async () => {
          const r = await fleet.readLogPieces(attemptId, start, maxBytes);
          if (!r) return [];
          if (r.kind === 'chunks') return r.pieces;
          return this.objectPieces(r.sha256, start, maxBytes);
        })().finally(() => this.reading.delete(key));
        this.reading.set(key, read);
        return read;
      },
    };
  }

  /** The states of fleet attempts' logs, in one read of the store (the live feeds' safety tick). */
  async fleetStates(attemptIds: readonly AttemptId[]): Promise<Map<AttemptId, LogState>> {
    return new Map((await this.store.fleet.logStates(attemptIds)).map((s) => [s.attemptId, viewState(s)]));
  }

  private localView(job: Job, attemptId: AttemptId, number: number): AttemptLogView {
    const key = { pipelineId: job.pipelineId, jobId: job.id, attempt: number };
    return {
      attemptId,
      pipelineId: job.pipelineId,
      number,
      local: true,
      state: async () => {
        // Status first, size second: once the attempt is finished its writer has closed, so the
        // size read after it is final.
        const a = await this.store.getAttempt(asAttemptId(attemptId));
        const finished = a !== null && isFinishedAttempt(a.status);
        const size = this.files.size(key);
        return { size, end: finished ? { attempt: number, status: a.status, exitCode: a.exitCode, failureReason: a.failureReason } : null };
      },
      pieces: async (start, maxBytes) => {
        const out: LogPiece[] = [];
        let bytes = 0;
        for (const c of this.files.readChunks(key, start)) {
          out.push({ offset: c.offset, end: c.offset + c.data.length, at: c.at, data: c.data });
          bytes += c.data.length;
          if (bytes >= maxBytes) break;
        }
        return out;
      },
    };
  }

  private async objectPieces(sha256: string, start: number, maxBytes: number): Promise<LogPiece[]> {
    // Positioned reads only, so the object may be a file or in a bucket (one ranged GET each);
    // the index is read once per object and kept, so a read after that costs its blocks alone.
    const missing = () => new GantryError('GANTRY_E_LOG', `the log object ${sha256} is missing from the log object store`);
    const read = async (pos: number, len: number) => (await this.blobs.read(sha256, pos, len)) ?? Promise.reject(missing());
    let index = this.indexes.get(sha256);
    if (index) this.indexes.delete(sha256);
    else {
      const size = await this.blobs.size(sha256);
      if (size === null) throw missing();
      index = await readObjectIndex({ size, read });
    }
    this.indexes.set(sha256, index);
    if (this.indexes.size > INDEX_CACHE) this.indexes.delete(this.indexes.keys().next().value!);
    return readObjectPieces({ read }, index, start, maxBytes);
  }
}

/** What a dropped range reads as: one line saying what is missing. */
export function holeNote(p: { offset: number; end: number }): Buffer {
  return Buffer.from(`\n[gantry] ${p.end - p.offset} bytes of output dropped here (bytes ${p.offset} to ${p.end - 1}): the log exceeded its size limit; its beginning and its end are kept\n`);
}

/** The bytes a piece shows from `from` on: its data, or a hole's note (whole, wherever `from` falls in it). */
export function pieceBytes(p: LogPiece, from: number): Buffer {
  if (p.data === null) return holeNote(p);
  return from > p.offset ? p.data.subarray(from - p.offset) : p.data;
}

/** Calls `fn` with every piece from `start` until `end`, in order, until it returns false. */
export async function forEachPiece(view: AttemptLogView, start: number, end: number, fn: (p: LogPiece) => boolean | void | Promise<boolean | void>): Promise<void> {
  let at = start;
  while (at < end) {
    const pieces = await view.pieces(at, 1 << 20);
    if (pieces.length === 0) return;
    for (const p of pieces) {
      if (p.end <= at) continue;
      if (p.offset >= end) return;
      if ((await fn(p)) === false) return;
      at = p.end;
    }
  }
}

/**
 * Bytes [start, end) of the log. A range that meets a dropped range stops at it; one that starts
 * inside it is the hole's note (docs/LOGS.md, "Size limit"). `end` says where what was served ends.
 */
export async function readRange(view: AttemptLogView, start: number, end: number): Promise<{ end: number; body: Buffer; dropped: boolean }> {
  const parts: Buffer[] = [];
  let served = start;
  let dropped = false;
  await forEachPiece(view, start, end, (p) => {
    if (p.data === null) {
      if (served === start) {
        parts.push(holeNote(p));
        served = p.end;
        dropped = true;
      }
      return false;
    }
    const to = Math.min(end, p.end);
    parts.push(p.data.subarray(Math.max(start, p.offset) - p.offset, to - p.offset));
    served = to;
  });
  return { end: served, body: Buffer.concat(parts), dropped };
}

/** The whole log as a download: dropped ranges as their notes. */
export async function readAll(view: AttemptLogView): Promise<Buffer> {
  const { size } = await view.state();
  const parts: Buffer[] = [];
  await forEachPiece(view, 0, size, (p) => void parts.push(pieceBytes(p, 0)));
  return Buffer.concat(parts);
}
