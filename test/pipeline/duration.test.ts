import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDuration } from '../../src/pipeline/duration.js';
import { expandVariables } from '../../src/pipeline/variables.js';

describe('durations', () => {
  const cases: [string | number, number | null][] = [
    ['30s', 30],
    ['2h', 7200],
    ['1h 30m', 5400],
    ['1h30m', 5400],
    ['90 minutes', 5400],
    ['3 hours', 10800],
    ['3 hours and 5 minutes', 11100],
    ['1 hour, 30 minutes', 5400],
    ['1 day', 86400],
    ['2 weeks', 1209600],
    ['1 month', 2592000],
    ['1.5h', 5400],
    ['1:30:00', 5400],
    ['10:00', 600],
    ['3600', 3600],
    [3600, 3600],
    ['5 mins', 300],
    ['1 hr', 3600],
    ['', null],
    ['soon', null],
    ['3 fortnights', null],
    ['1h garbage', null],
    [-5, null],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} is ${expected === null ? 'rejected' : `${expected} seconds`}`, () => {
      assert.equal(parseDuration(input), expected);
    });
  }
});

describe('variable expansion', () => {
  const vars = { A: 'a', B: 'b', EMPTY: '' };
  test('$VAR and ${VAR} expand; unknown variables become empty', () => {
    assert.equal(expandVariables('$A-${B}-$C-x', vars), 'a-b--x');
  });
  test('$$ is a literal dollar', () => {
    assert.equal(expandVariables('$$A costs $$5', vars), '$A costs $5');
  });
  test('expansion is not recursive', () => {
    assert.equal(expandVariables('$X', { X: '$A' }), '$A');
  });
});
