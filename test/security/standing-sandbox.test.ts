// A slot's sandbox stands from one job to the next while they need the same view (the same
// project's workspace, network and trust): what one job leaves in it must not reach the next,
// and a job that needs another view must not get this one.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ProcessLauncher } from '../../src/agent/launcher/launcher.js';
import { runScript } from '../../src/agent/process-group.js';
import { stepScript } from '../../src/agent/script.js';
import type { JobIsolation, JobIsolationRequest } from '../../src/agent/isolation.js';
import { NO_LIMITS } from '../../src/domain/isolation.js';
import { testSandbox } from '../helpers/sandbox-host.js';

const sandboxed = testSandbox('the standing sandbox between jobs');
if (sandboxed) {
  describe("a slot's standing sandbox between jobs", () => {
    const launcher = new ProcessLauncher();
    after(() => launcher.close());
    const workspace = (project: string) => path.join(sandboxed.home, 'builds', '0', project);

    async function job(r: Partial<JobIsolationRequest> & { project: string }, lines: string[]): Promise<string> {
      const ws = workspace(r.project);
      fs.mkdirSync(ws, { recursive: true });
      const isolation: JobIsolation = sandboxed!.isolation.forJob({
        slot: 0,
        workspace: ws,
        borrowedObjects: null,
        network: r.network ?? 'full',
        limits: NO_LIMITS,
        scriptDir: path.join(sandboxed!.home, 'scripts'),
        trusted: r.trusted ?? true,
      });
      const chunks: Buffer[] = [];
      try {
        isolation.adoptWorkspace(ws);
        const result = await runScript({
          script: stepScript(lines),
          isolation,
          spoolPath: path.join(sandboxed!.home, 'spool'),
          cwd: ws,
          env: { ...isolation.baseEnv, CI_PROJECT_DIR: ws },
          onOutput: (c) => chunks.push(Buffer.from(c)),
          timeoutMs: 20_000,
          graceMs: 200,
          signal: new AbortController().signal,
          launcher,
        });
        const output = Buffer.concat(chunks).toString();
        assert.equal(result.exitCode, 0, output);
        return output;
      } finally {
        isolation.dispose();
      }
    }

    /** The job's PID namespace: one per sandbox. */
    const NAMESPACE = 'echo "NS $(readlink /proc/self/ns/pid)"';
    const namespaceOf = (output: string) => /^NS (pid:\[\d+\])$/m.exec(output)?.[1] ?? assert.fail(`no namespace in:\n${output}`);

    it("the project's next job runs in the same sandbox and finds nothing the last one left: its /tmp, its home, its processes are gone", async () => {
      const first = await job({ project: 'a' }, [
        NAMESPACE,
        'echo secret > /tmp/left-in-tmp && mkdir -p /tmp/dir && echo secret > /tmp/dir/f && echo secret > "$HOME/left-in-home"',
        'chmod 0777 /tmp "$HOME"',
        '(setsid sleep 300 >/dev/null 2>&1 &)',
        'sleep 300 >/dev/null 2>&1 &',
      ]);
      const second = await job({ project: 'a' }, [
        NAMESPACE,
        'echo "TMP $(ls -A /tmp | tr "\\n" " ")"',
        'echo "HOME $(ls -A "$HOME" | tr "\\n" " ")"',
        'echo "MODES $(stat -c %a /tmp "$HOME" | tr "\\n" " ")"',
        'n=0; for d in /proc/[0-9]*; do [ "$(stat -c %u "$d")" = "$(id -u)" ] && grep -q "^sleep" "$d/cmdline" 2>/dev/null && n=$((n+1)); done; echo "SLEEPERS $n"',
      ]);
      assert.equal(namespaceOf(second), namespaceOf(first), 'the same sandbox');
      // The workspace of the job under /tmp (the agent home is a temp directory) is a mount point: its first directory stays.
      const mountRoot = workspace('a').split('/')[2]!;
      assert.match(second, new RegExp(`^TMP (${mountRoot} )?$`, 'm'), second);
      assert.match(second, /^HOME $/m, second);
      assert.match(second, /^MODES 700 700 $/m, second);
      assert.match(second, /^SLEEPERS 0$/m, second);
    });

    it('a job that leaves SysV IPC objects (they outlive its processes) has the next job of its project in a new sandbox, where they are not', async () => {
      const first = await job({ project: 'a' }, [NAMESPACE, 'ipcmk -Q >/dev/null && ipcmk -M 4096 >/dev/null && echo "QUEUES $(ipcs -q | grep -c 0x)"']);
      assert.match(first, /^QUEUES 1$/m, first);
      const second = await job({ project: 'a' }, [NAMESPACE, 'echo "LEFT $(ipcs -q -m | grep -c 0x)"']);
      assert.notEqual(namespaceOf(second), namespaceOf(first));
      assert.match(second, /^LEFT 0$/m, second);
    });

    it("another project's job in the slot gets a sandbox of its own, and so does a pipeline from a fork of the same project", async () => {
      const a = namespaceOf(await job({ project: 'a' }, [NAMESPACE]));
      const b = namespaceOf(await job({ project: 'b' }, [NAMESPACE, 'test ! -e "$CI_PROJECT_DIR/../a" && echo "A is out of sight"']));
      assert.notEqual(b, a);
      const fork = namespaceOf(await job({ project: 'b', trusted: false }, [NAMESPACE]));
      assert.notEqual(fork, b);
      const none = namespaceOf(await job({ project: 'b', trusted: false, network: 'none' }, [NAMESPACE]));
      assert.notEqual(none, fork);
      const again = namespaceOf(await job({ project: 'b', trusted: false, network: 'none' }, [NAMESPACE]));
      assert.equal(again, none, 'the same view again: the same sandbox');
    });
  });
}
