// The compute ledger's contract (ledger-contract.ts) on PostgreSQL, each test in a fresh schema;
// and two instances (two pools on one schema) dispatching a project's last minutes at once.

import { contractStores, testPostgres } from '../helpers/postgres.js';
import { runLedgerContract } from './ledger-contract.js';

const postgres = await testPostgres('the compute ledger on PostgreSQL');
if (postgres) {
  const stores = contractStores(postgres);
  runLedgerContract('postgres', () => stores.open(), (first) => stores.beside(first));
}
