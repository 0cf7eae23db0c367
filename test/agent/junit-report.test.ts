// JUnit reports as real test runners write them (node's test runner with its junit reporter,
// pytest's --junitxml), read into cases; and hostile files (malformed, entity bombs, huge outputs,
// symlinks, too large) that must cost bounded memory and leave a warning, never an exception.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readJunitReports } from '../../src/agent/junit-report.js';
import { TEST_REPORT_LIMITS, testsView, summaryLine, type TestCase } from '../../src/domain/test-reports.js';

const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-junit-')));
after(() => fs.rmSync(ws, { recursive: true, force: true }));
const write = (rel: string, text: string | Buffer) => {
  fs.mkdirSync(path.dirname(path.join(ws, rel)), { recursive: true });
  fs.writeFileSync(path.join(ws, rel), text);
};
const byName = (cases: TestCase[], name: string) => {
  const c = cases.find((x) => x.name === name);
  assert.ok(c, `no case ${name} in ${cases.map((x) => x.name).join(', ')}`);
  return c;
};
const pytest = spawnSync('python3', ['-c', 'import pytest'], { stdio: 'ignore' }).status === 0;

describe('JUnit reports from real test runners', () => {
  it("reads node's test runner (--test-reporter=junit): nested describes, a failure with its message and stack, skip and todo", async () => {
    write(
      'node/math.test.mjs',
      `import { describe, it, test } from 'node:test';
import assert from 'node:assert';
describe('math', () => {
  it('adds', () => assert.equal(1 + 1, 2));
  describe('inner', () => { it('fails', () => assert.equal(1 + 1, 3)); });
});
test('skipped one', { skip: 'not today' }, () => {});
test('todo one', { todo: true }, () => {});
`,
    );
    // Not as a subtest of this file's own runner (NODE_TEST_CONTEXT would make it one).
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const run = spawnSync(process.execPath, ['--test', '--test-reporter=junit', '--test-reporter-destination=report.xml', 'math.test.mjs'], {
      cwd: path.join(ws, 'node'),
      encoding: 'utf8',
      env,
    });
    assert.equal(run.status, 1, run.stderr); // one test fails, on purpose
    const { report, warnings } = await readJunitReports(ws, ['node/report.xml']);
    assert.deepEqual(warnings, []);
    assert.deepEqual({ ...report.counts, durationMs: 0 }, { total: 4, passed: 1, failed: 1, error: 0, skipped: 2, durationMs: 0 });
    const adds = byName(report.cases, 'adds');
    assert.equal(adds.suite, 'math');
    assert.equal(adds.status, 'passed');
    assert.ok(adds.durationMs !== null && adds.durationMs >= 0);
    const fails = byName(report.cases, 'fails');
    assert.equal(fails.suite, 'math › inner');
    assert.equal(fails.status, 'failed');
    assert.equal(fails.message, '2 == 3');
    assert.match(fails.output ?? '', /AssertionError \[ERR_ASSERTION\]: 2 == 3/);
    assert.match(fails.output ?? '', /math\.test\.mjs:5/);
    assert.equal(byName(report.cases, 'skipped one').message, 'not today');
    assert.equal(byName(report.cases, 'todo one').status, 'skipped');
    assert.equal(byName(report.cases, 'todo one').file, 'node/report.xml');
  });

  // Under CI a missing pytest is a failure (.ci/run installs python3-pytest), elsewhere a skip with the reason.
  const noPytest = pytest ? false : process.env.CI === 'true' ? false : 'python3 has no pytest here: apt-get install python3-pytest';
  it('reads pytest (--junitxml): classes, a failed assertion, an error in a fixture, a skip, captured stdout', { skip: noPytest }, async () => {
    write(
      'py/test_sample.py',
      `import pytest
def test_ok(): assert 1 == 1
def test_bad():
    print("hello from stdout")
    assert 1 == 2, "one is not two"
@pytest.fixture
def broken(): raise RuntimeError("fixture broke")
def test_err(broken): pass
@pytest.mark.skip(reason="not now")
def test_skip(): pass
class TestGroup:
    def test_in_class(self): assert True
`,
    );
    const run = spawnSync('python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-o', 'junit_logging=system-out', '--junitxml=out/pytest.xml', 'test_sample.py'], {
      cwd: path.join(ws, 'py'),
      encoding: 'utf8',
    });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const { report, warnings } = await readJunitReports(ws, ['py/**/*.xml']);
    assert.deepEqual(warnings, []);
    assert.deepEqual({ ...report.counts, durationMs: 0 }, { total: 5, passed: 2, failed: 1, error: 1, skipped: 1, durationMs: 0 });
    const bad = byName(report.cases, 'test_bad');
    assert.equal(bad.classname, 'test_sample');
    assert.equal(bad.suite, 'pytest');
    assert.equal(bad.message, 'AssertionError: one is not two\nassert 1 == 2');
    assert.match(bad.output ?? '', /E {7}assert 1 == 2/);
    assert.match(bad.output ?? '', /--- system-out ---\n.*Captured Out.*\nhello from stdout/);
    const err = byName(report.cases, 'test_err');
    assert.equal(err.status, 'error');
    assert.match(err.message ?? '', /fixture broke/);
    assert.equal(byName(report.cases, 'test_skip').message, 'not now');
    assert.equal(byName(report.cases, 'test_in_class').classname, 'test_sample.TestGroup');
    assert.equal(summaryLine(testsView([{ jobId: 1, jobName: 'py', attempt: 1, report }]).summary), '2 passed, 1 failed, 1 errors, 1 skipped');
  });
});

describe('hostile JUnit reports', () => {
  it('a malformed file is a warning with its line:column, its cases are dropped, the others kept', async () => {
    write('bad/good.xml', '<testsuite name="s"><testcase name="one" classname="c" time="0.5"/></testsuite>');
    write('bad/broken.xml', '<testsuite name="s">\n  <testcase name="two">\n  </testsuit>\n');
    const { report, warnings } = await readJunitReports(ws, ['bad/*.xml', 'missing/*.xml']);
    assert.equal(report.counts.total, 1);
    assert.equal(report.files, 1);
    assert.equal(report.cases[0]!.durationMs, 500);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /^WARNING: artifacts:reports:junit "missing\/\*\.xml": no file matches$/);
    assert.match(warnings[1]!, /^WARNING: bad\/broken\.xml:3:\d+: .*: not a valid JUnit XML file, its tests are not counted$/);
  });

  it('never expands an entity a file declares (billion laughs): an error at once, in little memory', async () => {
    let dtd = '<!ENTITY lol0 "lol">';
    for (let i = 1; i < 10; i++) dtd += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`;
    write('bomb/bomb.xml', `<?xml version="1.0"?><!DOCTYPE lolz [${dtd}]><testsuite><testcase name="&lol9;"/></testsuite>`);
    write('bomb/external.xml', `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&xxe;"/></testsuite>`);
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const { report, warnings } = await readJunitReports(ws, ['bomb/*.xml']);
    assert.ok(performance.now() - t0 < 2_000);
    assert.ok(process.memoryUsage().heapUsed - before < 50 * 1024 * 1024);
    assert.equal(report.counts.total, 0);
    assert.equal(warnings.length, 2);
    for (const w of warnings) assert.match(w, /undefined entity/);
    assert.doesNotMatch(JSON.stringify(report), /root:/);
  });

  it('cuts a huge output to 64 KiB and a long message, and keeps memory bounded while reading', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const f = fs.openSync(path.join(ws, 'huge.xml'), 'w');
    fs.writeSync(f, `<testsuite name="s"><testcase name="noisy" classname="c"><failure message="${'m'.repeat(20_000)}">`);
    for (let i = 0; i < 40; i++) fs.writeSync(f, big); // 40 MiB of failure text
    fs.writeSync(f, '</failure><system-out><![CDATA[');
    for (let i = 0; i < 10; i++) fs.writeSync(f, big);
    fs.writeSync(f, ']]></system-out></testcase></testsuite>');
    fs.closeSync(f);
    const before = process.memoryUsage().rss;
    const { report, warnings } = await readJunitReports(ws, ['huge.xml']);
    assert.deepEqual(warnings, []);
    const c = report.cases[0]!;
    assert.equal(c.status, 'failed');
    assert.equal(c.truncated, true);
    assert.equal(c.message!.length, TEST_REPORT_LIMITS.message);
    assert.equal(c.output!.length, TEST_REPORT_LIMITS.output);
    assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024, 'read as a stream, not whole');
  });

  it('skips a file past the size limit, a symlink, and files past the count; lists cases past the limit only in the counts', async () => {
    const limits = { ...TEST_REPORT_LIMITS, fileBytes: 4096, files: 3, cases: 3 };
    write('lim/a-big.xml', `<testsuite>${'<testcase name="t"/>'.repeat(500)}</testsuite>`);
    write('lim/b-many.xml', `<testsuite>${'<testcase name="t"/>'.repeat(5)}</testsuite>`);
    write('secret.txt', '<testsuite><testcase name="the agent\'s secret"/></testsuite>');
    fs.symlinkSync(path.join(ws, 'secret.txt'), path.join(ws, 'lim', 'c-link.xml'));
    write('lim/d-past-count.xml', '<testsuite><testcase name="t"/></testsuite>');
    const { report, warnings } = await readJunitReports(ws, ['lim/*.xml'], limits);
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.match(warnings[0]!, /lim\/a-big\.xml: not read as a JUnit report: \d+ bytes, the limit is 4096/);
    assert.match(warnings[1]!, /lim\/c-link\.xml: not read as a JUnit report: it is a symlink/);
    assert.match(warnings[2]!, /lim\/d-past-count\.xml: skipped, a job reads at most 3 JUnit report files/);
    assert.equal(report.counts.total, 5);
    assert.equal(report.cases.length, 3);
    assert.equal(report.unlisted, 2);
  });

  it('reads 10,000 cases quickly', async () => {
    const parts = ['<testsuites>'];
    for (let s = 0; s < 100; s++) {
      parts.push(`<testsuite name="suite ${s}">`);
      for (let i = 0; i < 100; i++) {
        parts.push(
          i % 50 === 7
            ? `<testcase classname="pkg.Suite${s}" name="case ${i}" time="0.0${i}"><failure message="expected ${i}">at line ${i}\n  stack</failure><system-out>out ${i}</system-out></testcase>`
            : `<testcase classname="pkg.Suite${s}" name="case ${i}" time="0.0${i}"/>`,
        );
      }
      parts.push('</testsuite>');
    }
    parts.push('</testsuites>');
    write('many/report.xml', parts.join('\n'));
    const bytes = fs.statSync(path.join(ws, 'many/report.xml')).size;
    const t0 = performance.now();
    const { report } = await readJunitReports(ws, ['many/report.xml']);
    const ms = performance.now() - t0;
    console.log(`parsed 10,000 cases (${(bytes / 1024 / 1024).toFixed(1)} MiB) in ${ms.toFixed(0)} ms`);
    assert.equal(report.counts.total, 10_000);
    assert.equal(report.counts.failed, 200);
    assert.ok(ms < 5_000, `${ms} ms`);
  });
});
