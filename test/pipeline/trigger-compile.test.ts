// `trigger:` as GitLab reads it. Shapes and keys from GitLab's config entries
// (lib/gitlab/ci/config/entry/trigger.rb: a string is a project, a mapping with `include` a child
// pipeline with `strategy` and `forward`, at most 3 include entries; bridge.rb and processable.rb:
// the keys a trigger job may have, its `when` values); forward defaults from
// app/models/ci/bridge.rb (FORWARD_DEFAULTS); what is passed down from
// lib/gitlab/ci/variables/downstream/generator.rb; the depth limit from
// app/services/ci/create_downstream_pipeline_service.rb (MAX_DESCENDANTS_DEPTH).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePipeline, memoryProjectFiles } from '../../src/pipeline/index.js';
import { childPredefined, compileChildPipeline, downstreamVariables, MAX_DESCENDANTS_DEPTH } from '../../src/pipeline/child.js';
import type { CompiledPipeline, CompileResult, Diagnostic } from '../../src/pipeline/types.js';

const PREDEFINED = { CI_PIPELINE_SOURCE: 'push', CI_COMMIT_BRANCH: 'main', CI_COMMIT_REF_NAME: 'main', CI_COMMIT_SHA: 'abc123' };

function compile(files: Record<string, string>, extra: { pipelineVariables?: Record<string, string> } = {}): CompileResult {
  return compilePipeline('.gitlab-ci.yml', { variables: PREDEFINED, changedFiles: null, files: memoryProjectFiles(files), ...extra });
}

function ok(files: Record<string, string>): CompiledPipeline {
  const r = compile(files);
  assert.equal(r.ok, true, r.ok === false ? r.errors.map((e) => `${e.location.line}:${e.location.column} ${e.message}`).join('\n') : String(r.ok));
  return (r as { pipeline: CompiledPipeline }).pipeline;
}

function errors(files: Record<string, string>): Diagnostic[] {
  const r = compile(files);
  assert.equal(r.ok, false, 'the file is refused');
  return (r as { errors: Diagnostic[] }).errors;
}

const CHILD = 'child-job:\n  script: echo child\n';

test('trigger:include accepts a path, {local: path} and a list of them, GitLab\'s three shapes', () => {
  for (const include of ['child.yml', '{local: child.yml}', '[{local: child.yml}, {local: more.yml}]', '[child.yml]']) {
    const p = ok({ '.gitlab-ci.yml': `build:\n  script: make\nkid:\n  stage: deploy\n  trigger:\n    include: ${include}\n`, 'child.yml': CHILD, 'more.yml': CHILD });
    const kid = p.jobs.find((j) => j.name === 'kid')!;
    assert.ok(kid.trigger, include);
    assert.equal(kid.trigger.include[0], 'child.yml');
    assert.deepEqual(kid.script, []);
  }
});

test('forward defaults are GitLab\'s: yaml_variables true, pipeline_variables false; strategy is off unless depend', () => {
  const p = ok({ '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: child.yml\n', 'child.yml': CHILD });
  assert.deepEqual(p.jobs[0]!.trigger, { include: ['child.yml'], depend: false, forward: { yamlVariables: true, pipelineVariables: false } });
  const q = ok({ '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: child.yml\n    strategy: depend\n    forward: {yaml_variables: false, pipeline_variables: true}\n', 'child.yml': CHILD });
  assert.deepEqual(q.jobs[0]!.trigger, { include: ['child.yml'], depend: true, forward: { yamlVariables: false, pipelineVariables: true } });
});

test('a trigger job may have GitLab\'s bridge keys (stage, needs, rules, when, allow_failure, variables, extends, resource_group, environment)', () => {
  const p = ok({
    '.gitlab-ci.yml': [
      '.base:',
      '  stage: deploy',
      'build:',
      '  script: make',
      'kid:',
      '  extends: .base',
      '  needs: [build]',
      '  variables: {A: "1"}',
      '  rules: [{if: $CI_COMMIT_BRANCH == "main", when: manual}]',
      '  allow_failure: true',
      '  resource_group: prod',
      '  environment: production',
      '  trigger: {include: child.yml}',
      '',
    ].join('\n'),
    'child.yml': CHILD,
  });
  const kid = p.jobs.find((j) => j.name === 'kid')!;
  assert.equal(kid.stage, 'deploy');
  assert.equal(kid.when, 'manual');
  assert.equal(kid.resourceGroup, 'prod');
  assert.equal(kid.environment, 'production');
  assert.deepEqual(kid.variables, { A: '1' });
});

test('a trigger job with script (or another build key) is refused at that key: "config contains unknown keys", as GitLab', () => {
  const errs = errors({ '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: child.yml\n  script: echo no\n  tags: [x]\n', 'child.yml': CHILD });
  assert.deepEqual(
    errs.map((e) => [e.code, e.location.line, e.location.column]),
    [
      ['GANTRY_E_UNKNOWN_KEYWORD', 4, 3],
      ['GANTRY_E_UNKNOWN_KEYWORD', 5, 3],
    ],
  );
  assert.match(errs[0]!.message, /trigger job kid config contains unknown keys: script/);
});

test('default: keywords do not reach a trigger job (GitLab\'s bridge inherits none)', () => {
  const p = ok({ '.gitlab-ci.yml': 'default:\n  before_script: [echo hi]\n  tags: [linux]\nkid:\n  trigger: {include: child.yml}\n', 'child.yml': CHILD });
  assert.deepEqual(p.jobs[0]!.beforeScript, []);
  assert.deepEqual(p.jobs[0]!.tags, []);
});

test('a trigger job\'s when is one of on_success, on_failure, always, manual (GitLab\'s ALLOWED_WHEN): never is refused', () => {
  const errs = errors({ '.gitlab-ci.yml': 'kid:\n  when: never\n  trigger: {include: child.yml}\n', 'child.yml': CHILD });
  assert.equal(errs.length, 1);
  assert.deepEqual([errs[0]!.location.line, errs[0]!.location.column], [2, 9]);
  assert.match(errs[0]!.message, /when: never is only allowed inside rules/);
});

test('multi-project triggers are refused at line:column: `trigger: project/path` and `trigger: {project: ...}`', () => {
  const a = errors({ '.gitlab-ci.yml': 'kid:\n  trigger: group/other\n' });
  assert.deepEqual([a[0]!.code, a[0]!.location.line, a[0]!.location.column], ['GANTRY_E_INVALID_VALUE', 2, 12]);
  assert.match(a[0]!.message, /multi-project pipelines \(trigger: project\) are not supported/);
  const b = errors({ '.gitlab-ci.yml': 'kid:\n  trigger:\n    project: group/other\n    branch: main\n' });
  assert.deepEqual([b[0]!.location.line, b[0]!.location.column], [3, 5]);
  assert.match(b[0]!.message, /multi-project/);
});

test('include: artifact (dynamic child pipelines), project, template and remote are refused at line:column', () => {
  const cases: [string, RegExp, number, number][] = [
    ['[{artifact: gen.yml, job: generate}]', /dynamic child pipelines \(include: artifact\) are not supported/, 4, 24],
    ['[{project: group/x, file: ci.yml}]', /include: project is not supported/, 4, 24],
    ['[{template: Jobs/Build.gitlab-ci.yml}]', /include: template needs a GitLab instance/, 4, 24],
    ['[{remote: "https://example.com/ci.yml"}]', /include: remote is not supported/, 4, 24],
    ['"https://example.com/ci.yml"', /include: remote is not supported/, 4, 22],
  ];
  for (const [include, message, line, column] of cases) {
    const errs = errors({ '.gitlab-ci.yml': `build:\n  script: make\nkid:\n  trigger: {include: ${include}}\n` });
    assert.match(errs[0]!.message, message, include);
    assert.deepEqual([errs[0]!.location.line, errs[0]!.location.column], [line, column], include);
  }
});

test('more than 3 include entries are refused, as GitLab\'s INCLUDE_MAX_SIZE', () => {
  const errs = errors({ '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: [a.yml, b.yml, c.yml, d.yml]\n' });
  assert.match(errs[0]!.message, /maximum is 3/);
});

test('strategy other than depend is refused: "should be depend"', () => {
  const errs = errors({ '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: child.yml\n    strategy: mirror\n' });
  assert.deepEqual([errs[0]!.location.line, errs[0]!.location.column], [4, 15]);
  assert.match(errs[0]!.message, /should be depend/);
});

test('a child compiles with CI_PIPELINE_SOURCE=parent_pipeline: its rules see it, several files merge like an include', () => {
  const files = memoryProjectFiles({
    'a.yml': 'stages: [one, two]\nfirst:\n  stage: one\n  script: echo a\n  rules: [{if: $CI_PIPELINE_SOURCE == "parent_pipeline"}]\n',
    'b.yml': 'second:\n  stage: two\n  script: echo b\nnot-in-child:\n  stage: two\n  script: echo no\n  rules: [{if: $CI_PIPELINE_SOURCE == "push"}]\n',
  });
  const { file, result } = compileChildPipeline(
    { include: ['a.yml', 'b.yml'], depend: true, forward: { yamlVariables: true, pipelineVariables: false } },
    { variables: childPredefined(PREDEFINED), changedFiles: null, files },
  );
  assert.equal(file, 'a.yml, b.yml');
  assert.equal(result.ok, true);
  assert.deepEqual((result as { pipeline: CompiledPipeline }).pipeline.jobs.map((j) => j.name), ['first', 'second']);
});

test('a child whose rules leave no job is filtered, and a missing child file is an error naming it', () => {
  const files = memoryProjectFiles({ 'c.yml': 'only-push:\n  script: x\n  rules: [{if: $CI_PIPELINE_SOURCE == "push"}]\n' });
  const ctx = { variables: childPredefined(PREDEFINED), changedFiles: null, files };
  const spec = { depend: false, forward: { yamlVariables: true, pipelineVariables: false } };
  assert.equal(compileChildPipeline({ include: ['c.yml'], ...spec }, ctx).result.ok, 'filtered');
  const missing = compileChildPipeline({ include: ['nope.yml'], ...spec }, ctx).result;
  assert.equal(missing.ok, false);
  assert.match((missing as { errors: Diagnostic[] }).errors[0]!.message, /nope\.yml/);
});

test('variables passed down: the job\'s and the globals when forward:yaml_variables, pipeline variables only when forward:pipeline_variables', () => {
  const parent = { predefined: PREDEFINED, fileVariables: { GLOBAL: 'g', SHA_COPY: '$CI_COMMIT_SHA' }, pipelineVariables: { FROM_TRIGGER: 't' } };
  const job = { variables: { OWN: 'o-$GLOBAL' } };
  assert.deepEqual(downstreamVariables({ ...job, trigger: { include: ['c.yml'], depend: false, forward: { yamlVariables: true, pipelineVariables: false } } }, parent), {
    GLOBAL: 'g',
    SHA_COPY: 'abc123',
    OWN: 'o-g',
  });
  assert.deepEqual(downstreamVariables({ ...job, trigger: { include: ['c.yml'], depend: false, forward: { yamlVariables: false, pipelineVariables: true } } }, parent), {
    FROM_TRIGGER: 't',
  });
  // inherit: variables narrows the globals handed down, as it narrows what the job sees.
  assert.deepEqual(
    downstreamVariables({ ...job, inheritedVariables: [], trigger: { include: ['c.yml'], depend: false, forward: { yamlVariables: true, pipelineVariables: false } } }, parent),
    { OWN: 'o-' },
  );
});

test('the depth limit is GitLab\'s: two levels below the top pipeline', () => {
  assert.equal(MAX_DESCENDANTS_DEPTH, 2);
});
