// The fleet suite (fleet-suite.ts) on SQLite.

import { fleetSuite } from './fleet-suite.js';

fleetSuite('sqlite', async () => null);
