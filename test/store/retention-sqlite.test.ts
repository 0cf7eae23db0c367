// Retention's store contract (retention-contract.ts) on SQLite files.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { SqlStore } from '../../src/store/sql/sql-store.js';
import { SqliteDialect } from '../../src/store/sqlite/sqlite-dialect.js';
import { runRetentionContract } from './retention-contract.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-retention-'));
const opened: SqliteDialect[] = [];
after(async () => {
  for (const db of opened) await db.close().catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
runRetentionContract('sqlite file', async () => {
  const db = new SqliteDialect(path.join(tmp, `retention-${n++}.db`));
  opened.push(db);
  return { store: await SqlStore.open(db), db };
});
