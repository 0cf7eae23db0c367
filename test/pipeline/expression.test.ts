import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateExpression } from '../../src/pipeline/expression-eval.js';
import { ExpressionError, parseExpression } from '../../src/pipeline/expression.js';

const vars = { BRANCH: 'main', EMPTY: '', TAG: 'v1.2.3', RE: '/^feat/', SOURCE: 'push', FEATURE: 'feature/login' };
const yes = (src: string) => assert.equal(evaluateExpression(src, vars), true, src);
const no = (src: string) => assert.equal(evaluateExpression(src, vars), false, src);

function errorAt(src: string): number {
  try {
    parseExpression(src);
  } catch (e) {
    assert.ok(e instanceof ExpressionError, `expected an ExpressionError for ${src}`);
    return e.offset;
  }
  assert.fail(`expected ${src} not to parse`);
}

describe('rules:if expressions', () => {
  test('a bare variable is true when it is set and not empty', () => {
    yes('$BRANCH');
    no('$EMPTY');
    no('$UNSET');
  });

  test('== and != compare strings; an unset variable compares as null', () => {
    yes('$BRANCH == "main"');
    yes("$BRANCH == 'main'");
    no('$BRANCH == "dev"');
    yes('$BRANCH != "dev"');
    yes('$UNSET == null');
    no('$EMPTY == null');
    yes('$EMPTY == ""');
    no('$UNSET == ""');
    yes('"main" == $BRANCH');
    yes('$BRANCH == $BRANCH');
  });

  // GitLab's lexer has only `$NAME` (lib/gitlab/ci/pipeline/expression/lexeme/variable.rb).
  test('${VAR} is not a variable in an expression: GitLab knows only $VAR', () => {
    assert.throws(() => parseExpression('${BRANCH} == "main"'), (e: unknown) => e instanceof ExpressionError && e.offset === 0);
  });

  test('=~ and !~ match regexes, with flags; an unset left side matches as ""', () => {
    yes('$TAG =~ /^v\\d+\\.\\d+/');
    no('$BRANCH =~ /^MAIN$/');
    yes('$BRANCH =~ /^MAIN$/i');
    yes('$BRANCH !~ /^release/');
    yes('$UNSET =~ /^$/');
    yes('$FEATURE =~ /^feature\\/.*/');
  });

  test('the right side of =~ may be a variable holding a regex', () => {
    no('$BRANCH =~ $RE');
    assert.equal(evaluateExpression('$B =~ $RE', { B: 'feature-x', RE: '/^feat/' }), true);
  });

  test('&& binds tighter than ||', () => {
    // true || (false && false) is true; (true || false) && false would be false.
    yes('$BRANCH == "main" || $SOURCE == "web" && $UNSET');
    no('($BRANCH == "main" || $SOURCE == "web") && $UNSET');
    yes('$UNSET && $BRANCH || $TAG');
  });

  test('parentheses group', () => {
    yes('($BRANCH == "dev" || $BRANCH == "main") && $SOURCE == "push"');
    no('$BRANCH == "dev" || ($BRANCH == "main" && $SOURCE == "web")');
  });

  test('syntax errors report the offset of the offending token', () => {
    assert.equal(errorAt('$A == '), 6);
    assert.equal(errorAt('$A = "x"'), 3);
    assert.equal(errorAt('$A == "x'), 6);
    assert.equal(errorAt('($A == "x"'), 10);
    assert.equal(errorAt('$A == "x")'), 9);
    assert.equal(errorAt('main == $A'), 0);
    assert.equal(errorAt('$A =~ "x"'), 6);
    assert.equal(errorAt(''), 0);
    assert.equal(errorAt('$A == /x'), 6);
    assert.equal(errorAt('$A == "a" == "b"'), 10);
  });

  test('an invalid or unsupported regex is a syntax error', () => {
    assert.throws(() => evaluateExpression('$A =~ /(/', {}), ExpressionError);
    assert.throws(() => evaluateExpression('$A =~ /x/g', {}), ExpressionError);
  });
});
