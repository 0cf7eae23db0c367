// The log stream's Server-Sent Events (docs/API.md, "Live log"):
//
//   event: log   id: <offset after the piece>   data: {"offset", "at", "b64"[, "dropped"]}
//   event: end   data: {"attempt", "status", "exitCode", "failureReason"}

import type { LogPiece } from '../../logstore/log-object.js';
import { pieceBytes, type LogEnd } from './attempt-logs.js';

export function logFrame(p: LogPiece, from: number): string {
  const offset = Math.max(from, p.offset);
  const data: Record<string, unknown> = { offset, at: p.at, b64: pieceBytes(p, from).toString('base64') };
  if (p.data === null) data.dropped = p.end - offset;
  return `event: log\nid: ${p.end}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function endFrame(end: LogEnd): string {
  return `event: end\ndata: ${JSON.stringify(end)}\n\n`;
}

