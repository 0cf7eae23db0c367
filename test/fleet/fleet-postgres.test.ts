// The fleet suite (fleet-suite.ts) on PostgreSQL, each test in a fresh schema.

import { testPostgres } from '../helpers/postgres.js';
import { fleetSuite } from './fleet-suite.js';

const postgres = await testPostgres('the fleet on PostgreSQL', 2);
if (postgres) {
  fleetSuite('postgres', async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`);
}
