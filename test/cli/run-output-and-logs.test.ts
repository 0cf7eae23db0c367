// What `gantry run` prints without a TTY (every job line prefixed by the job's name, every
// command echoed as `$ command`, no escape sequences) and what `gantry logs` gives back: the
// script's bytes, exactly, binary or not, read from the store by a later process.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gantry, logBytes, logsOf, runJson, withSandbox } from '../helpers/gantry.js';

/** Output no text decoder may be trusted with: NUL, invalid UTF-8, CR progress bars, a 1 MB line. */
function nastyBytes(): Buffer {
  return Buffer.concat([
    Buffer.from('begin\n'),
    Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe, 0x63, 0x0a]),
    Buffer.from('progress  0%\rprogress 50%\rprogress 100%\n'),
    Buffer.from('caf\xc3\xa9 \xe2\x9c\x93 half a char: \xe2\x9c\n', 'latin1'),
    Buffer.alloc(1024 * 1024, 'y'),
    Buffer.from('\nno newline at the end'),
  ]);
}

describe('gantry run: output and logs', () => {
  it('prefixes every job line with the job name and echoes every command as `$ command`', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [a, b]
first:
  stage: a
  script:
    - echo one-from-first
    - echo two-from-first
second-job:
  stage: b
  before_script:
    - echo from-before
  script:
    - echo "quoted \\"arg\\"" && echo and-more
`,
      },
      async (sb) => {
        const r = await gantry(sb, ['run']);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.out.split('\n');
        const lineOf = (text: string) => lines.find((l) => l.endsWith(text));
        for (const [job, text] of [
          ['first', 'one-from-first'],
          ['first', 'two-from-first'],
          ['first', '$ echo one-from-first'],
          ['second-job', 'from-before'],
          ['second-job', '$ echo from-before'],
          ['second-job', '$ echo "quoted \\"arg\\"" && echo and-more'],
          ['second-job', 'quoted "arg"'],
          ['second-job', 'and-more'],
        ] as const) {
          const line = lineOf(text);
          assert.ok(line, `no line ending in ${JSON.stringify(text)} in:\n${r.out}`);
          assert.ok(new RegExp(`^${job}\\s+│ `).test(line), `line not prefixed by ${job}: ${JSON.stringify(line)}`);
        }
        // The job-output part (before the summary) has no unprefixed line.
        const body = r.out.slice(0, r.out.indexOf('\n\n'));
        for (const l of body.split('\n').slice(1)) assert.match(l, /^(first|second-job)\s+│ /, `unprefixed line ${JSON.stringify(l)}`);
        assert.match(r.out, /Pipeline #\d+ success/);
      },
    );
  });

  it('shows a failing job on stdout with its name and exit code, and exits 1', async () => {
    await withSandbox({ '.gantry.yml': 'broken:\n  script:\n    - echo about to fail\n    - exit 42\n' }, async (sb) => {
      const r = await gantry(sb, ['run']);
      assert.equal(r.code, 1);
      assert.match(r.out, /^broken\s+│ about to fail$/m);
      assert.match(r.out, /exit code 42/);
      assert.match(r.out, /Pipeline #\d+ failed/);
    });
  });

  it('prints no escape sequences without a TTY, with or without NO_COLOR', async () => {
    await withSandbox(
      { '.gantry.yml': 'stages: [a, b]\nok:\n  stage: a\n  script: echo fine\nbad:\n  stage: b\n  script: exit 1\n  allow_failure: true\nmanual:\n  stage: b\n  when: manual\n  script: "true"\n' },
      async (sb) => {
        for (const env of [{}, { NO_COLOR: '1' }] as Record<string, string>[]) {
          const r = await gantry(sb, ['run'], env);
          assert.equal(r.code, 0, r.stderr);
          assert.ok(!r.out.includes('\x1b'), `escape sequence on stdout (env ${JSON.stringify(env)}):\n${JSON.stringify(r.out)}`);
          assert.ok(!r.stderr.includes('\x1b'), `escape sequence on stderr: ${JSON.stringify(r.stderr)}`);
          const p = await gantry(sb, ['pipelines'], env);
          assert.ok(!p.out.includes('\x1b'), 'escape sequence in `gantry pipelines`');
        }
      },
    );
  });

  it('NO_COLOR=1 keeps escape sequences out of `gantry run` output even with --json on stderr', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script: echo hi\n' }, async (sb) => {
      const r = await runJson(sb, [], { NO_COLOR: '1' });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stderr.includes('\x1b'), JSON.stringify(r.stderr));
      assert.match(r.stderr, /^job\s+│ hi$/m);
    });
  });

  it('`gantry logs` returns the bytes the script printed, byte for byte: NUL, invalid UTF-8, \\r, a 1 MB line', async () => {
    await withSandbox({ '.gantry.yml': 'binary:\n  script:\n    - cat payload.bin\n    - echo\n    - echo done-after-payload\n' }, async (sb) => {
      const payload = nastyBytes();
      fs.writeFileSync(path.join(sb.repo, 'payload.bin'), payload);
      const r = await runJson(sb, ['--quiet']);
      assert.equal(r.code, 0, r.stderr);
      const log = await logBytes(sb, r.pipeline.id, 'binary');
      const at = log.indexOf(payload);
      assert.ok(at !== -1, `the payload is not in the log byte for byte (log is ${log.length} bytes)`);
      // What follows is the next command (echoed as GitLab does) and its output.
      const rest = log.subarray(at + payload.length).toString();
      assert.match(rest, /\$ echo done-after-payload/);
      assert.match(rest, /^done-after-payload$/m);
      assert.equal(log.indexOf(payload, at + 1), -1, 'the payload is in the log twice');
    });
  });

  it('keeps the logs of every job and attempt readable by later processes, after other pipelines ran', async () => {
    await withSandbox(
      { '.gantry.yml': 'job:\n  script: echo "run of pipeline $CI_PIPELINE_ID"\nfails:\n  script:\n    - echo "failing in $CI_PIPELINE_ID"\n    - exit 1\n  allow_failure: true\n' },
      async (sb) => {
        const first = await runJson(sb);
        const second = await runJson(sb);
        assert.notEqual(first.pipeline.id, second.pipeline.id);
        // Each `gantry logs` is a new process opening the store again.
        assert.match(await logsOf(sb, first.pipeline.id, 'job'), new RegExp(`^run of pipeline ${first.pipeline.id}$`, 'm'));
        assert.match(await logsOf(sb, second.pipeline.id, 'job'), new RegExp(`^run of pipeline ${second.pipeline.id}$`, 'm'));
        assert.match(await logsOf(sb, first.pipeline.id, 'fails'), new RegExp(`^failing in ${first.pipeline.id}$`, 'm'));
        assert.deepEqual(await logBytes(sb, first.pipeline.id, 'job'), await logBytes(sb, first.pipeline.id, 'job'));
      },
    );
  });

  it('finds a `parallel` job by its full name in `gantry logs`', async () => {
    await withSandbox({ '.gantry.yml': 'shard:\n  parallel: 2\n  script: echo "I am $CI_NODE_INDEX"\n' }, async (sb) => {
      const r = await runJson(sb);
      assert.match(await logsOf(sb, r.pipeline.id, 'shard 2/2'), /^I am 2$/m);
      assert.match(await logsOf(sb, r.pipeline.id, 'shard 1/2'), /^I am 1$/m);
    });
  });

  it("`gantry logs` of a job that never ran, or of an attempt it does not have, is a clear not-found error", async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script: "true"\nlater:\n  when: manual\n  script: "true"\n' }, async (sb) => {
      const r = await runJson(sb);
      const never = await gantry(sb, ['logs', String(r.pipeline.id), 'later']);
      assert.equal(never.code, 3);
      assert.match(never.stderr, /later/);
      const noAttempt = await gantry(sb, ['logs', String(r.pipeline.id), 'job', '--attempt', '2']);
      assert.equal(noAttempt.code, 3);
      assert.match(noAttempt.stderr, /attempt/);
      const noJob = await gantry(sb, ['logs', String(r.pipeline.id), 'nope']);
      assert.equal(noJob.code, 3);
      assert.match(noJob.stderr, /nope/);
    });
  });
  it('echoes a multi-line command by its first line, as GitLab does, and runs all of it', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script:\n    - |\n      echo line-one\n      echo line-two\n' }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.code, 0, r.stderr);
      const log = await logsOf(sb, r.pipeline.id, 'job');
      assert.match(log, /\$ echo line-one # collapsed multi-line command/);
      assert.match(log, /^line-one$/m);
      assert.match(log, /^line-two$/m);
    });
  });

  it('--quiet shows job states and the summary, not job output', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script: echo should-not-show\n' }, async (sb) => {
      const r = await gantry(sb, ['run', '--quiet']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.out, /should-not-show/);
      assert.match(r.out, /Pipeline #\d+ success/);
      const p = Number(/Pipeline #(\d+)/.exec(r.out)![1]);
      assert.match(await logsOf(sb, p, 'job'), /^should-not-show$/m);
    });
  });
  it('puts what a script writes to stderr into its log and its prefixed output', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script:\n    - echo to-stdout\n    - echo to-stderr >&2\n' }, async (sb) => {
      const r = await gantry(sb, ['run']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.out, /^job\s+│ to-stderr$/m);
      const p = Number(/Pipeline #(\d+)/.exec(r.out)![1]);
      const log = await logsOf(sb, p, 'job');
      assert.ok(log.indexOf('to-stdout\n') < log.indexOf('to-stderr\n'), 'stdout and stderr out of order');
      const zero = await gantry(sb, ['logs', String(p), 'job', '--attempt', '0']);
      assert.equal(zero.code, 2);
    });
  });
});
