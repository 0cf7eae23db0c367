// Bad input is refused before anything runs or is recorded, with FILE:LINE:COLUMN errors and the
// documented exit codes (1 invalid pipeline, 2 usage, 3 not found), never a stack trace.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gantry, gantryIn, pipelinesJson, withSandbox, type CliResult } from '../helpers/gantry.js';

function assertNoStackTrace(r: CliResult): void {
  assert.doesNotMatch(r.stderr, /^\s+at .*\(.*:\d+:\d+\)$/m, `stack trace on stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/);
}

async function assertRejected(file: string, where: RegExp, what: RegExp): Promise<void> {
  await withSandbox({ '.gantry.yml': file }, async (sb) => {
    const mark = path.join(sb.base, 'ran');
    const r = await gantry(sb, ['run', '--var', `MARK=${mark}`]);
    assert.equal(r.code, 1, `exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, where);
    assert.match(r.stderr, what);
    assertNoStackTrace(r);
    assert.ok(!fs.existsSync(mark), 'a job ran from an invalid pipeline');
    assert.deepEqual((await pipelinesJson(sb)).items, [], 'an invalid pipeline was recorded');
  });
}

describe('gantry run: invalid input', () => {
  it('rejects an unknown keyword with FILE:LINE:COLUMN, runs and records nothing', async () => {
    await assertRejected('ok:\n  script: touch "$MARK"\nbad:\n  script: "true"\n  scirpt: "true"\n', /\.gantry\.yml:5:3\b/, /scirpt/);
  });

  it('rejects an undefined stage', async () => {
    await assertRejected('stages: [build, test]\nok:\n  stage: build\n  script: touch "$MARK"\nbad:\n  stage: deploy\n  script: "true"\n', /\.gantry\.yml:6:\d+\b/, /deploy/);
  });

  it('rejects a `needs` cycle', async () => {
    await assertRejected(
      'ok:\n  script: touch "$MARK"\na:\n  needs: [b]\n  script: "true"\nb:\n  needs: [a]\n  script: "true"\n',
      /\.gantry\.yml:\d+:\d+\b/,
      /cycle/i,
    );
  });

  it('rejects a `needs` naming no job', async () => {
    await assertRejected('ok:\n  script: touch "$MARK"\nb:\n  needs: [nothere]\n  script: "true"\n', /\.gantry\.yml:4:\d+\b/, /nothere/);
  });

  it('rejects a malformed rule', async () => {
    await assertRejected('ok:\n  script: touch "$MARK"\n  rules:\n    - if: $CI_COMMIT_BRANCH = "main"\n', /\.gantry\.yml:4:\d+\b/, /./);
  });

  it('prints the diagnostics as one JSON error object under --json', async () => {
    await withSandbox({ '.gantry.yml': 'bad:\n  scirpt: "true"\n' }, async (sb) => {
      const r = await gantry(sb, ['run', '--json']);
      assert.equal(r.code, 1);
      const body = JSON.parse(r.out) as { error?: { code: string; diagnostics: unknown[] } };
      assert.ok(body.error, r.out);
      assert.match(body.error.code, /^GANTRY_E_/);
      assert.ok(body.error.diagnostics.length >= 1);
      assertNoStackTrace(r);
    });
  });

  it('`gantry logs` of a pipeline that does not exist: clear error, exit 3', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script: "true"\n' }, async (sb) => {
      const r = await gantry(sb, ['logs', '999', 'x']);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /999/);
      assert.equal(r.out, '');
      assertNoStackTrace(r);
    });
  });

  it('`--var` without KEY=VALUE is a usage error, exit 2, and nothing runs', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script: "true"\n' }, async (sb) => {
      for (const bad of ['BAD', '=value', '1X=y']) {
        const r = await gantry(sb, ['run', '--var', bad]);
        assert.equal(r.code, 2, `--var ${bad}: exit ${r.code}`);
        assert.match(r.stderr, /--var/);
        assertNoStackTrace(r);
      }
      assert.deepEqual((await pipelinesJson(sb)).items, []);
    });
  });

  it('other usage errors exit 2: an unknown option, a bad --concurrency', async () => {
    await withSandbox({ '.gantry.yml': 'job:\n  script: "true"\n' }, async (sb) => {
      const unknown = await gantry(sb, ['run', '--no-such-flag']);
      assert.equal(unknown.code, 2);
      const conc = await gantry(sb, ['run', '--concurrency', '0']);
      assert.equal(conc.code, 2);
      assert.match(conc.stderr, /--concurrency/);
    });
  });

  it('outside a git repository: a clear error, no stack trace', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-nogit-'));
    try {
      fs.writeFileSync(path.join(dir, '.gantry.yml'), 'job:\n  script: "true"\n');
      const r = await gantryIn(dir, path.join(dir, 'home'), ['run'], { GIT_CEILING_DIRECTORIES: path.dirname(dir) });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not inside a git repository/);
      assertNoStackTrace(r);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a repository without a pipeline file: a clear error', async () => {
    await withSandbox({ 'README.md': 'no pipeline here\n' }, async (sb) => {
      const r = await gantry(sb, ['run']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /\.gantry\.yml/);
      assertNoStackTrace(r);
    });
  });
});
