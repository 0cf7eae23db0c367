// A job cannot take more CPU than its limit: a busy loop under `cpus: 0.2` gets about a fifth of
// a core, whatever it tries, while the same loop without a limit gets a whole one.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ProcessLauncher } from '../../src/agent/launcher/launcher.js';
import { runScript } from '../../src/agent/process-group.js';
import { stepScript } from '../../src/agent/script.js';
import { NO_LIMITS, type JobLimits } from '../../src/domain/isolation.js';
import { testSandbox } from '../helpers/sandbox-host.js';

const sandboxed = testSandbox('the sandbox against a job that spins');
if (sandboxed) {
  describe("a job's CPU limit", () => {
    const launcher = new ProcessLauncher();
    after(() => launcher.close());
    const workspace = path.join(sandboxed.home, 'builds', '0', 'spinner');
    fs.mkdirSync(workspace, { recursive: true });

    /** CPU seconds (user + system) that two busy loops got in 1.5 s of wall time, as bash's `times` counts them. */
    async function spin(limits: JobLimits): Promise<number> {
      const job = sandboxed!.isolation.forJob({ slot: 0, workspace, borrowedObjects: null, network: 'full', limits, scriptDir: path.join(sandboxed!.home, 'scripts'), trusted: true });
      try {
        job.adoptWorkspace(workspace);
        const chunks: Buffer[] = [];
        const r = await runScript({
          // Two loops: a job with a whole core each would get two; `timeout` ends them by wall clock.
          script: stepScript(["(timeout 1.5 bash -c 'while :; do :; done' & timeout 1.5 bash -c 'while :; do :; done'; wait) || true", 'times']),
          isolation: job,
          spoolPath: path.join(sandboxed!.home, `spool-${Math.random().toString(36).slice(2)}`),
          cwd: workspace,
          env: job.baseEnv,
          onOutput: (c) => chunks.push(Buffer.from(c)),
          timeoutMs: 20_000,
          graceMs: 200,
          signal: new AbortController().signal,
          launcher,
        });
        const output = Buffer.concat(chunks).toString();
        assert.equal(r.exitCode, 0, output);
        // `times` prints the shell's own times, then its children's: "0m1.234s 0m0.012s".
        const children = output.trim().split('\n').at(-1)!.match(/(\d+)m([\d.]+)s/g)!;
        return children.map((t) => Number(t.split('m')[0]) * 60 + Number(t.split('m')[1]!.slice(0, -1))).reduce((a, b) => a + b, 0);
      } finally {
        job.dispose();
      }
    }

    it('a busy loop under cpus 0.2 gets at most about a fifth of a core; without a limit it gets far more', async () => {
      const limited = await spin({ ...NO_LIMITS, cpus: 0.2 });
      const free = await spin(NO_LIMITS);
      // 1.5 s at 0.2 CPU is 0.3 CPU seconds; the quota is enforced per 100 ms period, so allow a little.
      assert.ok(limited <= 0.45, `the limited job got ${limited.toFixed(2)} CPU seconds in 1.5 s`);
      assert.ok(free >= 0.9, `the unlimited job got only ${free.toFixed(2)} CPU seconds in 1.5 s`);
    });
  });
}
