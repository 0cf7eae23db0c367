// Job identity tokens on a SQLite server (id-tokens-suite.ts).
import { idTokenSuite } from './id-tokens-suite.js';

idTokenSuite('SQLite', async () => null);
