// The conformance corpus (issue 20): pipeline files shaped after public GitLab projects' own, each
// compiled for the events that matter to it through the real compiler, with the predefined
// variables a server gives that event (src/variables/predefined.ts), and compared with what GitLab
// creates. test/pipeline/corpus/<name>/ holds the file, its includes and expected.json; every
// expectation there was settled from GitLab's documentation or source, cited beside it ("why").
//
// A scenario may carry a `knownDifference`: GitLab's answer stays in `expect`, Gantry's in
// `knownDifference.gantry`, and the test checks that Gantry still answers exactly that, so that a
// fix makes it fail and the entry is then removed (docs/PIPELINE.md, "Conformance corpus").

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compilePipeline, memoryProjectFiles } from '../../src/pipeline/index.js';
import type { CompileResult, CompiledPipeline } from '../../src/pipeline/types.js';
import { pipelineVariables } from '../../src/variables/predefined.js';
import type { PipelineSource } from '../../src/domain/status.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/pipeline/corpus');

interface ExpectedJob {
  stage: string;
  when?: string; // default on_success
  allowFailure?: boolean | { exitCodes: number[] }; // default false
  needs?: string[]; // absent: no `needs:` (waits for earlier stages)
  variables?: Record<string, string>; // a subset of the job's effective variables (file's, job's, then the trigger's)
  interruptible?: boolean;
  environment?: string;
  resourceGroup?: string;
}

type Outcome =
  | { jobs: Record<string, ExpectedJob>; warnings?: string[] }
  | { noPipeline: string }
  | { error: string };

interface Scenario {
  name: string;
  event: { source: PipelineSource; ref: string; tag?: boolean };
  /** The project's full path (CI_PROJECT_PATH) when not the file's. */
  project?: string;
  variables?: Record<string, string>;
  changedFiles?: string[] | null;
  files?: Record<string, string>;
  expect: Outcome;
  why?: string;
  knownDifference?: { reason: string; gantry: Outcome };
}

interface CorpusEntry {
  modelledOn: string;
  project?: string;
  scenarios: Scenario[];
}

function readTree(dir: string, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(p).isDirectory()) readTree(p, rel, out);
    else if (rel !== 'expected.json') out[rel] = readFileSync(p, 'utf8');
  }
  return out;
}

function compileScenario(dir: string, entry: CorpusEntry, s: Scenario): CompileResult {
  const files = memoryProjectFiles({ ...readTree(dir), ...(s.files ?? {}) });
  const mr = s.event.source === 'merge_request_event';
  const variables = pipelineVariables({
    projectId: 1,
    projectName: s.project ?? entry.project ?? 'grp/proj',
    repositoryUrl: 'https://git.example.com/grp/proj.git',
    ref: s.event.ref,
    refKind: s.event.tag ? 'tag' : 'branch',
    sha: 'c0ffee'.padEnd(40, '0'),
    beforeSha: null,
    commitMessage: 'a commit',
    commitAuthor: 'A Person <a@example.com>',
    commitTimestamp: null,
    defaultBranch: 'main',
    source: s.event.source,
    ...(mr
      ? { mergeRequest: { iid: 7, title: 'A change', sourceBranch: s.event.ref, targetBranch: 'main', refPath: 'refs/merge-requests/7/head', diffBaseSha: null, sourceProjectUrl: null } }
      : {}),
  });
  return compilePipeline('.gitlab-ci.yml', {
    variables,
    pipelineVariables: s.variables ?? {},
    changedFiles: s.changedFiles === undefined ? null : s.changedFiles,
    files,
  });
}

/** Every way the result differs from the outcome, as lines a person can read. */
function differences(result: CompileResult, want: Outcome, trigger: Record<string, string>): string[] {
  const out: string[] = [];
  if ('error' in want) {
    if (result.ok !== false) return [`GitLab rejects the file (${want.error}); Gantry ${result.ok === true ? 'compiled it' : 'made no pipeline'}`];
    if (!result.errors.some((e) => e.message.includes(want.error))) out.push(`no error mentions ${JSON.stringify(want.error)}: ${result.errors.map((e) => e.message).join(' | ')}`);
    return out;
  }
  if ('noPipeline' in want) {
    if (result.ok === 'filtered') return [];
    return [`GitLab creates no pipeline (${want.noPipeline}); Gantry ${result.ok ? `created jobs ${result.pipeline.jobs.map((j) => j.name).join(', ')}` : `rejected it: ${result.errors.map((e) => e.message).join(' | ')}`}`];
  }
  if (result.ok === false) return [`Gantry rejected the file: ${result.errors.map((e) => `${e.location.line}:${e.location.column} ${e.message}`).join(' | ')}`];
  if (result.ok === 'filtered') return [`Gantry created no pipeline (${result.reason})`];
  const p = result.pipeline;
  const got = new Map(p.jobs.map((j) => [j.name, j]));
  const missing = Object.keys(want.jobs).filter((n) => !got.has(n));
  const extra = [...got.keys()].filter((n) => !(n in want.jobs));
  if (missing.length) out.push(`missing jobs: ${missing.join(', ')}`);
  if (extra.length) out.push(`extra jobs: ${extra.join(', ')}`);
  for (const [name, w] of Object.entries(want.jobs)) {
    const j = got.get(name);
    if (!j) continue;
    const check = (what: string, actual: unknown, expected: unknown): void => {
      if (JSON.stringify(actual) !== JSON.stringify(expected)) out.push(`${name}: ${what} is ${JSON.stringify(actual)}, GitLab: ${JSON.stringify(expected)}`);
    };
    check('stage', j.stage, w.stage);
    check('when', j.when, w.when ?? 'on_success');
    check('allow_failure', j.allowFailure, w.allowFailure ?? false);
    if (w.needs === undefined) check('needs', j.needsMode === 'dag' ? j.needs.map((n) => n.job) : 'stages', 'stages');
    else check('needs', j.needsMode === 'dag' ? j.needs.map((n) => n.job).sort() : 'stages', [...w.needs].sort());
    if (w.interruptible !== undefined) check('interruptible', j.interruptible, w.interruptible);
    if (w.environment !== undefined) check('environment', j.environment, w.environment);
    if (w.resourceGroup !== undefined) check('resource_group', j.resourceGroup, w.resourceGroup);
    if (w.variables) {
      const effective = { ...effectiveVariables(p, name), ...trigger };
      for (const [k, v] of Object.entries(w.variables)) check(`variable ${k}`, effective[k] ?? null, v);
    }
  }
  for (const kw of want.warnings ?? []) {
    if (!p.warnings.some((d) => d.code === 'GANTRY_W_IGNORED_KEYWORD' && d.message.includes(kw))) out.push(`no warning that \`${kw}\` is ignored`);
  }
  return out;
}

function effectiveVariables(p: CompiledPipeline, name: string): Record<string, string> {
  const j = p.jobs.find((x) => x.name === name)!;
  const globals = j.inheritedVariables ? Object.fromEntries(Object.entries(p.variables).filter(([k]) => j.inheritedVariables!.includes(k))) : p.variables;
  return { ...globals, ...j.variables };
}

const entries = readdirSync(ROOT)
  .filter((n) => statSync(path.join(ROOT, n)).isDirectory())
  .sort();

describe('the conformance corpus compiles as GitLab creates its pipelines', () => {
  test('holds at least 30 pipeline files', () => {
    assert.ok(entries.length >= 30, `${entries.length} corpus files`);
  });
  for (const name of entries) {
    test(name, () => {
      const dir = path.join(ROOT, name);
      const entry: CorpusEntry = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));
      assert.ok(readFileSync(path.join(dir, '.gitlab-ci.yml'), 'utf8').startsWith('# '), 'the file opens with a comment naming what it mirrors');
      assert.ok(entry.scenarios.length >= 2, 'two scenarios or more');
      const report: string[] = [];
      for (const s of entry.scenarios) {
        const result = compileScenario(dir, entry, s);
        const diff = differences(result, s.expect, s.variables ?? {});
        if (s.knownDifference) {
          if (diff.length === 0) report.push(`[${s.name}] now matches GitLab: remove its knownDifference (${s.knownDifference.reason})`);
          const still = differences(result, s.knownDifference.gantry, s.variables ?? {});
          if (still.length) report.push(`[${s.name}] the known difference changed:\n    ${still.join('\n    ')}`);
        } else if (diff.length) report.push(`[${s.name}]\n    ${diff.join('\n    ')}`);
      }
      assert.equal(report.length, 0, `${name} differs from GitLab:\n  ${report.join('\n  ')}`);
    });
  }
});
