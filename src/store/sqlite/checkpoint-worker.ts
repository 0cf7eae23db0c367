// A worker thread that checkpoints a SQLite database's WAL on a connection of its own, so the
// server's event loop seldom copies pages into the database file or waits for its fsyncs
// (sqlite-dialect.ts, `backgroundCheckpoints`). PASSIVE: it never blocks the writer and never
// waits for it; it copies what the WAL holds and leaves what comes meanwhile for its next turn.
// A turn with nothing new to copy does no I/O.

import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, everyMs } = workerData as { file: string; everyMs: number };
const db = new Database(file);
db.pragma('busy_timeout = 0');
// This connection only checkpoints: it never writes, so it never checkpoints on its own.
db.pragma('wal_autocheckpoint = 0');

const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or failing: the next turn tries again, and the writer's own checkpoint bounds the WAL.
  }
}, everyMs);

parentPort!.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort!.postMessage('stopped');
});
