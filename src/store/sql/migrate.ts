// Brings a database up to the code's schema on open. Idempotent: applied migrations are skipped,
// and the check is repeated inside each migration's transaction so two processes opening the
// same database at once apply each migration exactly once. Every transaction here begins with the
// dialect's migration lock (PostgreSQL: an advisory lock; SQLite's BEGIN IMMEDIATE already is
// one), so two server instances starting together take turns, even at creating schema_migrations:
// PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin.

import { GantryError } from '../../domain/errors.js';
import type { SqlDialect, SqlExecutor } from './dialect.js';
import { LATEST_MIGRATION, MIGRATIONS, type Migration } from './migrations.js';

export async function applyMigrations(
  db: SqlDialect,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): Promise<{ applied: number[] }> {
  const lock = async (tx: SqlExecutor): Promise<void> => {
    if (db.migrationLockSql !== null) await tx.get(db.migrationLockSql);
  };
  const latest = Math.max(0, ...migrations.map((m) => m.id));
  const appliedIds = await db.transaction(async (tx) => {
    await lock(tx);
    await tx.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    );
    const rows = await tx.all<{ id: number | string }>('SELECT id FROM schema_migrations');
    return rows.map((r) => Number(r.id));
  });
  const applied = new Set(appliedIds);
  const newestId = appliedIds.length ? Math.max(...appliedIds) : 0;
  if (newestId > latest) {
    // An older Gantry must not write to a schema it does not know: it could break invariants
    // the newer code relies on.
    throw new GantryError(
      'GANTRY_E_STORE_TOO_NEW',
      `the database is at schema version ${newestId} but this Gantry knows only up to ${latest}; upgrade Gantry or use another database`,
    );
  }
  const done: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
    // Every migration not yet applied, even one numbered below the newest applied: branches
    // developed side by side land in any order.
    if (applied.has(m.id)) continue;
    const did = await db.transaction(async (tx) => {
      await lock(tx);
      const row = await tx.get('SELECT id FROM schema_migrations WHERE id = ?', [m.id]);
      if (row) return false;
      await tx.exec(m.sql[db.name]);
      await tx.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [m.id, m.name, now()]);
      return true;
    });
    if (did) done.push(m.id);
  }
  return { applied: done };
}

export { LATEST_MIGRATION };
