// `coverage: '/regex/'` through `gantry run`, named after GitLab's rules. GitLab reads the
// coverage from the finished trace (gitlabhq lib/gitlab/ci/trace/stream.rb, `extract_coverage`):
// per line; the last line (from the end) whose last match holds a number wins; the last capture
// group when the regex has groups, else the whole match; the first number in it is the coverage.
// The pipeline's coverage is the average of its jobs' (docs "Code coverage": "If multiple jobs in
// the pipeline have coverage reports, they are averaged").

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runJson, withSandbox } from '../helpers/gantry.js';
import { CoverageScanner, coverageOfLine } from '../../src/agent/coverage.js';

describe('gantry run: coverage', () => {
  it('the last matching line wins, the first number of the match is the percentage, and the pipeline has the average', async () => {
    await withSandbox(
      {
        '.gantry.yml': `unit:
  coverage: '/Lines:\\s+\\d+\\.\\d+%/'
  script:
    - 'echo "Lines:   12.50% (first run)"'
    - 'echo "Lines:   85.25% (after the merge)"'
    - echo "a later line that does not match"

groups:
  coverage: '/TOTAL.*\\s(\\d+)%$/'
  script:
    - echo "TOTAL  120  30  75%"

none:
  coverage: '/Coverage: \\d+%/'
  script:
    - echo "no summary printed"

plain:
  script: echo 'Lines 99.00%'
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('unit').coverage, 85.25);
        assert.equal(r.job('groups').coverage, 75);
        assert.equal(r.job('none').coverage, null);
        assert.equal(r.job('plain').coverage, null, 'a job without coverage: has none, whatever it prints');
        assert.equal(r.pipeline.coverage, 80.13, 'the average of 85.25 and 75, rounded to 2 decimals');
        assert.match(r.stderr, /coverage 85\.25%/);
        assert.match(r.stderr, /Pipeline #\d+ success.*, coverage 80\.13%/);
      },
    );
  });

  it('a coverage value without slashes, or one that does not compile, is an error at its line and column', async () => {
    await withSandbox(
      { '.gantry.yml': `a:\n  coverage: 'Coverage: \\d+%'\n  script: x\nb:\n  coverage: '/(unclosed/'\n  script: x\n` },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /\.gantry\.yml:2:13: error: a:coverage expects a regular expression between slashes/);
        assert.match(r.stderr, /\.gantry\.yml:5:13: error: b:coverage: invalid regular expression/);
      },
    );
  });
});

describe('coverage scanning (bounded)', () => {
  it('of a line, the last match and its last group: scan(...).flatten.last', () => {
    assert.equal(coverageOfLine(/\d+%/g, 'a 10% b 20%'), 20);
    assert.equal(coverageOfLine(/(\d+)% and (\d+)%/g, '1% and 2%'), 2);
    assert.equal(coverageOfLine(/Coverage: .*/g, 'Coverage: n/a'), null, 'a match without a number does not count');
    assert.equal(coverageOfLine(/x(y)?/g, 'x'), null, 'a group that did not take part gives no number');
    assert.equal(coverageOfLine(/\d+/g, '250'), null, 'not a percentage');
  });

  it('only the first 4 KiB of a line is matched, and a chunk boundary within a line changes nothing', () => {
    const s = new CoverageScanner({ source: 'cov (\\d+)%', flags: '' });
    s.push(Buffer.from('cov 4'));
    s.push(Buffer.from('2% done\n'));
    s.push(Buffer.from(`${'x'.repeat(5000)} cov 99%\n`)); // past 4 KiB: not seen
    s.push(Buffer.from('tail without newline cov 7'));
    assert.equal(s.value(), 42);
    const t = new CoverageScanner({ source: 'cov (\\d+)%', flags: 'i' });
    t.push(Buffer.from('COV 7%'));
    assert.equal(t.value(), 7, 'the last line counts without its newline; flags apply');
  });
});
