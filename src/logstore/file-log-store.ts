// One file per attempt, `<root>/<pipelineId>/<jobId>-<attempt>.log`, append-only.
//
// File format (all integers little-endian):
//
//   file header, 8 bytes:   "GLOG" | u16 version (1) | u16 reserved (0)
//   then records:           u32 length | u32 crc32 | f64 arrival time (ms since epoch) | data
//
// A record is one appended chunk: a 16-byte header followed by `length` bytes (never 0). The
// crc32 covers the 8 timestamp bytes followed by the data, so a torn or rotten record is caught
// whichever part of it was hit; a corrupted length shows up as a record that runs past the end of
// the file or whose checksum fails. The time is an f64 so it reads back as the same JS number.
//
// Recovery rule: records are read from the start; the stream ends at the first record that is
// short (the file ends inside it) or whose checksum fails, and everything before it is intact.
// Opening a writer verifies every record and truncates the file there, so appends continue from
// the last whole record. Readers scan headers only (one pread of 16 bytes per record, batched
// when records are small), check the checksum of the last record (the one a crash can tear) and
// of every record they return, and end the stream at the first one that fails.
//
// Durability: `append` is one positioned writev of header + data (no copy of the data) into the
// OS cache: it survives a crash of the process. `sync` (fdatasync, plus the directory the first
// time, so a new file's name is durable too) makes it survive an OS crash or power loss.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { GantryError } from '../domain/errors.js';
import type { LogChunk, LogKey, LogStore, LogWriter } from './log-store.js';

const MAGIC = Buffer.from('GLOG', 'latin1');
const VERSION = 1;
export const FILE_HEADER_SIZE = 8;
export const RECORD_HEADER_SIZE = 16;
/** Bytes appended after which a background writeback starts (see FileLogWriter.startWriteback). */
const WRITEBACK_EVERY = 64 << 20;
// u32 length; a larger append is split into several records.
const MAX_RECORD = 0xffff_ffff;
// Records up to this size are verified from one read; larger ones are checksummed in pieces.
const VERIFY_PIECE = 4 * 1024 * 1024;

function logError(message: string, cause?: unknown): GantryError {
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new GantryError('GANTRY_E_LOG', `${message}${why}`);
}

function fileHeader(): Buffer {
  const h = Buffer.alloc(FILE_HEADER_SIZE);
  MAGIC.copy(h, 0);
  h.writeUInt16LE(VERSION, 4);
  return h;
}

/**
 * Where each record starts in the stream. Record i's header is at file offset
 * FILE_HEADER_SIZE + i * RECORD_HEADER_SIZE + starts[i], so one array locates everything.
 */
interface RecordIndex {
  starts: number[];
  /** Stream size: the end of the last whole record. */
  size: number;
}

function fileOffsetOf(index: RecordIndex, i: number): number {
  return FILE_HEADER_SIZE + i * RECORD_HEADER_SIZE + index.starts[i]!;
}
function endFileOffset(index: RecordIndex): number {
  return FILE_HEADER_SIZE + index.starts.length * RECORD_HEADER_SIZE + index.size;
}
function lengthOf(index: RecordIndex, i: number): number {
  return (i + 1 < index.starts.length ? index.starts[i + 1]! : index.size) - index.starts[i]!;
}
/** The last record starting at or before `offset` (offset < size). */
function recordAt(index: RecordIndex, offset: number): number {
  let lo = 0;
  let hi = index.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (index.starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function preadFully(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function checksum(header: Buffer, headerAt: number, data: Buffer): number {
  return crc32(data, crc32(header.subarray(headerAt + 8, headerAt + 16)));
}

/** Checks the file header; returns false if the file is too short to have one. */
function checkFileHeader(fd: number, file: string, fileSize: number): boolean {
  if (fileSize < FILE_HEADER_SIZE) return false;
  const h = Buffer.alloc(FILE_HEADER_SIZE);
  preadFully(fd, h, FILE_HEADER_SIZE, 0);
  if (!h.subarray(0, 4).equals(MAGIC)) throw logError(`${file} is not a Gantry log (bad magic)`);
  const version = h.readUInt16LE(4);
  if (version > VERSION) throw logError(`${file} is log format version ${version}; this Gantry reads up to ${VERSION}`);
  return true;
}

/** Verifies record `len` bytes of data at `dataAt` against `crc`, reading in pieces. */
function verifyLarge(fd: number, header: Buffer, dataAt: number, len: number, crc: number): boolean {
  const piece = Buffer.allocUnsafe(Math.min(len, VERIFY_PIECE));
  let c = crc32(header.subarray(8, 16));
  for (let done = 0; done < len; ) {
    const n = preadFully(fd, piece, Math.min(piece.length, len - done), dataAt + done);
    if (n === 0) return false;
    c = crc32(piece.subarray(0, n), c);
    done += n;
  }
  return c === crc;
}

/**
 * Scans records from `index`'s end up to `fileSize`, extending `index` in place. With
 * `verify: 'all'` every checksum is checked (a writer's recovery); with `'last'` only the
 * last record's (a reader's view). Returns the file offset where the valid records end.
 */
function scan(fd: number, fileSize: number, index: RecordIndex, verify: 'all' | 'last'): number {
  let pos = endFileOffset(index);
  // Small records are read in blocks; large ones header by header, so scanning a log of 64 KB
  // chunks does not read the data.
  let block = Buffer.allocUnsafe(64 * 1024);
  let blockAt = 0;
  let blockLen = 0;
  let lastLen = 0;
  const header = Buffer.allocUnsafe(RECORD_HEADER_SIZE);
  let lastHeaderAt = -1;
  while (pos + RECORD_HEADER_SIZE <= fileSize) {
    let h: Buffer;
    let hAt: number;
    if (pos >= blockAt && pos + RECORD_HEADER_SIZE <= blockAt + blockLen) {
      h = block;
      hAt = pos - blockAt;
    } else if (verify === 'all' || lastLen <= 4096) {
      blockAt = pos;
      blockLen = preadFully(fd, block, Math.min(block.length, fileSize - pos), pos);
      if (blockLen < RECORD_HEADER_SIZE) break;
      h = block;
      hAt = 0;
    } else {
      if (preadFully(fd, header, RECORD_HEADER_SIZE, pos) < RECORD_HEADER_SIZE) break;
      h = header;
      hAt = 0;
    }
    const len = h.readUInt32LE(hAt);
    const crc = h.readUInt32LE(hAt + 4);
    const end = pos + RECORD_HEADER_SIZE + len;
    if (len === 0 || end > fileSize) break;
    if (verify === 'all') {
      let ok: boolean;
      if (RECORD_HEADER_SIZE + len <= VERIFY_PIECE) {
        if (end > blockAt + blockLen || pos < blockAt) {
          if (block.length < RECORD_HEADER_SIZE + len) block = Buffer.allocUnsafe(Math.max(RECORD_HEADER_SIZE + len, 64 * 1024));
          blockAt = pos;
          blockLen = preadFully(fd, block, Math.min(block.length, fileSize - pos), pos);
          if (blockLen < RECORD_HEADER_SIZE + len) break;
        }
        const at = pos - blockAt;
        ok = checksum(block, at, block.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + len)) === crc;
      } else {
        const hcopy = Buffer.from(h.subarray(hAt, hAt + RECORD_HEADER_SIZE));
        ok = verifyLarge(fd, hcopy, pos + RECORD_HEADER_SIZE, len, crc);
      }
      if (!ok) break;
    }
    index.starts.push(index.size);
    index.size += len;
    lastHeaderAt = pos;
    lastLen = len;
    pos = end;
  }
  if (verify === 'last' && lastHeaderAt >= 0) {
    const hcopy = Buffer.allocUnsafe(RECORD_HEADER_SIZE);
    preadFully(fd, hcopy, RECORD_HEADER_SIZE, lastHeaderAt);
    if (!verifyLarge(fd, hcopy, lastHeaderAt + RECORD_HEADER_SIZE, lastLen, hcopy.readUInt32LE(4))) {
      index.starts.pop();
      index.size -= lastLen;
      pos = lastHeaderAt;
    }
  }
  return pos;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

class FileLogWriter implements LogWriter {
  private fileSize: number;
  private durable: number;
  private unsynced = 0;
  private writeback: Promise<void> | null = null;
  private closed = false;
  // Reused for every record: the data itself is handed to writev untouched.
  private readonly header = Buffer.allocUnsafe(RECORD_HEADER_SIZE);
  private readonly timestamp = this.header.subarray(8, 16);
  private readonly iov: Buffer[] = [this.header, this.header];

  constructor(
    readonly file: string,
    readonly fd: number,
    readonly index: RecordIndex,
    private dirsToSync: string[],
    private readonly onClose: () => void,
  ) {
    this.fileSize = endFileOffset(index);
    // What an earlier process appended may still be only in the OS cache: the first sync syncs.
    this.durable = -1;
  }

  get size(): number {
    return this.index.size;
  }

  append(data: Buffer, at: number = Date.now()): void {
    if (this.closed) throw logError(`${this.file}: append after close`);
    for (let off = 0; off < data.length; off += MAX_RECORD) {
      this.appendRecord(off === 0 && data.length <= MAX_RECORD ? data : data.subarray(off, off + MAX_RECORD), at);
    }
  }

  private appendRecord(data: Buffer, at: number): void {
    const h = this.header;
    h.writeDoubleLE(at, 8);
    h.writeUInt32LE(data.length, 0);
    h.writeUInt32LE(crc32(data, crc32(this.timestamp)), 4);
    const total = RECORD_HEADER_SIZE + data.length;
    this.iov[1] = data;
    try {
      let n = fs.writevSync(this.fd, this.iov, this.fileSize);
      // Regular files write everything or fail; this loop is for the exotic ones that do not.
      while (n < total) {
        const rest = n < RECORD_HEADER_SIZE ? [h.subarray(n), data] : [data.subarray(n - RECORD_HEADER_SIZE)];
        n += fs.writevSync(this.fd, rest, this.fileSize + n);
      }
    } catch (e) {
      // Cut the partial record so the file stays a sequence of whole records (recovery would cut
      // it anyway; doing it now lets a later append succeed if space frees up).
      try {
        fs.ftruncateSync(this.fd, this.fileSize);
      } catch {
        /* recovery on the next open cuts it */
      }
      throw logError(`${this.file}: append failed`, e);
    } finally {
      this.iov[1] = h;
    }
    this.index.starts.push(this.index.size);
    this.index.size += data.length;
    this.fileSize += total;
    this.unsynced += total;
    if (this.unsynced >= WRITEBACK_EVERY && !this.writeback) this.startWriteback();
  }

  /**
   * A log that grows fast is written back to disk as it grows, in the background, so that the
   * sync at its end has little left to do (a 200 MB log would otherwise wait ~70 ms there).
   * This adds no durability promise: only sync() and close() make one.
   */
  private startWriteback(): void {
    this.unsynced = 0;
    this.writeback = new Promise<void>((resolve) => fs.fdatasync(this.fd, () => resolve())).then(() => {
      this.writeback = null;
    });
  }

  sync(): number {
    if (this.closed) return this.durable;
    if (this.durable === this.index.size) return this.durable;
    try {
      fs.fdatasyncSync(this.fd);
      // A new file's directory entry (and a new pipeline directory's) is not covered by the
      // file's fdatasync.
      for (const dir of this.dirsToSync) fsyncDir(dir);
    } catch (e) {
      throw logError(`${this.file}: sync failed`, e);
    }
    this.dirsToSync = [];
    this.durable = this.index.size;
    return this.durable;
  }

  close(): number {
    if (this.closed) return this.durable;
    const size = this.sync();
    this.closed = true;
    // A background writeback still holds the descriptor: closing it under the thread pool's feet
    // could sync a descriptor number already reused by another file.
    if (this.writeback) void this.writeback.then(() => fs.closeSync(this.fd));
    else fs.closeSync(this.fd);
    this.onClose();
    return size;
  }

  async closeAsync(): Promise<number> {
    if (this.closed) return this.durable;
    // No append may slip in while the sync runs off the event loop.
    this.closed = true;
    const size = this.index.size;
    try {
      if (this.writeback) await this.writeback;
      if (this.durable !== size) {
        await new Promise<void>((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
        for (const dir of this.dirsToSync) await fsyncDirAsync(dir);
        this.dirsToSync = [];
        this.durable = size;
      }
    } catch (e) {
      throw logError(`${this.file}: sync failed`, e);
    } finally {
      fs.close(this.fd, () => {});
      this.onClose();
    }
    return this.durable;
  }
}

async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

interface ReaderCacheEntry {
  index: RecordIndex;
  /**
   * Where the valid records ended at the last scan. A longer file is scanned on from there (a
   * record that was still being written is looked at again); a shorter one was recovered by a
   * writer and is rescanned from the start.
   */
  scannedTo: number;
}

export class FileLogStore implements LogStore {
  private readonly writers = new Map<string, FileLogWriter | null>();
  // Indexes of logs read but not written by this process, extended as the file grows, so a
  // viewer following a running job's log scans each header once.
  private readonly readerIndexes = new Map<string, ReaderCacheEntry>();
  private static readonly READER_CACHE_MAX = 64;

  constructor(readonly root: string) {}

  pathOf(key: LogKey): string {
    return path.join(this.root, String(key.pipelineId), `${key.jobId}-${key.attempt}.log`);
  }

  openWriter(key: LogKey): LogWriter {
    const file = this.claim(key);
    const dir = path.dirname(file);
    const dirsToSync: string[] = [];
    let fd: number;
    try {
      const created = fs.mkdirSync(dir, { recursive: true });
      if (created !== undefined) dirsToSync.push(path.dirname(dir));
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    } catch (e) {
      this.writers.delete(file);
      throw logError(`cannot open ${file}`, e);
    }
    return this.finishOpen(file, fd, dirsToSync);
  }

  /**
   * openWriter with the file creation done off the event loop: on a slow disk creating a file
   * costs about half a millisecond, which the agent's loop should not wait for.
   */
  async openWriterAsync(key: LogKey): Promise<LogWriter> {
    const file = this.claim(key);
    const dir = path.dirname(file);
    const dirsToSync: string[] = [];
    let fd: number;
    try {
      const created = await fs.promises.mkdir(dir, { recursive: true });
      if (created !== undefined) dirsToSync.push(path.dirname(dir));
      fd = await new Promise<number>((resolve, reject) =>
        fs.open(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644, (err, f) => (err ? reject(err) : resolve(f))),
      );
    } catch (e) {
      this.writers.delete(file);
      throw logError(`cannot open ${file}`, e);
    }
    return this.finishOpen(file, fd, dirsToSync);
  }

  /** Reserves the log for one writer (the slot is filled by finishOpen). */
  private claim(key: LogKey): string {
    const file = this.pathOf(key);
    if (this.writers.has(file)) throw logError(`${file} is already open for writing`);
    this.writers.set(file, null);
    return file;
  }

  private finishOpen(file: string, fd: number, dirsToSync: string[]): LogWriter {
    const dir = path.dirname(file);
    try {
      const fileSize = fs.fstatSync(fd).size;
      const index: RecordIndex = { starts: [], size: 0 };
      if (!checkFileHeader(fd, file, fileSize)) {
        // New, or a crash tore the header itself: nothing was ever appended.
        dirsToSync.unshift(dir);
        if (fileSize > 0) fs.ftruncateSync(fd, 0);
        fs.writeSync(fd, fileHeader(), 0, FILE_HEADER_SIZE, 0);
      } else {
        const end = scan(fd, fileSize, index, 'all');
        if (end < fileSize) {
          fs.ftruncateSync(fd, end);
          fs.fdatasyncSync(fd);
        }
      }
      this.readerIndexes.delete(file);
      const writer = new FileLogWriter(file, fd, index, dirsToSync, () => this.writers.delete(file));
      this.writers.set(file, writer);
      return writer;
    } catch (e) {
      this.writers.delete(file);
      fs.closeSync(fd);
      throw e instanceof GantryError ? e : logError(`cannot open ${file}`, e);
    }
  }

  read(key: LogKey, start = 0, end?: number): Buffer {
    const parts = this.readRecords(key, start, end);
    if (parts.length === 1) return parts[0]!.data;
    return Buffer.concat(parts.map((p) => p.data));
  }

  readChunks(key: LogKey, start = 0): LogChunk[] {
    return this.readRecords(key, start, undefined);
  }

  size(key: LogKey): number {
    const file = this.pathOf(key);
    const w = this.writers.get(file);
    if (w) return w.size;
    return this.withReadIndex(file, () => 0, (_fd, index) => index.size);
  }

  exists(key: LogKey): boolean {
    const file = this.pathOf(key);
    return this.writers.has(file) || fs.existsSync(file);
  }

  /** The records overlapping [start, end), each trimmed to the range, checksums verified. */
  private readRecords(key: LogKey, start: number, end: number | undefined): LogChunk[] {
    const file = this.pathOf(key);
    const w = this.writers.get(file);
    if (w) return this.readRange(file, w.fd, w.index, start, end);
    return this.withReadIndex(
      file,
      () => [],
      (fd, index) => this.readRange(file, fd, index, start, end),
    );
  }

  private withReadIndex<T>(file: string, missing: () => T, fn: (fd: number, index: RecordIndex) => T): T {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return missing();
      throw logError(`cannot read ${file}`, e);
    }
    try {
      const fileSize = fs.fstatSync(fd).size;
      if (!checkFileHeader(fd, file, fileSize)) return fn(fd, { starts: [], size: 0 });
      let entry = this.readerIndexes.get(file);
      if (entry === undefined || fileSize < entry.scannedTo) {
        entry = { index: { starts: [], size: 0 }, scannedTo: FILE_HEADER_SIZE };
      }
      if (fileSize > entry.scannedTo) entry.scannedTo = scan(fd, fileSize, entry.index, 'last');
      this.readerIndexes.delete(file);
      this.readerIndexes.set(file, entry);
      if (this.readerIndexes.size > FileLogStore.READER_CACHE_MAX) {
        this.readerIndexes.delete(this.readerIndexes.keys().next().value!);
      }
      return fn(fd, entry.index);
    } finally {
      fs.closeSync(fd);
    }
  }

  private readRange(file: string, fd: number, index: RecordIndex, start: number, end: number | undefined): LogChunk[] {
    const stop = Math.min(end ?? index.size, index.size);
    const from = Math.max(0, start);
    if (from >= stop) return [];
    const first = recordAt(index, from);
    const last = recordAt(index, stop - 1);
    const spanStart = fileOffsetOf(index, first);
    const spanEnd = fileOffsetOf(index, last) + RECORD_HEADER_SIZE + lengthOf(index, last);
    const span = Buffer.allocUnsafe(spanEnd - spanStart);
    const got = preadFully(fd, span, span.length, spanStart);
    const chunks: LogChunk[] = [];
    for (let i = first; i <= last; i++) {
      const at = fileOffsetOf(index, i) - spanStart;
      const len = lengthOf(index, i);
      const ok =
        at + RECORD_HEADER_SIZE + len <= got &&
        span.readUInt32LE(at) === len &&
        checksum(span, at, span.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + len)) === span.readUInt32LE(at + 4);
      if (!ok) {
        // The stream ends at the first bad record; forget the cached index so the next read
        // rescans (the file may have been recovered by a writer in another process).
        this.readerIndexes.delete(file);
        break;
      }
      const recStart = index.starts[i]!;
      const a = Math.max(from, recStart) - recStart;
      const b = Math.min(stop, recStart + len) - recStart;
      const dataAt = at + RECORD_HEADER_SIZE;
      chunks.push({ offset: recStart + a, at: span.readDoubleLE(at + 8), data: span.subarray(dataAt + a, dataAt + b) });
    }
    return chunks;
  }
}
