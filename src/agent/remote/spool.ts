// Where an attempt's masked output waits, on disk and in memory, until the server acknowledges
// it (PROTOCOL.md §9, "The agent's spool"), kept bounded by the server's size limit.
//
// With a limit `{headBytes, tailBytes}`, the only bytes past the head that can still be sent as
// bytes are the last `tailBytes` of the stream: older ones go as a dropped range (the server
// would drop them anyway), and a part that starts in the head stops at its end (AttemptLog.partAt).
// So the file keeps the head as it is and the rest in a ring of `tailBytes`, and the produced-at
// times keep only what a part that can still be sent may ask for. A job printing 50 GB costs at
// most `headBytes + tailBytes` of disk, whatever the output and however long the server is away.

import fs from 'node:fs';

/** The server's size limit (PROTOCOL.md §9): the first headBytes and the last tailBytes of a stream are kept. */
export interface SizeLimit {
  headBytes: number;
  tailBytes: number;
}

/**
 * The spool file of one attempt. Offset o < headBytes is at o; offset o >= headBytes is at
 * headBytes + ((o - headBytes) mod tailBytes), so a byte past the head stays readable until
 * `tailBytes` more follow it. Without a limit every offset is at itself.
 */
export class SpoolFile {
  private readonly fd: number;
  private readonly head: number;
  private readonly ring: number;
  private end = 0;

  constructor(
    private readonly file: string,
    limit: SizeLimit | null,
  ) {
    this.head = limit?.headBytes ?? Infinity;
    this.ring = limit?.tailBytes ?? 0;
    this.fd = fs.openSync(file, 'w+', 0o600);
  }

  /** The stream's length: every byte below it has been appended. */
  get size(): number {
    return this.end;
  }

  /** The first offset past the head whose byte is still in the file (bytes of the head always are). */
  get keptFrom(): number {
    return Math.max(this.head, this.end - this.ring);
  }

  append(chunk: Buffer): void {
    const at = this.end;
    const stop = at + chunk.length;
    const inHead = Math.max(0, Math.min(chunk.length, this.head - at));
    if (inHead > 0) fs.writeSync(this.fd, chunk, 0, inHead, at);
    // Of the rest, only what the ring can hold: the bytes before it would be overwritten anyway.
    for (let o = Math.max(at + inHead, stop - this.ring); o < stop; ) {
      const slot = (o - this.head) % this.ring;
      const n = Math.min(stop - o, this.ring - slot);
      fs.writeSync(this.fd, chunk, o - at, n, this.head + slot);
      o += n;
    }
    // Only now: a failed write (disk full) leaves the stream as it was.
    this.end = stop;
  }

  /** The bytes of [start, stop), read now: the ring may overwrite them in the file later, not in the Buffer. */
  read(start: number, stop: number): Buffer {
    if (stop > this.end || (stop > this.head && Math.max(start, this.head) < this.keptFrom)) {
      // A bug in the caller, not a condition: AttemptLog only asks for bytes it may still send.
      throw new Error(`spool: bytes ${start}-${stop} asked for, but the file holds the head ${this.head} and ${this.keptFrom}-${this.end}`);
    }
    const bytes = Buffer.allocUnsafe(stop - start);
    const inHead = Math.max(0, Math.min(stop, this.head) - start);
    if (inHead > 0) this.readInto(bytes, 0, inHead, start);
    for (let o = start + inHead; o < stop; ) {
      const slot = (o - this.head) % this.ring;
      const n = Math.min(stop - o, this.ring - slot);
      this.readInto(bytes, o - start, n, this.head + slot);
      o += n;
    }
    return bytes;
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  remove(): void {
    this.close();
    fs.rmSync(this.file, { force: true });
  }

  private readInto(bytes: Buffer, at: number, length: number, position: number): void {
    // Every byte asked for was written before `end` moved past it, so one read fills it; a short
    // read would mean the file was cut under us, and sending zeros beats sending garbage.
    bytes.fill(0, at + fs.readSync(this.fd, bytes, at, length, position), at + length);
  }
}

/**
 * When each range of the stream was produced, for the `Gantry-Produced-At` of the part that
 * starts there: marks (offset, epoch ms), the time of an offset being that of the last mark at or
 * before it. A part starts at the first unacknowledged byte or where the one before it in its
 * request stopped, and the acknowledged offset only moves to where a part handed out stops (the
 * carrier pins those until their answer). So a mark is kept while its range holds an offset at or
 * after the acknowledged one that is, with a limit, in the head, in the last tailBytes or pinned:
 * a part past the head that starts earlier is a dropped range, and it starts at the acknowledged
 * offset. The marks then cover about headBytes + tailBytes of stream, not all of it, and take 16
 * bytes each: a server away for hours costs megabytes, not the output's size.
 */
export class ProducedTimes {
  private offsets = new Float64Array(64);
  private times = new Float64Array(64);
  /** The marks in use are [first, n); those before `first` are below the acknowledged offset. */
  private first = 0;
  private n = 0;
  /** Marks kept by the last compaction: compacting again once they have doubled costs O(1) a mark. */
  private keptAtCompaction = 0;
  /** Where parts handed out and not answered yet stop, and how many stop there. */
  private readonly pins = new Map<number, number>();

  constructor(private readonly limit: SizeLimit | null) {}

  /** Output starting at `offset` was produced at `at`. */
  mark(offset: number, at: number): void {
    // A mark with the time of the one before it would answer nothing differently.
    if (this.n > this.first && this.times[this.n - 1] === at) return;
    if (this.n === this.offsets.length) this.resize(Math.max(64, 2 * (this.n - this.first)));
    this.offsets[this.n] = offset;
    this.times[this.n++] = at;
  }

  /** The time of the byte at `offset` (now, if nothing was produced before it). */
  at(offset: number): number {
    let lo = this.first;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo > this.first ? this.times[lo - 1]! : Date.now();
  }

  /** A part stopping at `offset` is on its way: the acknowledged offset may move there. */
  pin(offset: number): void {
    this.pins.set(offset, (this.pins.get(offset) ?? 0) + 1);
  }

  /** That part is answered. */
  unpin(offset: number): void {
    const left = (this.pins.get(offset) ?? 0) - 1;
    if (left > 0) this.pins.set(offset, left);
    else this.pins.delete(offset);
  }

  /** Forgets the marks no part can ask for any more: those below `acked` at once, the others in bulk. */
  prune(acked: number, end: number): void {
    while (this.first + 1 < this.n && this.offsets[this.first + 1]! <= acked) this.first++;
    if (this.n - this.first <= 2 * this.keptAtCompaction + 64) return;
    const head = this.limit?.headBytes ?? Infinity;
    const tailFrom = this.limit ? Math.max(acked, end - this.limit.tailBytes) : acked;
    const pinned = [...this.pins.keys()].filter((p) => p > acked).sort((a, b) => a - b);
    let pin = 0;
    let kept = 0;
    for (let i = this.first; i < this.n; i++) {
      const o = this.offsets[i]!;
      const next = i + 1 < this.n ? this.offsets[i + 1]! : Infinity;
      while (pin < pinned.length && pinned[pin]! < o) pin++;
      // The mark answers for [o, next): may a part still start there? (A mark dropped here
      // widens the one before it over offsets no part starts at, so that one answers the same.)
      if (o <= acked || o <= head || next > tailFrom || (pin < pinned.length && pinned[pin]! < next)) {
        this.offsets[kept] = o;
        this.times[kept++] = this.times[i]!;
      }
    }
    this.first = 0;
    this.n = kept;
    this.keptAtCompaction = kept;
    if (this.offsets.length > 4 * kept + 64) this.resize(2 * kept + 64);
  }

  /** Marks held, for the tests of the bound. */
  get count(): number {
    return this.n - this.first;
  }

  private resize(capacity: number): void {
    const offsets = new Float64Array(capacity);
    const times = new Float64Array(capacity);
    offsets.set(this.offsets.subarray(this.first, this.n));
    times.set(this.times.subarray(this.first, this.n));
    this.n -= this.first;
    this.first = 0;
    this.offsets = offsets;
    this.times = times;
  }
}
