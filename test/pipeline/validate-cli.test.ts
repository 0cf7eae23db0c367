// Runs the real `bin/gantry validate` in a temporary git repository.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/gantry');

function gantry(cwd: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.GANTRY_DEBUG;
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

const BAD = `stages: [build, test]
build:
  stage: biuld
  script:
    - echo done: yes
test:
  needs: [buidl]
  script: make test
  timeout: 3 fortnights
  rules:
    - if: $CI_COMMIT_BRANCH = "main"
`;

const GOOD = `stages: [build, test, deploy]
build:
  stage: build
  script: make
test:
  script: make test
  parallel: 2
deploy:
  stage: deploy
  script: make deploy
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
`;

describe('gantry validate', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-validate-'));
    execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a bad pipeline exits 1 and lists every error as FILE:LINE:COL, without a stack trace', () => {
    writeFileSync(path.join(dir, '.gantry.yml'), BAD);
    const r = gantry(dir, ['validate']);
    assert.equal(r.code, 1, r.all);
    assert.match(r.stdout, /^\.gantry\.yml:3:10: error: .*biuld.* \[GANTRY_E_UNDEFINED_STAGE\]$/m);
    assert.match(r.stdout, /^\.gantry\.yml:5:7: error: .*quote.* \[GANTRY_E_INVALID_VALUE\]$/m);
    assert.match(r.stdout, /^\.gantry\.yml:7:11: error: .*did you mean `build`.* \[GANTRY_E_NEEDS_UNKNOWN\]$/m);
    assert.match(r.stdout, /^\.gantry\.yml:9:12: error: .* \[GANTRY_E_BAD_DURATION\]$/m);
    assert.match(r.stdout, /^\.gantry\.yml:11:29: error: .* \[GANTRY_E_RULE_SYNTAX\]$/m);
    assert.match(r.stdout, /5 errors/);
    assert.doesNotMatch(r.all, /\n\s+at .*\.js:\d+/);
  });

  test('--json prints one object with every error', () => {
    writeFileSync(path.join(dir, '.gantry.yml'), BAD);
    const r = gantry(dir, ['validate', '--json']);
    assert.equal(r.code, 1, r.all);
    const out = JSON.parse(r.stdout);
    assert.equal(out.valid, false);
    assert.deepEqual(
      out.errors.map((e: { code: string; line: number; column: number }) => `${e.line}:${e.column} ${e.code}`),
      ['3:10 GANTRY_E_UNDEFINED_STAGE', '5:7 GANTRY_E_INVALID_VALUE', '7:11 GANTRY_E_NEEDS_UNKNOWN', '9:12 GANTRY_E_BAD_DURATION', '11:29 GANTRY_E_RULE_SYNTAX'],
    );
    assert.deepEqual(out.jobs, []);
  });

  test('a good pipeline exits 0 and says how many jobs, from a subdirectory too', () => {
    writeFileSync(path.join(dir, '.gantry.yml'), GOOD);
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const r = gantry(path.join(dir, 'sub'), ['validate']);
    assert.equal(r.code, 0, r.all);
    assert.match(r.stdout, /\.gantry\.yml is valid: 4 jobs in 3 stages/);
    const j = JSON.parse(gantry(dir, ['validate', '--json']).stdout);
    assert.deepEqual(j, { valid: true, errors: [], warnings: [], jobs: ['build', 'test 1/2', 'test 2/2', 'deploy'] });
  });

  test('an explicit file argument is validated', () => {
    writeFileSync(path.join(dir, 'other.yml'), 'job:\n  script: [true]\n');
    const r = gantry(dir, ['validate', 'other.yml']);
    assert.equal(r.code, 1, r.all);
    assert.match(r.stdout, /^other\.yml:2:12: error: .*quote.* \[GANTRY_E_INVALID_VALUE\]$/m);
  });

  test('no pipeline file is a clear error, not a crash', () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'gantry-validate-empty-'));
    try {
      execFileSync('git', ['init', '-q', empty]);
      const r = gantry(empty, ['validate']);
      assert.equal(r.code, 3, r.all);
      assert.match(r.stderr, /GANTRY_E_PIPELINE_NOT_FOUND/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
