// Retention's store contract (retention-contract.ts) on PostgreSQL, each test in a fresh schema;
// and two instances (two pools on one schema) claiming a collection at once.

import { after } from 'node:test';
import { PostgresDialect } from '../../src/store/postgres/postgres-dialect.js';
import { SqlStore } from '../../src/store/sql/sql-store.js';
import { PG_URL, testPostgres } from '../helpers/postgres.js';
import { runRetentionContract, type RetentionWorld } from './retention-contract.js';

const postgres = await testPostgres('retention on PostgreSQL');
if (postgres) {
  const opened: PostgresDialect[] = [];
  const schemaOf = new WeakMap<RetentionWorld, string>();
  after(async () => {
    for (const db of opened) await db.close().catch(() => undefined);
  });
  const dialect = (schema: string) => {
    const db = new PostgresDialect(PG_URL, { schema, maxConnections: 4 });
    opened.push(db);
    return db;
  };
  runRetentionContract(
    'postgres',
    async () => {
      const schema = await postgres.freshSchema();
      const db = dialect(schema);
      const w = { store: await SqlStore.open(db), db };
      schemaOf.set(w, schema);
      return w;
    },
    async (first) => SqlStore.open(dialect(schemaOf.get(first)!)),
  );
}
