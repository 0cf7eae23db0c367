// Brings a database up to the code's schema on open. Idempotent: applied migrations are skipped,
// and the check is repeated inside each migration's transaction so two processes opening the
// same database at once apply each migration exactly once.

import { GantryError } from '../../domain/errors.js';
import type { SqlDialect } from './dialect.js';
import { LATEST_MIGRATION, MIGRATIONS, type Migration } from './migrations.js';

export async function applyMigrations(
  db: SqlDialect,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): Promise<{ applied: number[] }> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  const latest = migrations.length ? migrations[migrations.length - 1]!.id : 0;
  const newest = await db.get<{ id: number | string | null }>('SELECT MAX(id) AS id FROM schema_migrations');
  const newestId = newest?.id == null ? 0 : Number(newest.id);
  if (newestId > latest) {
    // An older Gantry must not write to a schema it does not know: it could break invariants
    // the newer code relies on.
    throw new GantryError(
      'GANTRY_E_STORE_TOO_NEW',
      `the database is at schema version ${newestId} but this Gantry knows only up to ${latest}; upgrade Gantry or use another database`,
    );
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.id <= newestId) continue;
    const did = await db.transaction(async (tx) => {
      const row = await tx.get('SELECT id FROM schema_migrations WHERE id = ?', [m.id]);
      if (row) return false;
      await tx.exec(m.sql[db.name]);
      await tx.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)', [m.id, m.name, now()]);
      return true;
    });
    if (did) applied.push(m.id);
  }
  return { applied };
}

export { LATEST_MIGRATION };
