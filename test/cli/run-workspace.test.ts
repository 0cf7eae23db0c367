// What a job's workspace holds: the working tree by default (uncommitted and untracked files, not
// ignored ones), exactly the commit with --commit; a fresh copy for every job, as GitLab's clean
// checkout is; a real git checkout of the pipeline's commit.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { logsOf, printedVars, runJson, withSandbox } from '../helpers/gantry.js';

const PROBE = `probe:
  script:
    - echo "TRACKED=$(cat tracked.txt)"
    - if [ -e untracked.txt ]; then echo "UNTRACKED=present"; else echo "UNTRACKED=absent"; fi
    - if [ -e ignored.txt ]; then echo "IGNORED=present"; else echo "IGNORED=absent"; fi
    - if [ -e deleted.txt ]; then echo "DELETED=present"; else echo "DELETED=absent"; fi
`;

describe('gantry run: workspace', () => {
  it('runs the working tree by default: uncommitted and untracked files in, ignored and deleted files out', async () => {
    await withSandbox({ '.gantry.yml': PROBE, 'tracked.txt': 'committed\n', 'deleted.txt': 'x\n', '.gitignore': 'ignored.txt\n' }, async (sb) => {
      sb.write('tracked.txt', 'changed\n');
      sb.write('untracked.txt', 'new\n');
      sb.write('ignored.txt', 'ignored\n');
      sb.git('rm', '-q', 'deleted.txt');
      const r = await runJson(sb);
      assert.equal(r.code, 0, r.stderr);
      const v = printedVars(await logsOf(sb, r.pipeline.id, 'probe'));
      assert.deepEqual(v, { TRACKED: 'changed', UNTRACKED: 'present', IGNORED: 'absent', DELETED: 'absent' });
    });
  });

  it('runs exactly the commit with --commit', async () => {
    await withSandbox({ '.gantry.yml': PROBE, 'tracked.txt': 'committed\n', 'deleted.txt': 'x\n', '.gitignore': 'ignored.txt\n' }, async (sb) => {
      sb.write('tracked.txt', 'changed\n');
      sb.write('untracked.txt', 'new\n');
      sb.write('ignored.txt', 'ignored\n');
      sb.git('rm', '-q', 'deleted.txt');
      const r = await runJson(sb, ['--commit']);
      assert.equal(r.code, 0, r.stderr);
      const v = printedVars(await logsOf(sb, r.pipeline.id, 'probe'));
      assert.deepEqual(v, { TRACKED: 'committed', UNTRACKED: 'absent', IGNORED: 'absent', DELETED: 'present' });
    });
  });

  it('reads the pipeline file from the working tree by default and from the commit with --commit', async () => {
    await withSandbox({ '.gantry.yml': 'committed-job:\n  script: "true"\n' }, async (sb) => {
      sb.write('.gantry.yml', 'working-tree-job:\n  script: "true"\n');
      assert.deepEqual((await runJson(sb)).pipeline.jobs.map((j) => j.name), ['working-tree-job']);
      assert.deepEqual((await runJson(sb, ['--commit'])).pipeline.jobs.map((j) => j.name), ['committed-job']);
    });
  });

  it('gives every job a fresh workspace: nothing one job writes or changes is there for the next one in the same slot', async () => {
    await withSandbox(
      {
        'tracked.txt': 'original\n',
        'dir/keep.txt': 'keep\n',
        '.gantry.yml': `stages: [one, two, three]
dirty:
  stage: one
  script:
    - echo leftover > leftover.txt
    - mkdir -p newdir && echo x > newdir/file
    - echo modified > tracked.txt
    - rm dir/keep.txt
    - chmod 600 .gantry.yml
check:
  stage: two
  script:
    - test ! -e leftover.txt
    - test ! -e newdir
    - test "$(cat tracked.txt)" = original
    - test "$(cat dir/keep.txt)" = keep
    - echo "CI_PROJECT_DIR=$CI_PROJECT_DIR"
check-again:
  stage: three
  script:
    - test ! -e leftover.txt
    - test "$(cat tracked.txt)" = original
    - echo "CI_PROJECT_DIR=$CI_PROJECT_DIR"
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '1']);
        assert.equal(r.code, 0, r.stderr);
        for (const j of ['dirty', 'check', 'check-again']) assert.equal(r.job(j).status, 'success', j);
        // Same slot, same directory: the reset, not a new path, is what made it fresh.
        const a = printedVars(await logsOf(sb, r.pipeline.id, 'check')).CI_PROJECT_DIR;
        const b = printedVars(await logsOf(sb, r.pipeline.id, 'check-again')).CI_PROJECT_DIR;
        assert.equal(a, b);
      },
    );
  });

  it('a retried job starts its second attempt in a fresh workspace', async () => {
    await withSandbox(
      {
        '.gantry.yml': `job:
  retry: 1
  script:
    - if [ -e marker ]; then echo "second attempt saw the first one's file"; exit 0; fi
    - touch marker
    - exit 1
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '1']);
        assert.equal(r.job('job').attempts, 2);
        assert.equal(r.job('job').status, 'failed', 'the second attempt found the first attempt\'s file');
      },
    );
  });

  it('is a git checkout of the commit: `git rev-parse HEAD` is the sha, `git status` works and is clean with --commit', async () => {
    await withSandbox(
      {
        'src/a.txt': 'a\n',
        '.gantry.yml': `job:
  script:
    - echo "HEAD=$(git rev-parse HEAD)"
    - git status --porcelain > ../status.out
    - echo "STATUS_LINES=$(wc -l < ../status.out | tr -d ' ')"
    - echo "LOG=$(git log -1 --format=%s)"
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--commit']);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'job'));
        const sha = sb.git('rev-parse', 'HEAD').trim();
        assert.equal(v.HEAD, sha);
        assert.equal(r.pipeline.sha, sha);
        assert.equal(v.STATUS_LINES, '0');
        assert.equal(v.LOG, 'initial');
      },
    );
  });

  it('runs in a repository without commits (working tree only)', async () => {
    await withSandbox(
      { '.gantry.yml': 'job:\n  script: cat hello.txt\n', 'hello.txt': 'hello from the working tree\n' },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.match(await logsOf(sb, r.pipeline.id, 'job'), /^hello from the working tree$/m);
      },
      { commit: false },
    );
  });
  it('keeps what git keeps: the executable bit, symlinks, names with spaces and non-ASCII characters', async () => {
    await withSandbox(
      {
        'tools/run.sh': '#!/bin/sh\necho ran-the-tool\n',
        'target.txt': 'through the link\n',
        'dir with space/ünïcödé.txt': 'odd name\n',
        '.gantry.yml': `job:
  script:
    - ./tools/run.sh
    - test -L link.txt
    - cat link.txt
    - cat "dir with space/ünïcödé.txt"
`,
      },
      async (sb) => {
        fs.chmodSync(path.join(sb.repo, 'tools/run.sh'), 0o755);
        fs.symlinkSync('target.txt', path.join(sb.repo, 'link.txt'));
        sb.commit('tool and link');
        for (const args of [[], ['--commit']]) {
          const r = await runJson(sb, args);
          assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
          const log = await logsOf(sb, r.pipeline.id, 'job');
          assert.match(log, /^ran-the-tool$/m);
          assert.match(log, /^through the link$/m);
          assert.match(log, /^odd name$/m);
        }
      },
    );
  });

  it('a retried job\'s artifacts are those of its last attempt', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  retry: 1
  script:
    - if [ -e "$MARK_DIR/second" ]; then echo second > out.txt; exit 0; fi
    - touch "$MARK_DIR/second"; echo first > out.txt; exit 1
  artifacts:
    when: always
    paths: [out.txt]
use:
  stage: test
  script: cat out.txt
`,
      },
      async (sb) => {
        const mark = path.join(sb.base, 'mark');
        fs.mkdirSync(mark);
        const r = await runJson(sb, ['--var', `MARK_DIR=${mark}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('build').attempts, 2);
        const log = await logsOf(sb, r.pipeline.id, 'use');
        assert.match(log, /^second$/m);
        assert.doesNotMatch(log, /^first$/m);
      },
    );
  });
});
