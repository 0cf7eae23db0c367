// `artifacts:reports:junit` through `gantry run`: real JUnit files from node's test runner and
// pytest, read after the job whatever its result, stored per attempt; a test that failed and then
// passed on the job's retry is flaky; the end report says so; a malformed file is a warning in the
// job's log and changes nothing else.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { logsOf, runJson, withSandbox } from '../helpers/gantry.js';

const pytest = spawnSync('python3', ['-c', 'import pytest'], { stdio: 'ignore' }).status === 0;

const NODE_TESTS = `import { test } from 'node:test';
import assert from 'node:assert';
test('stable', () => assert.ok(true));
// Fails on the job's first attempt, passes on its retry.
test('sometimes', () => assert.equal(process.env.RUN, '2', 'first run fails'));
`;

const PY_TESTS = `def test_fine():
    assert True

def test_broken():
    assert 1 + 1 == 3, "arithmetic"
`;

describe('gantry run: test reports', () => {
  it('reads node and pytest JUnit files, marks a test that passed on the retry flaky, and reports the summary at the end', { skip: pytest ? false : 'python3 has no pytest here' }, async () => {
    await withSandbox(
      {
        'tests/unit.test.mjs': NODE_TESTS,
        'py/test_sample.py': PY_TESTS,
        '.gantry.yml': `unit:
  retry: 1
  script:
    - n=$(cat "$COUNTER_DIR/unit" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER_DIR/unit"
    - unset NODE_TEST_CONTEXT
    - mkdir -p reports && RUN=$n "$NODE" --test --test-reporter=junit --test-reporter-destination=reports/unit.xml tests/unit.test.mjs
  artifacts:
    reports:
      junit: reports/*.xml

py:
  allow_failure: true
  script:
    - printf '<testsuite><testcase name="x">\\n</testsuite>' > broken.xml
    - cd py && python3 -m pytest -q -p no:cacheprovider --junitxml=../py-report.xml
  artifacts:
    reports:
      junit: [py-report.xml, broken.xml]
`,
      },
      async (sb) => {
        const dir = path.join(sb.base, 'counters');
        fs.mkdirSync(dir);
        const r = await runJson(sb, ['--var', `COUNTER_DIR=${dir}`, '--var', `NODE=${process.execPath}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('unit').attempts, 2);
        assert.equal(r.job('py').status, 'failed'); // allowed to fail: the report does not change that
        const tests = (r.pipeline as unknown as { tests: Record<string, number> }).tests;
        assert.deepEqual({ ...tests, durationMs: 0 }, { total: 4, passed: 3, failed: 1, error: 0, skipped: 0, flaky: 1, unlisted: 0, durationMs: 0 });
        assert.match(r.stderr, /Tests: 3 passed, 1 failed, 1 flaky/);
        assert.match(r.stderr, /✗ failed pytest › test_sample › test_broken \(py\): AssertionError: arithmetic/);
        assert.match(r.stderr, /~ flaky .*sometimes \(unit: failed, then passed on attempt 2\)/);

        const first = await logsOf(sb, r.pipeline.id, 'unit', 1);
        assert.match(first, /Test report: 1 passed, 1 failed \(1 file\)/);
        const py = await logsOf(sb, r.pipeline.id, 'py');
        assert.match(py, /WARNING: broken\.xml:2:\d+: .*not a valid JUnit XML file, its tests are not counted/);
        assert.match(py, /Test report: 1 passed, 1 failed \(1 file\)/);
      },
    );
  });
});
