// Drives the fixture corpus: every folder under test/fixtures/pipelines is one test case.
// valid/<name>/expected.json is the projected DAG; invalid/<name>/expected-errors.json lists
// the errors (code, position, a piece of the message), all of them, in position order.
// GANTRY_UPDATE_FIXTURES=1 writes a missing expected.json as a draft to be reviewed by hand (the
// test fails until then).

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compilePipeline, findPipelineFile, memoryProjectFiles } from '../../src/pipeline/index.js';
import type { CompileResult } from '../../src/pipeline/types.js';
import { projectPipeline } from './fixture-projection.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/pipelines');
const META = new Set(['context.json', 'expected.json', 'expected-errors.json', 'README.md']);

interface FixtureContext {
  file?: string;
  variables?: Record<string, string>;
  changedFiles?: string[] | null;
  files?: Record<string, string>;
}

const BASE_VARIABLES = {
  CI: 'true',
  CI_PIPELINE_SOURCE: 'push',
  CI_COMMIT_BRANCH: 'main',
  CI_COMMIT_REF_NAME: 'main',
  CI_DEFAULT_BRANCH: 'main',
};

function readTree(dir: string, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(p).isDirectory()) readTree(p, rel, out);
    else if (!(prefix === '' && META.has(name))) out[rel] = readFileSync(p, 'utf8');
  }
  return out;
}

function compileFixture(dir: string): CompileResult {
  const ctxPath = path.join(dir, 'context.json');
  const fctx: FixtureContext = existsSync(ctxPath) ? JSON.parse(readFileSync(ctxPath, 'utf8')) : {};
  const files = memoryProjectFiles({ ...readTree(dir), ...(fctx.files ?? {}) });
  const file = fctx.file ?? findPipelineFile(files);
  assert.ok(file, 'the fixture has no .gantry.yml or .gitlab-ci.yml');
  return compilePipeline(file, {
    variables: { ...BASE_VARIABLES, ...(fctx.variables ?? {}) },
    changedFiles: fctx.changedFiles ?? null,
    files,
  });
}

function fixtures(kind: string): string[] {
  const dir = path.join(ROOT, kind);
  return existsSync(dir) ? readdirSync(dir).filter((n) => statSync(path.join(dir, n)).isDirectory()).sort() : [];
}

describe('valid pipelines compile to the expected DAG', () => {
  for (const name of fixtures('valid')) {
    test(name, () => {
      const dir = path.join(ROOT, 'valid', name);
      const result = compileFixture(dir);
      if (result.ok === false) {
        assert.fail(`expected a valid pipeline, got:\n${result.errors.map((e) => `${e.location.file}:${e.location.line}:${e.location.column} ${e.code} ${e.message}`).join('\n')}`);
      }
      const actual = result.ok === 'filtered' ? { filtered: result.reason } : projectPipeline(result.pipeline);
      const expectedPath = path.join(dir, 'expected.json');
      if (!existsSync(expectedPath) && process.env.GANTRY_UPDATE_FIXTURES === '1') {
        // A draft is the compiler's own answer: it must be checked against GitLab's semantics by
        // hand, so the test fails until it has been (and rerun).
        writeFileSync(expectedPath, `${JSON.stringify(actual, null, 2)}\n`);
        assert.fail(`${expectedPath} was written as a draft: review it against GitLab's documentation, then rerun`);
      }
      const expected = JSON.parse(readFileSync(expectedPath, 'utf8'));
      assert.deepStrictEqual(actual, expected);
    });
  }
});

interface ExpectedError {
  code: string;
  line: number;
  column: number;
  file?: string;
  messageIncludes?: string;
}

describe('invalid pipelines report every error at its position', () => {
  for (const name of fixtures('invalid')) {
    test(name, () => {
      const dir = path.join(ROOT, 'invalid', name);
      const result = compileFixture(dir);
      const expected: ExpectedError[] = JSON.parse(readFileSync(path.join(dir, 'expected-errors.json'), 'utf8'));
      assert.equal(result.ok, false, 'expected the pipeline to be rejected');
      if (result.ok !== false) return;
      const actual = result.errors.map((e) => ({
        code: e.code as string,
        file: e.location.file,
        line: e.location.line,
        column: e.location.column,
        message: e.message,
      }));
      const show = actual.map((a) => `${a.file}:${a.line}:${a.column} ${a.code} ${a.message}`).join('\n');
      assert.equal(actual.length, expected.length, `error count differs; got:\n${show}`);
      expected.forEach((exp, i) => {
        const act = actual[i]!;
        assert.equal(act.code, exp.code, `error ${i + 1}; got:\n${show}`);
        assert.equal(`${act.line}:${act.column}`, `${exp.line}:${exp.column}`, `position of error ${i + 1} (${exp.code}); got:\n${show}`);
        if (exp.file) assert.equal(act.file, exp.file, `file of error ${i + 1}`);
        if (exp.messageIncludes) assert.ok(act.message.includes(exp.messageIncludes), `message of error ${i + 1} should include ${JSON.stringify(exp.messageIncludes)}; got ${JSON.stringify(act.message)}`);
        assert.ok(!/\n\s+at /.test(act.message), 'no stack trace in messages');
      });
    });
  }
});
