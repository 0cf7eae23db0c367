// What demanding pipelines do to `gantry run`: output without a final newline, megabytes of
// progress bar on one line, a shell killed by a signal, a daemon that escapes its job.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { gantry, logsOf, runJson, withSandbox } from '../helpers/gantry.js';

describe('gantry run: edge cases of real pipelines', () => {
  it('puts the agent\'s lines on a line of their own after output without a final newline', async () => {
    await withSandbox(
      {
        '.gantry.yml': `half:
  script:
    - printf 'no newline'; exit 4
  after_script:
    - printf 'after, no newline'
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.job('half').exitCode, 4);
        const log = await logsOf(sb, r.pipeline.id, 'half');
        assert.match(log, /no newline\n/);
        assert.match(log, /after, no newline\n/);
        const shown = await gantry(sb, ['run'], { NO_COLOR: '1' });
        assert.match(shown.out, /^half +│ no newline$/m);
        assert.match(shown.out, /^half +│ ERROR: Job failed: exit code 4$/m);
      },
    );
  });

  it('shows megabytes of \\r progress on one line without stalling other jobs\' timeouts', async () => {
    await withSandbox(
      {
        // ~54 MB of progress frames over about 3 s, never a newline until the end: the 1 s
        // timeout of the other job must fire while they stream, not after.
        '.gantry.yml': `progress:
  script:
    - for i in $(seq 1 30); do head -c 1800000 /dev/zero | tr '\\0' 'x' | sed 's/x\\{60\\}/progress 42% ......................................\\r/g'; sleep 0.1; done; echo; echo done
quick-timeout:
  timeout: 1s
  script:
    - sleep 20
`,
      },
      async (sb) => {
        const started = Date.now();
        const r = await gantry(sb, ['run'], { NO_COLOR: '1' });
        assert.equal(r.code, 1, r.stderr);
        const seconds = (re: RegExp) => {
          const m = re.exec(r.out);
          assert.ok(m, `${re} in ${r.out.slice(-2000)}`);
          return m[2] === 'ms' ? Number(m[1]) / 1000 : Number(m[1]);
        };
        const timedOut = seconds(/quick-timeout +│ ⏱ timed_out in ([\d.]+)(m?s)/);
        const progress = seconds(/progress +│ ✓ success in ([\d.]+)(m?s)/);
        // On time: 1.0 s on a quiet machine; the bound leaves room for a loaded one (the event
        // loop that reads the progress is the one that fires the timeout).
        assert.ok(timedOut >= 1 && timedOut < 2.5, `the 1 s timeout fired after ${timedOut} s`);
        assert.ok(progress > timedOut, `the progress (${progress} s) was still streaming when the timeout fired (${timedOut} s)`);
        assert.match(r.out, /^progress +│ progress 42% \.+$/m, 'the progress line shows its last frame');
        assert.match(r.out, /^progress +│ done$/m);
        assert.ok(Date.now() - started < 20_000);
      },
    );
  });

  it('reports a shell killed by a signal with the exit code a shell would give (137 for SIGKILL)', async () => {
    await withSandbox(
      {
        '.gantry.yml': `killed:
  script:
    - kill -9 $$
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.job('killed').status, 'failed');
        assert.equal(r.job('killed').failureReason, 'script_failure');
        assert.equal(r.job('killed').exitCode, 137);
      },
    );
  });

  it('keeps a daemon that escaped its job (setsid) out of the next job\'s log in the same slot', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [one, two]
starts-daemon:
  stage: one
  script:
    - setsid bash -c 'sleep 0.4; echo LEAKED-FROM-DAEMON' &
    - sleep 0.1
next:
  stage: two
  script:
    - sleep 0.8; echo next done
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '1']);
        assert.equal(r.pipeline.status, 'success');
        const log = await logsOf(sb, r.pipeline.id, 'next');
        assert.match(log, /^next done$/m);
        assert.doesNotMatch(log, /LEAKED-FROM-DAEMON/);
        // Only the spool is made anew: the workspace cleanup's `rm` writes to /dev/null, which must stay a device.
        assert.ok(fs.statSync('/dev/null').isCharacterDevice());
      },
    );
  });
});
