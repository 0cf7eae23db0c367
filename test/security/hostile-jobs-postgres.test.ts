// The hostile jobs (hostile-jobs-suite.ts) on PostgreSQL, in a fresh schema.

import { testPostgres } from '../helpers/postgres.js';
import { hostileJobsSuite } from './hostile-jobs-suite.js';

const postgres = await testPostgres('hostile jobs on PostgreSQL', 2);
if (postgres) {
  hostileJobsSuite('postgres', async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`);
}
