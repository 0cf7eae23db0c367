// Reading logs on SQLite (log-reads-suite.ts).

import path from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { readsSuite } from './log-reads-suite.js';

readsSuite('SQLite', async () => (home) => openSqliteStore(path.join(home, 'gantry.db')));
