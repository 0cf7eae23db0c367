// A job's /tmp lasts from one step to the next (script, then after_script) and, while the slot's
// sandbox stands, from one job of the project to the next; the mount points of a workspace below
// /tmp are made inside it: bubblewrap, as root, makes the directories leading to the workspace
// there when it builds the sandbox. A hostile step may move those directories away and leave
// symlinks into the host in their place (bubblewrap sees the host's root at /oldroot while it
// builds a view); neither the job's next step nor the slot's next job may create anything on the
// host through them, and both must run in the real workspace.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ProcessLauncher } from '../../src/agent/launcher/launcher.js';
import { runScript } from '../../src/agent/process-group.js';
import { stepScript } from '../../src/agent/script.js';
import type { JobIsolation } from '../../src/agent/isolation.js';
import { NO_LIMITS } from '../../src/domain/isolation.js';
import { testSandbox } from '../helpers/sandbox-host.js';

const sandboxed = testSandbox('the sandbox against a symlinked mount point in /tmp');
if (sandboxed) {
  describe('a job step that plants symlinks in its /tmp for the next step', () => {
    const launcher = new ProcessLauncher();
    after(() => launcher.close());
    // The workspace below /tmp, as an agent whose home is there has it (the agent home is a temp directory).
    const workspace = path.join(sandboxed.home, 'builds', '0', 'hostile');
    const target = path.join(sandboxed.home, 'host-target');

    async function step(job: JobIsolation, lines: string[]): Promise<{ output: string; exitCode: number | null }> {
      const chunks: Buffer[] = [];
      const r = await runScript({
        script: stepScript(lines),
        isolation: job,
        spoolPath: path.join(sandboxed!.home, `spool-${Math.random().toString(36).slice(2)}`),
        cwd: workspace,
        env: { ...job.baseEnv, CI_PROJECT_DIR: workspace, TARGET: target },
        onOutput: (c) => chunks.push(Buffer.from(c)),
        timeoutMs: 20_000,
        graceMs: 200,
        signal: new AbortController().signal,
        launcher,
      });
      return { output: Buffer.concat(chunks).toString(), exitCode: r.exitCode };
    }

    const plantings: [string, string[]][] = [
      ['the top directory replaced by a symlink into the host', ['mv "/tmp/$top" /tmp/moved-away && ln -s "/oldroot$TARGET" "/tmp/$top" && echo "ATTACK planted /tmp/$top -> /oldroot$TARGET"']],
      [
        'a directory of its own in its place, a symlink below it',
        ['mv "/tmp/$top" /tmp/moved-away && mkdir "/tmp/$top" && ln -s "/oldroot$TARGET" "/tmp/$top/builds" && echo "ATTACK planted /tmp/$top/builds -> /oldroot$TARGET"'],
      ],
    ];
    for (const [how, lines] of plantings) {
      it(`${how}: the next step creates nothing on the host through it, and runs in the real workspace`, async () => {
        fs.mkdirSync(workspace, { recursive: true });
        fs.writeFileSync(path.join(workspace, 'mine'), 'the real workspace\n');
        // An empty root-owned directory of the host the job can neither write nor see.
        fs.rmSync(target, { recursive: true, force: true });
        fs.mkdirSync(target, { mode: 0o755 });
        const job = sandboxed!.isolation.forJob({ slot: 0, workspace, borrowedObjects: null, network: 'full', limits: NO_LIMITS, scriptDir: path.join(sandboxed!.home, 'scripts'), trusted: true });
        try {
          job.adoptWorkspace(workspace);
          // /tmp/<first component of the workspace below /tmp>: a directory bubblewrap made in the job's /tmp.
          const first = await step(job, ['top=$(printf %s "$CI_PROJECT_DIR" | cut -d/ -f3)', ...lines]);
          const second = await step(job, ['cat "$CI_PROJECT_DIR/mine"', 'echo "second step ran"']);
          const created = fs.readdirSync(target);
          assert.deepEqual(created, [], `the second step created ${created.join(', ')} on the host as root in ${target}\nfirst step:\n${first.output}\nsecond step:\n${second.output}`);
          assert.match(first.output, /ATTACK planted/, first.output);
          assert.equal(second.exitCode, 0, second.output);
          assert.match(second.output, /the real workspace/);
          // And again, by the slot's next job: the step plants, the job ends, the next one runs.
          await step(job, ['top=$(printf %s "$CI_PROJECT_DIR" | cut -d/ -f3)', ...lines]);
        } finally {
          job.dispose();
        }
        const next = sandboxed!.isolation.forJob({ slot: 0, workspace, borrowedObjects: null, network: 'full', limits: NO_LIMITS, scriptDir: path.join(sandboxed!.home, 'scripts'), trusted: true });
        try {
          const third = await step(next, ['cat "$CI_PROJECT_DIR/mine"', 'echo "next job ran"']);
          assert.deepEqual(fs.readdirSync(target), [], 'the next job created nothing on the host');
          assert.equal(third.exitCode, 0, third.output);
          assert.match(third.output, /the real workspace/);
        } finally {
          next.dispose();
        }
      });
    }
  });
}
