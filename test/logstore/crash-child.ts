// Appends the deterministic stream of helpers.ts to one log until killed, syncing now and then
// and reporting each durable size on stdout. Run by the crash test.
import fs from 'node:fs';
import { FileLogStore } from '../../src/logstore/file-log-store.js';
import { chunkOf } from './helpers.js';

const [root, seedArg] = process.argv.slice(2);
const seed = Number(seedArg);
const store = new FileLogStore(root!);
const w = store.openWriter({ pipelineId: 1, jobId: 1, attempt: 1 });
fs.writeSync(1, 'ready\n');
for (let k = 0; ; k++) {
  w.append(chunkOf(seed, k), 1_700_000_000_000 + k);
  if (k % 7 === 6) fs.writeSync(1, `synced ${w.sync()}\n`);
}
