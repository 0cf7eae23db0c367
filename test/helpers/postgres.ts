// The PostgreSQL that tests use: GANTRY_TEST_PG, or the local one. When it cannot be reached,
// the suite is skipped with the reason printed, except in CI (CI=true), where that is a failure.
// Each test store lives in a fresh schema, dropped when the file's tests end.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, it } from 'node:test';
import pg from 'pg';
import { PostgresDialect } from '../../src/store/postgres/postgres-dialect.js';
import { SqlStore } from '../../src/store/sql/sql-store.js';

export const PG_URL = process.env.GANTRY_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestPostgres {
  url: string;
  /** A pool for the test's own queries (creating schemas, looking at tables). */
  admin: pg.Pool;
  /** A new empty schema, dropped after the file's tests. */
  freshSchema(): Promise<string>;
}

/** The test PostgreSQL, or null when it cannot be reached (a skip or, under CI, a failure is registered). */
export async function testPostgres(suite: string, maxConnections = 3): Promise<TestPostgres | null> {
  const admin = new pg.Pool({ connectionString: PG_URL, max: maxConnections, connectionTimeoutMillis: 3_000 });
  admin.on('error', () => undefined);
  try {
    await admin.query('SELECT 1');
  } catch (e) {
    await admin.end();
    const reason = `PostgreSQL not reachable at ${PG_URL}: ${e instanceof Error ? e.message : String(e)}`;
    if (process.env.CI === 'true') {
      it(`PostgreSQL is reachable (CI=true: ${suite} must run)`, () => assert.fail(`${reason}; set GANTRY_TEST_PG`));
    } else {
      console.log(`# skipping ${suite}: ${reason}`);
      it(suite, { skip: reason }, () => undefined);
    }
    return null;
  }
  const schemas: string[] = [];
  after(async () => {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.end();
  });
  return {
    url: PG_URL,
    admin,
    async freshSchema() {
      const schema = `gantry_test_${randomBytes(6).toString('hex')}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      schemas.push(schema);
      return schema;
    },
  };
}

/**
 * Stores on `postgres` for a contract suite: `open` gives each test a fresh schema (a store and
 * its dialect, for rows no API makes), `beside` a second store on the first one's schema, as a
 * second server instance would have. Every dialect is closed when the file's tests end.
 */
export function contractStores(postgres: TestPostgres) {
  const opened: PostgresDialect[] = [];
  const schemaOf = new WeakMap<object, string>();
  after(async () => {
    for (const db of opened) await db.close().catch(() => undefined);
  });
  const dialect = (schema: string) => {
    const db = new PostgresDialect(PG_URL, { schema, maxConnections: 4 });
    opened.push(db);
    return db;
  };
  return {
    async open() {
      const schema = await postgres.freshSchema();
      const db = dialect(schema);
      const w = { store: await SqlStore.open(db), db };
      schemaOf.set(w, schema);
      return w;
    },
    beside: async (first: object) => SqlStore.open(dialect(schemaOf.get(first)!)),
  };
}
