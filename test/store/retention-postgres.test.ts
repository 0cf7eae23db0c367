// Retention's store contract (retention-contract.ts) on PostgreSQL, each test in a fresh schema;
// and two instances (two pools on one schema) claiming a collection at once.

import { contractStores, testPostgres } from '../helpers/postgres.js';
import { runRetentionContract } from './retention-contract.js';

const postgres = await testPostgres('retention on PostgreSQL');
if (postgres) {
  const stores = contractStores(postgres);
  runRetentionContract('postgres', () => stores.open(), (first) => stores.beside(first));
}
