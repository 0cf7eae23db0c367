// Lint before commit over HTTP (POST /projects/:project/lint), on SQLite: a file's text compiled
// with the ref's other files (an include from the repository), for a chosen source; errors at
// their lines and columns; the jobs rules leave out, each with why; nothing stored.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';

interface Lint {
  valid: boolean;
  file: string;
  ref: string;
  errors: Array<{ file: string; line: number; column: number; code: string; message: string }>;
  filtered: string | null;
  stages: string[];
  jobs: Array<{ name: string; stage: string; needs: string[] | null; when: string; allowFailure: boolean }>;
  left: Array<{ name: string; reason: string }>;
}

describe('lint over HTTP', () => {
  let h: Harness;
  let repo: Sandbox;
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    repo = sandbox({ '.gitlab-ci.yml': 'old:\n  script: [echo]\n', 'ci/test.yml': 'unit:\n  stage: test\n  script: [npm test]\n' });
    assert.equal((await h.api('POST', '/projects', { name: 'app', gitUrl: repo.repo })).status, 201);
  });
  after(async () => {
    await h.close();
    repo.cleanup();
  });

  const lint = async (body: unknown, status = 200) => {
    const res = await h.api('POST', '/projects/app/lint', body);
    const text = await res.text();
    assert.equal(res.status, status, text);
    return JSON.parse(text) as Lint;
  };

  it("the pasted text replaces the ref's pipeline file and includes the ref's other files; rules leave jobs out and say why", async () => {
    const content = [
      'include: ci/test.yml',
      'build:',
      '  stage: build',
      '  script: [make]',
      'deploy:',
      '  stage: deploy',
      '  needs: [build]',
      '  rules:',
      '    - if: $CI_COMMIT_BRANCH == "release"',
      '  script: [deploy]',
      'docs:',
      '  script: [mkdocs]',
      '  rules:',
      '    - if: $CI_PIPELINE_SOURCE == "push"',
      '      when: never',
      '    - when: manual',
      '',
    ].join('\n');
    const r = await lint({ content });
    assert.equal(r.valid, true);
    assert.deepEqual([r.file, r.ref], ['.gitlab-ci.yml', 'main']);
    assert.deepEqual(r.jobs.map((j) => [j.name, j.stage]).sort(), [['build', 'build'], ['unit', 'test']]);
    assert.deepEqual(r.left, [
      { name: 'deploy', reason: 'no rule of its rules (line 9) matched' },
      { name: 'docs', reason: 'the rule at line 14 says when: never' },
    ]);
    // Another source: the web, where docs is manual and no rule matches deploy still.
    const web = await lint({ content, source: 'web' });
    assert.deepEqual(web.jobs.find((j) => j.name === 'docs'), { name: 'docs', stage: 'test', needs: null, when: 'manual', allowFailure: false });
    // A merge request pipeline: jobs without rules or only: are GitLab's branch-and-tag jobs.
    const mr = await lint({ content: 'a:\n  script: [echo]\nb:\n  rules: [{when: always}]\n  script: [echo]\n', source: 'merge_request_event' });
    assert.deepEqual(mr.jobs.map((j) => j.name), ['b']);
    assert.match(mr.left[0]!.reason, /runs for branches and tags/);
    // Nothing was stored.
    assert.deepEqual(((await (await h.api('GET', '/projects/app/pipelines')).json()) as { items: unknown[] }).items, []);
  });

  it('every error at its file, line and column; an unknown ref is 422 (as for a trigger); a body that is not a file is 400', async () => {
    const r = await lint({ content: 'build:\n  stage: nope\n  script: [make]\ntest:\n  needs: [missing]\n  script: [t]\n' });
    assert.equal(r.valid, false);
    assert.deepEqual(r.errors.map((e) => [e.file, e.line, e.column, e.code]), [
      ['.gitlab-ci.yml', 2, 10, 'GANTRY_E_UNDEFINED_STAGE'],
      ['.gitlab-ci.yml', 5, 11, 'GANTRY_E_NEEDS_UNKNOWN'],
    ]);
    const bad = await h.api('POST', '/projects/app/lint', { content: 'a:\n  script: [x]\n', ref: 'no-such-branch' });
    assert.equal(bad.status, 422);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'GANTRY_E_REF_NOT_FOUND');
    assert.equal((await h.api('POST', '/projects/app/lint', { text: 'a' })).status, 400);
  });
});
