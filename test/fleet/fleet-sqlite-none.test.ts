// The fleet suite (fleet-suite.ts) on SQLite with agents that do not isolate jobs (--isolation
// none): pipelines must behave the same at both levels.

import { fleetSuite } from './fleet-suite.js';

fleetSuite('sqlite', async () => null, 'none');
