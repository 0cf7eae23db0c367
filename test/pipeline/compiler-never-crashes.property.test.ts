// The compiler never crashes (issue 20): thousands of generated and mutated pipeline files, each
// compiled with included files beside it; every outcome is a pipeline, a filtered pipeline, or
// errors that each carry file:line:column, and never GANTRY_E_COMPILER_BUG or a throw.
//
// Two kinds of input, each run twice: with a fixed seed (the same cases on every machine, so a
// failure in CI reproduces anywhere) and with a fresh seed (new cases every run; the seed is
// printed, and GANTRY_FUZZ_SEED=<seed> replays it). fast-check shrinks a failure to a small file.
//
// The generators know GitLab's keywords and the shapes their values take, and mix well-formed
// values with wrong ones, so cases reach deep into the compiler (extends chains, needs between
// the generated jobs, rules, includes with inputs, parallel matrices) instead of all stopping at
// the first type check.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { compilePipeline, memoryProjectFiles } from '../../src/pipeline/index.js';
import { GLOBAL_KEYWORDS, JOB_KEYWORDS, UNSUPPORTED_JOB_KEYWORDS } from '../../src/pipeline/keywords.js';

const FIXED_SEED = 20_261_207;
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/pipelines');

const JOB_NAMES = ['build', 'test', 'deploy', '.base', '.tpl', 'lint 1/2', 'a', 'b'];
const INCLUDED = ['ci/a.yml', 'ci/b.yml', 'templates/t.yml'];
const WORDS = [
  '', 'x', 'main', 'build', 'test', 'deploy', '.base', 'always', 'never', 'manual', 'on_success', 'on_failure', 'delayed',
  '1h', '30 minutes', '10s', '3 days', 'never', '$CI_COMMIT_BRANCH', '${CI_COMMIT_BRANCH}', '$[[ inputs.name ]]', '$[[ matrix.OS ]]',
  '$CI_COMMIT_BRANCH == "main"', '$A =~ /^v\\d+/', '$X != null && ($Y || $Z)', '(', '$', '**/*.txt', 'dist/', '*', 'ci/*.yml',
  'ci/a.yml', 'templates/t.yml', 'review/$CI_COMMIT_REF_SLUG', 'https://$CI_ENVIRONMENT_SLUG.example', 'push', 'merge_request_event',
  'depend', 'stop', 'prepare', 'production', 'pull', 'push-pull', 'default', 'script_failure', 'api_failure', '%s',
];

/** Any YAML value, up to `depth` levels of nesting, keys drawn from GitLab's words and a few others. */
const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...WORDS),
    fc.string({ maxLength: 12 }),
    fc.integer({ min: -5, max: 5000 }),
    fc.boolean(),
    fc.constant(null),
    fc.double({ noNaN: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...JOB_KEYWORDS, ...GLOBAL_KEYWORDS, 'if', 'when', 'paths', 'key', 'name', 'url', 'local', 'inputs', 'matrix', 'job', 'exit_codes', 'x'), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const jobName = fc.constantFrom(...JOB_NAMES);
const ruleIf = fc.constantFrom('$CI_COMMIT_BRANCH == "main"', '$CI_PIPELINE_SOURCE == "push"', '$X', '$A =~ /b/ && $C', '${V} == "x"', '$X ==', '(');
const rule = fc.record(
  { if: ruleIf, when: fc.constantFrom('always', 'never', 'manual', 'on_success', 'delayed'), changes: fc.array(fc.constantFrom('*.md', 'src/**/*', ''), { maxLength: 2 }), exists: fc.array(fc.constantFrom('ci/a.yml', '', '**/*.yml'), { maxLength: 2 }), allow_failure: fc.boolean(), variables: fc.dictionary(fc.constantFrom('A', 'B'), fc.constantFrom('1', '$A')) },
  { requiredKeys: [] },
);

/** Values in the shape each keyword takes, or close to it: what reaches past the first check. */
const SHAPED: Partial<Record<string, fc.Arbitrary<unknown>>> = {
  script: fc.oneof(fc.constantFrom('echo hi', 'true'), fc.array(fc.oneof(fc.constantFrom('echo $A', 'exit 1'), fc.array(fc.constant('nested'), { maxLength: 2 })), { maxLength: 3 })),
  stage: fc.constantFrom('build', 'test', 'deploy', '.pre', '.post', 'nope'),
  needs: fc.array(fc.oneof(jobName, fc.record({ job: jobName, artifacts: fc.boolean(), optional: fc.boolean(), parallel: fc.record({ matrix: fc.array(fc.dictionary(fc.constantFrom('OS', 'V'), fc.oneof(fc.constantFrom('linux', '$[[ matrix.OS ]]'), fc.array(fc.constantFrom('a', 'b'), { maxLength: 2 }))), { maxLength: 2 }) }) }, { requiredKeys: ['job'] })), { maxLength: 3 }),
  dependencies: fc.array(jobName, { maxLength: 3 }),
  extends: fc.oneof(jobName, fc.array(jobName, { maxLength: 3 })),
  rules: fc.array(rule, { maxLength: 3 }),
  only: fc.oneof(fc.array(fc.constantFrom('main', 'tags', '/^rel/'), { maxLength: 2 }), fc.record({ refs: fc.array(fc.constantFrom('main', 'branches'), { maxLength: 2 }), variables: fc.array(ruleIf, { maxLength: 2 }) }, { requiredKeys: [] })),
  when: fc.constantFrom('always', 'never', 'manual', 'on_success', 'on_failure', 'delayed'),
  allow_failure: fc.oneof(fc.boolean(), fc.record({ exit_codes: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.array(fc.integer({ min: -1, max: 300 }), { maxLength: 3 })) })),
  retry: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.record({ max: fc.integer({ min: 0, max: 3 }), when: fc.oneof(fc.constantFrom('always', 'script_failure', 'bogus'), fc.array(fc.constantFrom('api_failure', 'unknown_failure'), { maxLength: 2 })), exit_codes: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 2 }) }, { requiredKeys: [] })),
  timeout: fc.constantFrom('1h', '30 minutes', '0s', 'soon', '1 day 2 hours'),
  parallel: fc.oneof(fc.integer({ min: 0, max: 201 }), fc.record({ matrix: fc.array(fc.dictionary(fc.constantFrom('OS', 'V', 'ARCH'), fc.oneof(fc.constantFrom('x', 'y'), fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }))), { maxLength: 3 }) })),
  artifacts: fc.record({ paths: fc.oneof(fc.array(fc.constantFrom('dist/', '$DIR/out', '**/*.txt'), { maxLength: 2 }), fc.constant('dist/')), exclude: fc.array(fc.constantFrom('*.log'), { maxLength: 1 }), when: fc.constantFrom('always', 'on_failure', 'sometimes'), expire_in: fc.constantFrom('1 week', 'never', 'later'), name: fc.constantFrom('$CI_JOB_NAME', 'a'), reports: fc.record({ dotenv: fc.oneof(fc.constant('build.env'), fc.array(fc.constant('a.env'), { maxLength: 2 })), junit: fc.constant('report.xml') }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  cache: fc.oneof(
    fc.record({ key: fc.oneof(fc.constantFrom('k', '$CI_COMMIT_REF_SLUG', ''), fc.record({ files: fc.array(fc.constantFrom('package-lock.json', 'Gemfile.lock'), { maxLength: 3 }), prefix: fc.constant('$CI_JOB_NAME') }, { requiredKeys: [] })), paths: fc.oneof(fc.array(fc.constantFrom('node_modules/', '.cache'), { maxLength: 2 }), fc.constant('node_modules/')), policy: fc.constantFrom('pull', 'push', 'pull-push', '$POLICY'), when: fc.constantFrom('on_success', 'always'), fallback_keys: fc.array(fc.constantFrom('main', 'k'), { maxLength: 2 }) }, { requiredKeys: [] }),
    fc.array(fc.record({ key: fc.constant('k'), paths: fc.array(fc.constant('a'), { maxLength: 1 }) }), { maxLength: 5 }),
  ),
  environment: fc.oneof(fc.constantFrom('production', 'review/$CI_COMMIT_REF_SLUG'), fc.record({ name: fc.constantFrom('production', 'review/$CI_COMMIT_REF_NAME', ''), url: fc.constantFrom('https://x.example', '$URL'), action: fc.constantFrom('start', 'stop', 'prepare', 'bogus'), deployment_tier: fc.constantFrom('production', 'staging', 'nope'), on_stop: jobName }, { requiredKeys: [] })),
  variables: fc.dictionary(fc.constantFrom('A', 'B', 'C', 'GIT_DEPTH', 'CI_DEBUG_TRACE'), fc.oneof(fc.constantFrom('1', '$A', '${B}x', ''), fc.constant(null), fc.integer(), fc.record({ value: fc.constantFrom('v', '$A'), description: fc.constant('d'), expand: fc.boolean(), options: fc.array(fc.constant('v'), { maxLength: 2 }) }, { requiredKeys: [] }))),
  inherit: fc.record({ default: fc.oneof(fc.boolean(), fc.array(fc.constantFrom('before_script', 'retry'), { maxLength: 2 })), variables: fc.oneof(fc.boolean(), fc.array(fc.constantFrom('A', 'B'), { maxLength: 2 })) }, { requiredKeys: [] }),
  tags: fc.array(fc.constantFrom('linux', '$RUNNER', ''), { maxLength: 2 }),
  resource_group: fc.constantFrom('prod', '$CI_ENVIRONMENT_NAME'),
  coverage: fc.constantFrom('/Coverage: (\\d+)%/', '/(/', 'plain'),
  id_tokens: fc.dictionary(fc.constantFrom('ID_TOKEN', 'T2'), fc.record({ aud: fc.oneof(fc.constant('https://x.example'), fc.array(fc.constant('a'), { maxLength: 2 })) }, { requiredKeys: [] })),
  interruptible: fc.boolean(),
  priority: fc.integer({ min: -2000, max: 2000 }),
};

const keyword = (names: readonly string[]) => fc.constantFrom(...names, ...Object.keys(UNSUPPORTED_JOB_KEYWORDS).slice(0, 3), 'bogus');

/** A job: some of its keywords, each with a shaped value (mostly) or any value (sometimes). */
const job = fc
  .uniqueArray(keyword(JOB_KEYWORDS), { minLength: 0, maxLength: 7 })
  .chain((keys) => fc.tuple(...keys.map((k) => fc.tuple(fc.constant(k), fc.oneof({ weight: 4, arbitrary: SHAPED[k] ?? anyValue }, { weight: 1, arbitrary: anyValue })))))
  .map((entries) => Object.fromEntries(entries));

const include = fc.oneof(
  fc.constantFrom(...INCLUDED, 'ci/*.yml', 'ci/**.yml', '/ci/a.yml', 'missing.yml', '$DIR/a.yml'),
  fc.array(fc.oneof(fc.constantFrom(...INCLUDED), fc.record({ local: fc.constantFrom(...INCLUDED, 'ci/*.yml'), inputs: fc.dictionary(fc.constantFrom('name', 'n', 'flag', 'other'), fc.oneof(fc.constantFrom('x', 'main'), fc.integer(), fc.boolean(), fc.array(fc.constant('a'), { maxLength: 2 }))), rules: fc.array(rule, { maxLength: 2 }) }, { requiredKeys: [] }), fc.record({ template: fc.constant('Auto-DevOps.gitlab-ci.yml') }), fc.record({ project: fc.constant('g/p'), file: fc.constant('x.yml') })), { maxLength: 4 }),
);

/** A whole file: global keywords and jobs; `withSpec` puts a `spec: inputs:` header document first. */
const pipelineDoc = fc.record(
  {
    stages: fc.oneof(fc.array(fc.constantFrom('build', 'test', 'deploy', '.pre', 'extra'), { maxLength: 4 }), anyValue),
    variables: SHAPED.variables!,
    default: fc.record({ before_script: fc.array(fc.constant('echo pre'), { maxLength: 2 }), retry: SHAPED.retry!, tags: SHAPED.tags!, timeout: SHAPED.timeout!, image: fc.constant('alpine') }, { requiredKeys: [] }),
    workflow: fc.record({ rules: fc.array(rule, { maxLength: 3 }), name: fc.constantFrom('pipeline for $CI_COMMIT_BRANCH', '') }, { requiredKeys: [] }),
    include,
    jobs: fc.dictionary(jobName, job, { maxKeys: 6 }),
  },
  { requiredKeys: ['jobs'] },
);

const spec = fc.record({ inputs: fc.dictionary(fc.constantFrom('name', 'n', 'flag'), fc.record({ default: fc.oneof(fc.constantFrom('x', ''), fc.integer(), fc.boolean()), type: fc.constantFrom('string', 'number', 'boolean', 'array', 'object'), options: fc.array(fc.constantFrom('x', 'y'), { maxLength: 2 }), regex: fc.constantFrom('^x', '(') }, { requiredKeys: [] })) });

function yamlOf(doc: { jobs: Record<string, unknown> } & Record<string, unknown>, header: unknown): string {
  const { jobs, ...globals } = doc;
  const body = stringify({ ...globals, ...jobs }, { aliasDuplicateObjects: false });
  return header === null ? body : `${stringify({ spec: header })}---\n${body}`;
}

/** A project: the pipeline file and the files it may include (some with a spec header). */
const generatedProject = fc
  .tuple(pipelineDoc, fc.array(fc.tuple(pipelineDoc, fc.option(spec, { nil: null })), { minLength: INCLUDED.length, maxLength: INCLUDED.length }))
  .map(([main, included]) => {
    const files: Record<string, string> = { '.gitlab-ci.yml': yamlOf(main, null) };
    INCLUDED.forEach((p, i) => (files[p] = yamlOf(included[i]![0], included[i]![1])));
    return files;
  });

function fixtureTexts(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) fixtureTexts(p, out);
    else if (name.endsWith('.yml')) out.push(readFileSync(p, 'utf8'));
  }
  return out;
}

const MUTATION_INSERTS = ['-', ':', ' ', '\n', '[', ']', '{', '}', '"', "'", '*', '&a', '*a', '<<: *a', '!reference [.base, script]', '!reference [', '$', '$[[ inputs.name ]]', 'needs: [build]', 'extends: .base', '  ', '\t', '#', '---\n', '~', '\u0000', '\ufeff'];
const mutation = fc.record({ op: fc.integer({ min: 0, max: 4 }), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }), insert: fc.constantFrom(...MUTATION_INSERTS), line: fc.nat() });

/** A fixture from the corpus, damaged by a few text edits (parts of YAML, GitLab tags, anchors). */
function mutatedFixtures(): fc.Arbitrary<Record<string, string>> {
  const texts = fixtureTexts(FIXTURES);
  return fc.tuple(fc.constantFrom(...texts), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([text, edits]) => {
    let t = text;
    for (const e of edits) {
      const i = e.at % (t.length + 1);
      const lines = t.split('\n');
      if (e.op === 0) t = t.slice(0, i) + t.slice(i + e.len);
      else if (e.op === 1) t = t.slice(0, i) + e.insert + t.slice(i);
      else if (e.op === 2) {
        lines.splice(e.line % lines.length, 1);
        t = lines.join('\n');
      } else if (e.op === 3) {
        lines.splice(e.line % lines.length, 0, lines[e.at % lines.length]!);
        t = lines.join('\n');
      } else t = t.slice(0, i) + t.slice(i, i + e.len).repeat(3) + t.slice(i + e.len);
    }
    return { '.gitlab-ci.yml': t, 'ci/a.yml': text };
  });
}

/** The property: a pipeline, a filtered pipeline, or errors at a file:line:column, never a compiler bug. */
function compilesOrExplains(files: Record<string, string>, changedFiles: string[] | null): void {
  const res = compilePipeline('.gitlab-ci.yml', {
    variables: { CI: 'true', CI_COMMIT_BRANCH: 'main', CI_COMMIT_REF_NAME: 'main', CI_DEFAULT_BRANCH: 'main', CI_PIPELINE_SOURCE: 'push', DIR: 'ci' },
    changedFiles,
    files: memoryProjectFiles(files),
  });
  const where = (d: { location: { file: string; line: number; column: number } }) =>
    typeof d.location.file === 'string' && d.location.file.length > 0 && Number.isInteger(d.location.line) && d.location.line >= 1 && Number.isInteger(d.location.column) && d.location.column >= 1;
  if (res.ok === false) {
    assert.ok(res.errors.length > 0, 'a failed compile names at least one error');
    for (const e of res.errors) {
      assert.notEqual(e.code, 'GANTRY_E_COMPILER_BUG', e.message);
      assert.ok(where(e), `${e.code} without a file:line:column: ${JSON.stringify(e.location)}`);
      assert.ok(e.message.length > 0);
    }
  }
  for (const w of res.ok === true ? res.pipeline.warnings : res.warnings) assert.ok(where(w), `warning ${w.code} without a file:line:column`);
  if (res.ok === true) {
    const names = new Set(res.pipeline.jobs.map((j) => j.name));
    assert.equal(names.size, res.pipeline.jobs.length, 'job names are unique');
    for (const j of res.pipeline.jobs) {
      assert.ok(j.name.length > 0);
      assert.ok(res.pipeline.stages.includes(j.stage), `job ${j.name}'s stage ${j.stage} is one of the pipeline's`);
      for (const n of j.needs) assert.ok(names.has(n.job) || n.optional, `job ${j.name} needs ${n.job}, which is not in the pipeline`);
    }
  }
}

const changed = fc.option(fc.array(fc.constantFrom('README.md', 'src/a.ts', 'ci/a.yml'), { maxLength: 3 }), { nil: null });

/** GANTRY_FUZZ_SEED replays a fresh-seed failure; otherwise each run draws new cases. */
const freshSeed = process.env.GANTRY_FUZZ_SEED ? Number(process.env.GANTRY_FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;

function check(t: TestContext, input: fc.Arbitrary<Record<string, string>>, seed: number, numRuns: number): void {
  t.diagnostic(`seed ${seed} (replay: GANTRY_FUZZ_SEED=${seed}), ${numRuns} cases`);
  fc.assert(
    fc.property(input, changed, (files, changedFiles) => compilesOrExplains(files, changedFiles)),
    { seed, numRuns, endOnFailure: false },
  );
}

describe('the compiler never crashes', () => {
  it('generated projects (jobs, globals, includes with spec inputs), fixed seed: a pipeline or errors at file:line:column', (t) => check(t, generatedProject, FIXED_SEED, 3000));
  it('generated projects, a fresh seed printed for replay', (t) => check(t, generatedProject, freshSeed, 1000));
  it('mutated fixtures, fixed seed: a pipeline or errors at file:line:column', (t) => check(t, mutatedFixtures(), FIXED_SEED, 3000));
  it('mutated fixtures, a fresh seed printed for replay', (t) => check(t, mutatedFixtures(), freshSeed, 1000));
});
