// A `gantry run` pipeline's log, written by the CLI's process into the home's file log store, is
// streamed live by a server on the same home, like a fleet job's.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { GANTRY_BIN, sandbox } from '../helpers/gantry.js';
import { startHarness } from '../server/harness.js';
import { viewLog } from './log-harness.js';

describe('the live stream of a gantry run pipeline', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('a viewer sees the local job print live, byte for byte, then its end', async () => {
    const sb = sandbox({ '.gantry.yml': "local:\n  script:\n    - 'for i in $(seq 1 20); do echo \"local $i\"; printf \"\\000\\377\\n\"; sleep 0.05; done'\n" });
    cleanups.push(() => sb.cleanup());
    const h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    cleanups.push(() => h.close());
    const run = spawn(process.execPath, [GANTRY_BIN, 'run', '--quiet'], { cwd: sb.repo, env: { ...process.env, GANTRY_HOME: h.home }, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)));
    // Wait for the job to exist, then watch it while it runs.
    let jobId = 0;
    for (let i = 0; i < 400 && !jobId; i++) {
      const [p] = (await h.store.listPipelines({ limit: 1 })).items;
      if (p) jobId = (await h.store.getPipeline(p.id))!.jobs[0]?.id ?? 0;
      if (!jobId) await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(jobId, 'gantry run created its pipeline');
    const v = viewLog(h, jobId);
    await v.until(() => v.bytes.includes('local 3\n'), 'the first lines while the job runs');
    assert.equal(v.closed, false);
    await v.until(() => v.closed, 'the end', 30_000);
    assert.equal(await exited, 0);
    assert.equal(v.end!.status, 'success');
    const whole = Buffer.from(await (await h.api('GET', `/jobs/${jobId}/log`)).arrayBuffer());
    assert.ok(v.bytes.equals(whole), 'the stream is the stored log');
    assert.match(whole.toString('latin1'), /local 20\n\x00\xff\n/);
  });
});
