// Prints API.md's role table from the routes' own declarations (`x-gantry-access` in the OpenAPI
// document of a server built in memory), so the table is generated, never written by hand:
//   npm run build && node scripts/role-table.mjs
// test/server/roles-and-tokens.test.ts checks that docs/API.md holds exactly this table.
import { roleTable } from '../dist/test/server/role-table.js';

process.stdout.write(await roleTable());
