// The gates on a SQLite server (gates-suite.ts).
import { gatesSuite } from './gates-suite.js';

gatesSuite('SQLite', async () => null);
