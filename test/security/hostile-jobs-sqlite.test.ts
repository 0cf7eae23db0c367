// The hostile jobs (hostile-jobs-suite.ts) on SQLite.

import { hostileJobsSuite } from './hostile-jobs-suite.js';

hostileJobsSuite('sqlite', async () => null);
