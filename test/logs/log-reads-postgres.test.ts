// Reading logs on PostgreSQL (log-reads-suite.ts).

import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { testPostgres } from '../helpers/postgres.js';
import { readsSuite } from './log-reads-suite.js';

const pgTest = await testPostgres('reading logs on PostgreSQL');
if (pgTest) readsSuite('PostgreSQL', async () => async () => openPostgresStore(pgTest.url, { schema: await pgTest.freshSchema() }));
