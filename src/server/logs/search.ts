// Search within one attempt's log (docs/API.md, "Search"): a literal string, matched on the raw
// bytes line by line, so invalid UTF-8 and NULs cannot break it. Memory stays bounded whatever the
// line length: only a window of the current line (for the match) and its first bytes (for the
// answer) are kept.

import type { LogPiece } from '../../logstore/log-object.js';
import { pieceBytes } from './attempt-logs.js';

export interface SearchHit {
  /** 1-based line number (lines end with \n). */
  line: number;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** The line's first TEXT_BYTES bytes as text (ANSI escapes removed, invalid UTF-8 replaced). */
  text: string;
  truncated: boolean;
}

export const TEXT_BYTES = 500;
const WINDOW = 64 * 1024;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

function lower(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = 0; i < out.length; i++) if (out[i]! >= 65 && out[i]! <= 90) out[i]! += 32;
  return out;
}

export class LogSearcher {
  readonly hits: SearchHit[] = [];
  private readonly needle: Buffer;
  private line = 1;
  private lineOffset = 0;
  private head: Buffer[] = [];
  private headBytes = 0;
  private window = Buffer.alloc(0);
  private matched = false;

  constructor(
    query: string,
    private readonly ignoreCase: boolean,
    private readonly limit: number,
  ) {
    this.needle = ignoreCase ? lower(Buffer.from(query)) : Buffer.from(query);
  }

  get full(): boolean {
    return this.hits.length >= this.limit;
  }

  push(p: LogPiece): void {
    let bytes = pieceBytes(p, p.offset);
    let offset = p.offset;
    // A hole's note is searchable, but it takes no offsets of the stream: the line after it starts at the hole's end.
    const hole = p.data === null;
    while (bytes.length > 0 && !this.full) {
      const nl = bytes.indexOf(10);
      const seg = nl < 0 ? bytes : bytes.subarray(0, nl);
      this.add(seg);
      if (nl < 0) break;
      this.endLine(hole ? p.end : offset + nl + 1);
      offset += nl + 1;
      bytes = bytes.subarray(nl + 1);
    }
  }

  /** The last line, if the log does not end with a newline. */
  finish(): void {
    if (this.headBytes > 0 || this.window.length > 0) this.endLine(0);
  }

  private add(seg: Buffer): void {
    if (seg.length === 0) return;
    if (this.headBytes < TEXT_BYTES + 1) {
      const take = seg.subarray(0, TEXT_BYTES + 1 - this.headBytes);
      this.head.push(take);
      this.headBytes += take.length;
    }
    if (this.matched) return;
    const s = this.ignoreCase ? lower(seg) : seg;
    this.window = Buffer.concat([this.window, s]);
    if (this.window.indexOf(this.needle) >= 0) this.matched = true;
    else if (this.window.length > WINDOW) this.window = this.window.subarray(this.window.length - (this.needle.length - 1));
  }

  private endLine(nextOffset: number): void {
    if (this.matched) {
      const head = Buffer.concat(this.head);
      this.hits.push({
        line: this.line,
        offset: this.lineOffset,
        text: head.subarray(0, TEXT_BYTES).toString('utf8').replace(ANSI, ''),
        truncated: head.length > TEXT_BYTES,
      });
    }
    this.line++;
    this.lineOffset = nextOffset;
    this.head = [];
    this.headBytes = 0;
    this.window = Buffer.alloc(0);
    this.matched = false;
  }
}
