// The log stream's Server-Sent Events (docs/API.md, "Live log"):
//
//   event: log   id: <offset after the piece>   data: {"offset", "at", "b64"[, "dropped"]}
//   event: end   data: {"attempt", "status", "exitCode", "failureReason"}

import type { LogPiece } from '../../logstore/log-object.js';
import { pieceBytes, type LogEnd } from './attempt-logs.js';

/**
 * The frame as bytes, written straight into one buffer: the JSON has numbers and base64 only, so
 * nothing needs escaping, and the base64 text is copied once (JSON.stringify of it and the UTF-8
 * encoding of the whole frame cost three times the base64 encoding itself on every live piece).
 */
export function logFrame(p: LogPiece, from: number): Buffer {
  const offset = Math.max(from, p.offset);
  const b64 = pieceBytes(p, from).toString('base64');
  const head = `event: log\nid: ${p.end}\ndata: {"offset":${offset},"at":${p.at},"b64":"`;
  const tail = p.data === null ? `","dropped":${p.end - offset}}\n\n` : '"}\n\n';
  const frame = Buffer.allocUnsafe(head.length + b64.length + tail.length);
  let at = frame.write(head, 0, 'latin1');
  at += frame.write(b64, at, 'latin1');
  frame.write(tail, at, 'latin1');
  return frame;
}

/**
 * Frames of whole pieces, kept as long as the piece is: viewers catching up together read the
 * same piece objects (shared reads, the feed's recent pieces), and a socket holds the frame it was
 * given rather than a copy, so a thousand of them hold one frame, not a thousand.
 */
const wholeFrames = new WeakMap<LogPiece, Buffer>();

/** The frame of `p` from `from` on, shared with every other viewer that needs the whole piece. */
export function frameFrom(p: LogPiece, from: number): Buffer {
  if (from > p.offset) return logFrame(p, from);
  let frame = wholeFrames.get(p);
  if (!frame) wholeFrames.set(p, (frame = logFrame(p, p.offset)));
  return frame;
}

export function endFrame(end: LogEnd): string {
  return `event: end\ndata: ${JSON.stringify(end)}\n\n`;
}

