// The gates on a PostgreSQL server (gates-suite.ts).
import { testPostgres } from '../helpers/postgres.js';
import { gatesSuite } from './gates-suite.js';

const postgres = await testPostgres('the gates on PostgreSQL', 2);
if (postgres) gatesSuite('PostgreSQL', async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`);
