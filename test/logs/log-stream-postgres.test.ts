// The live log stream on PostgreSQL, with a second instance for the cross-instance view (log-stream-suite.ts).

import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { testPostgres } from '../helpers/postgres.js';
import { streamSuite } from './log-stream-suite.js';

const pgTest = await testPostgres('live log stream on PostgreSQL');
if (pgTest) {
  // Both instances of the cross-instance test open the same schema.
  const schema = await pgTest.freshSchema();
  streamSuite('PostgreSQL, two instances', async () => () => openPostgresStore(pgTest.url, { schema }), { twoInstances: true });
}
