// A finished attempt's log as one compressed object (docs/LOGS.md, "Compaction"). The object keeps
// everything the chunk rows had: every piece's offsets, its arrival time, and the holes the size
// limit made, so reads by byte range, timestamps and sections are the same before and after.
//
// Layout (integers little-endian):
//   "GLOGZ\0" u16 version=1                  magic (and, should the stores ever be shared, no log
//                                            object has the name of an archive, which starts 1f 8b)
//   block*                                   raw DEFLATE of whole records, ~1 MiB of stream each
//   index                                    JSON {"size": N, "blocks": [[start, end, pos, len, crc32]]}
//   u32 crc32(index) | u32 index length | "GLOGZEND"
// record (inside a block): u8 kind (0 bytes, 1 hole) | f64 at | f64 start | f64 end | u32 n | n bytes
//
// Blocks let a reader fetch and inflate only the part of a large log it is asked for.

import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { GantryError } from '../domain/errors.js';

const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);

const MAGIC = Buffer.from('GLOGZ\0\x01\x00', 'latin1');
const END_MAGIC = Buffer.from('GLOGZEND', 'latin1');
const TRAILER = 16;
const RECORD_HEADER = 29;
const BLOCK_TARGET = 1 << 20;
/** Bytes read from the end of an object to find its index: ~50 bytes of index per MiB of log. */
const INDEX_READ = 64 << 10;

/** One piece of a log: bytes [offset, end) that arrived at `at`; `data` null is a dropped range. */
export interface LogPiece {
  offset: number;
  end: number;
  at: number;
  data: Buffer | null;
}

export interface ObjectIndex {
  size: number;
  /** [stream start, stream end, byte position in the object, compressed length, crc32]. */
  blocks: [number, number, number, number, number][];
}

/**
 * Builds the object from the log's pieces, in order, part by part as it goes: the magic, each
 * block once it holds about 1 MiB of log, then the index and the trailer. A consumer that writes
 * each part before asking for the next holds one batch of pieces and one block, whatever the size
 * of the log; nothing is read from `pieces` before the parts already made are taken.
 */
export async function* encodeLogObjectParts(pieces: AsyncIterable<LogPiece[]>): AsyncGenerator<Buffer, void, undefined> {
  yield MAGIC;
  let pos = MAGIC.length;
  const index: ObjectIndex = { size: 0, blocks: [] };
  let records: Buffer[] = [];
  let blockStart = -1;
  let blockBytes = 0;
  let expected = 0;
  const block = async (): Promise<Buffer> => {
    const z = await deflateRaw(Buffer.concat(records));
    index.blocks.push([blockStart, expected, pos, z.length, zlib.crc32(z)]);
    pos += z.length;
    records = [];
    blockBytes = 0;
    blockStart = -1;
    return z;
  };
  for await (const batch of pieces) {
    for (const p of batch) {
      if (p.offset !== expected) throw new GantryError('GANTRY_E_LOG', `log pieces out of order: ${p.offset} after ${expected}`);
      const head = Buffer.alloc(RECORD_HEADER);
      head.writeUInt8(p.data === null ? 1 : 0, 0);
      head.writeDoubleLE(p.at, 1);
      head.writeDoubleLE(p.offset, 9);
      head.writeDoubleLE(p.end, 17);
      head.writeUInt32LE(p.data?.length ?? 0, 25);
      if (blockStart < 0) blockStart = p.offset;
      records.push(head);
      if (p.data) records.push(p.data);
      blockBytes += RECORD_HEADER + (p.data?.length ?? 0);
      expected = p.end;
      if (blockBytes >= BLOCK_TARGET) yield await block();
    }
  }
  if (records.length > 0) yield await block();
  index.size = expected;
  const json = Buffer.from(JSON.stringify(index));
  const trailer = Buffer.alloc(TRAILER);
  trailer.writeUInt32LE(zlib.crc32(json), 0);
  trailer.writeUInt32LE(json.length, 4);
  END_MAGIC.copy(trailer, 8);
  yield json;
  yield trailer;
}

/** The whole object in memory, as parts (tests and benchmarks; the compactor streams). */
export async function encodeLogObject(pieces: AsyncIterable<LogPiece[]>): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for await (const part of encodeLogObjectParts(pieces)) parts.push(part);
  return parts;
}

/** Random access to a stored object: `read(pos, len)` returns those bytes of it. */
export interface ObjectFile {
  size: number;
  read(pos: number, len: number): Promise<Buffer>;
}

function bad(why: string): GantryError {
  return new GantryError('GANTRY_E_LOG', `log object is damaged: ${why}`);
}

export async function readObjectIndex(file: ObjectFile): Promise<ObjectIndex> {
  if (file.size < MAGIC.length + TRAILER) throw bad('too short');
  // The trailer with, nearly always, the whole index in one read, beside the magic: from a bucket
  // that is one round trip instead of three.
  const tailLength = Math.min(file.size - MAGIC.length, INDEX_READ);
  const [magic, tail] = await Promise.all([file.read(0, MAGIC.length), file.read(file.size - tailLength, tailLength)]);
  if (!magic.equals(MAGIC)) throw bad('not a log object');
  if (tail.length !== tailLength) throw bad('shorter than its size');
  const trailer = tail.subarray(tail.length - TRAILER);
  if (!trailer.subarray(8).equals(END_MAGIC)) throw bad('no trailer');
  const len = trailer.readUInt32LE(4);
  if (len > file.size - MAGIC.length - TRAILER) throw bad('index length');
  const json = len + TRAILER <= tail.length ? tail.subarray(tail.length - TRAILER - len, tail.length - TRAILER) : await file.read(file.size - TRAILER - len, len);
  if (zlib.crc32(json) !== trailer.readUInt32LE(0)) throw bad('index checksum');
  return JSON.parse(json.toString()) as ObjectIndex;
}

/** The pieces of the object from stream offset `start` on, about `maxBytes` of them (whole blocks). */
export async function readObjectPieces(file: Pick<ObjectFile, 'read'>, index: ObjectIndex, start: number, maxBytes: number): Promise<LogPiece[]> {
  const out: LogPiece[] = [];
  let bytes = 0;
  for (const [, end, pos, len, crc] of index.blocks) {
    if (end <= start) continue;
    const z = await file.read(pos, len);
    if (zlib.crc32(z) !== crc) throw bad(`block at ${pos}: checksum`);
    const raw = await inflateRaw(z);
    for (let at = 0; at < raw.length; ) {
      const kind = raw.readUInt8(at);
      const n = raw.readUInt32LE(at + 25);
      const p: LogPiece = {
        at: raw.readDoubleLE(at + 1),
        offset: raw.readDoubleLE(at + 9),
        end: raw.readDoubleLE(at + 17),
        data: kind === 1 ? null : raw.subarray(at + RECORD_HEADER, at + RECORD_HEADER + n),
      };
      at += RECORD_HEADER + n;
      if (p.end <= start) continue;
      out.push(p);
      bytes += n;
    }
    if (bytes >= maxBytes) break;
  }
  return out;
}
