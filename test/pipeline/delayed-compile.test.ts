// `when: delayed` and `start_in` as GitLab reads them: lib/gitlab/ci/config/entry/job.rb
// (`validates :start_in, duration: { limit: '1 week' }, if: :delayed?` and `validates :start_in,
// absence: true, if: -> { has_rules? || !delayed? }`) and lib/gitlab/ci/config/entry/rules/rule.rb
// (`disallowed_keys: %i[start_in], unless: :specifies_delay?`, `validates :start_in, presence:
// true, if: :specifies_delay?`, the same one-week limit). Durations are ChronicDuration's.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePipeline, memoryProjectFiles } from '../../src/pipeline/index.js';
import type { CompiledPipeline, CompileResult, Diagnostic } from '../../src/pipeline/types.js';

const PREDEFINED = { CI_PIPELINE_SOURCE: 'push', CI_COMMIT_BRANCH: 'main', CI_COMMIT_REF_NAME: 'main', CI_COMMIT_SHA: 'abc123' };

function compile(yaml: string): CompileResult {
  return compilePipeline('.gitlab-ci.yml', { variables: PREDEFINED, changedFiles: null, files: memoryProjectFiles({ '.gitlab-ci.yml': yaml }) });
}

function ok(yaml: string): CompiledPipeline {
  const r = compile(yaml);
  assert.equal(r.ok, true, r.ok === false ? r.errors.map((e) => `${e.location.line}:${e.location.column} ${e.message}`).join('\n') : String(r.ok));
  return (r as { pipeline: CompiledPipeline }).pipeline;
}

function errors(yaml: string): Diagnostic[] {
  const r = compile(yaml);
  assert.equal(r.ok, false, 'the file is refused');
  return (r as { errors: Diagnostic[] }).errors;
}

test('when: delayed with start_in compiles to a delayed job with its delay in seconds (GitLab durations)', () => {
  for (const [text, seconds] of [
    ['30 minutes', 1800],
    ['1 day', 86400],
    ['10 seconds', 10],
    ['1 week', 604800],
    ['2 hours 30 minutes', 9000],
    ['45', 45],
  ] as const) {
    const p = ok(`deploy:\n  script: echo go\n  when: delayed\n  start_in: ${text}\n`);
    assert.equal(p.jobs[0]!.when, 'delayed', text);
    assert.equal(p.jobs[0]!.startInSeconds, seconds, text);
  }
  // A job that is not delayed carries no delay at all.
  assert.equal(ok('build:\n  script: make\n').jobs[0]!.startInSeconds, undefined);
});

test('start_in is required with when: delayed, with the position of the when', () => {
  const e = errors('deploy:\n  script: echo go\n  when: delayed\n');
  assert.equal(e.length, 1);
  assert.match(e[0]!.message, /when: delayed needs start_in/);
  assert.deepEqual([e[0]!.location.line, e[0]!.location.column], [3, 9]);
});

test('start_in without when: delayed is refused (GitLab: start in should be blank)', () => {
  const e = errors('deploy:\n  script: echo go\n  start_in: 5 minutes\n');
  assert.match(e[0]!.message, /start_in is only allowed with when: delayed/);
  assert.deepEqual([e[0]!.location.line, e[0]!.location.column], [3, 3]);
});

test('start_in is at most one week', () => {
  const e = errors('deploy:\n  script: echo go\n  when: delayed\n  start_in: 8 days\n');
  assert.equal(e[0]!.code, 'GANTRY_E_BAD_DURATION');
  assert.match(e[0]!.message, /should not exceed the limit of 1 week/);
  assert.deepEqual([e[0]!.location.line, e[0]!.location.column], [4, 13]);
  ok('deploy:\n  script: echo go\n  when: delayed\n  start_in: 7 days\n');
});

test('start_in must be a duration', () => {
  const e = errors('deploy:\n  script: echo go\n  when: delayed\n  start_in: soon\n');
  assert.equal(e[0]!.code, 'GANTRY_E_BAD_DURATION');
  assert.deepEqual([e[0]!.location.line, e[0]!.location.column], [4, 13]);
});

test('rules: when: delayed takes the rule\'s own start_in', () => {
  const yaml = [
    'deploy:',
    '  script: echo go',
    '  rules:',
    '    - if: $CI_COMMIT_BRANCH == "other"',
    '      when: on_success',
    '    - if: $CI_COMMIT_BRANCH == "main"',
    '      when: delayed',
    '      start_in: 5 minutes',
    '',
  ].join('\n');
  const j = ok(yaml).jobs[0]!;
  assert.equal(j.when, 'delayed');
  assert.equal(j.startInSeconds, 300);
  // The delayed job is not allowed to fail by default, as any on_success job.
  assert.equal(j.allowFailure, false);
});

test('rules: when: delayed without start_in, or start_in without delayed, is refused at the rule', () => {
  const missing = errors('deploy:\n  script: echo go\n  rules:\n    - when: delayed\n');
  assert.match(missing[0]!.message, /rules.*when: delayed needs start_in/);
  assert.deepEqual([missing[0]!.location.line, missing[0]!.location.column], [4, 13]);
  const stray = errors('deploy:\n  script: echo go\n  rules:\n    - when: manual\n      start_in: 1 day\n');
  assert.match(stray[0]!.message, /start_in is only allowed with when: delayed/);
  assert.deepEqual([stray[0]!.location.line, stray[0]!.location.column], [5, 7]);
  const long = errors('deploy:\n  script: echo go\n  rules:\n    - when: delayed\n      start_in: 2 weeks\n');
  assert.match(long[0]!.message, /should not exceed the limit of 1 week/);
});

test('a job with rules has no start_in of its own (GitLab: absence if has_rules?)', () => {
  const e = errors('deploy:\n  script: echo go\n  start_in: 5 minutes\n  rules:\n    - when: delayed\n      start_in: 5 minutes\n');
  assert.match(e[0]!.message, /gives start_in in the rule/);
  assert.deepEqual([e[0]!.location.line, e[0]!.location.column], [3, 3]);
});

test('start_in comes through extends like any keyword', () => {
  const p = ok('.later:\n  when: delayed\n  start_in: 1 hour\ndeploy:\n  extends: .later\n  script: echo go\n');
  assert.equal(p.jobs[0]!.startInSeconds, 3600);
});

test('workflow:rules do not take delayed', () => {
  const e = errors('workflow:\n  rules:\n    - when: delayed\n      start_in: 1 day\njob:\n  script: x\n');
  assert.ok(e.length >= 1);
});
