// The live log stream on SQLite (log-stream-suite.ts).

import path from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { streamSuite } from './log-stream-suite.js';

streamSuite('SQLite', async () => (home) => openSqliteStore(path.join(home, 'gantry.db')));
