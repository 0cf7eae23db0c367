// The rules of `artifacts:reports:dotenv` without processes: the keyword as the compiler reads it,
// and GitLab's dotenv format as src/domain/dotenv.ts parses it. Each format rule is from GitLab's
// parser and its spec (app/services/ci/parse_dotenv_artifact_service.rb,
// spec/services/ci/parse_dotenv_artifact_service_spec.rb), the key rule from
// app/models/concerns/ci/has_variable.rb; the end-to-end tests are test/cli/run-dotenv.test.ts
// (gantry run), test/server/dotenv-protocol.test.ts and test/fleet/dotenv.test.ts (agents).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePipeline, memoryProjectFiles } from '../../src/pipeline/index.js';
import { dotenvProblem, mergeDotenv, parseDotenv, type DotenvResult } from '../../src/domain/dotenv.js';

function compile(yaml: string) {
  return compilePipeline('.gantry.yml', { variables: {}, changedFiles: null, files: memoryProjectFiles({ '.gantry.yml': yaml }) });
}

const one = (text: string): DotenvResult => parseDotenv([{ name: 'a.env', text }]);
const vars = (r: DotenvResult) => (r.ok ? Object.fromEntries(r.variables.map((v) => [v.key, v.value])) : r.error);

describe('artifacts:reports:dotenv in the compiler', () => {
  it('takes a path or a list of paths, beside junit, with no warning; a job with only reports keeps its artifacts spec', () => {
    const r = compile(`a:
  script: [x]
  artifacts: { reports: { dotenv: build.env } }
b:
  script: [x]
  artifacts: { reports: { dotenv: [one.env, "$CI_JOB_NAME.env"], junit: r.xml } }
`);
    assert.equal(r.ok, true, JSON.stringify(r));
    if (!r.ok) return;
    assert.deepEqual(r.pipeline.jobs[0]!.artifacts!.reports, { junit: [], dotenv: ['build.env'] });
    assert.deepEqual(r.pipeline.jobs[1]!.artifacts!.reports, { junit: ['r.xml'], dotenv: ['one.env', '$CI_JOB_NAME.env'] });
    assert.deepEqual(r.pipeline.warnings.map((w) => w.message), []);
  });

  it('a dotenv that is not a path or a list of paths is an error at its position', () => {
    const r = compile(`a:
  script: [x]
  artifacts: { reports: { dotenv: { file: a.env } } }
`);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.errors[0]!.code, 'GANTRY_E_INVALID_VALUE');
    assert.match(r.errors[0]!.message, /artifacts:reports:dotenv/);
  });
});

describe("GitLab's dotenv format", () => {
  it('KEY=VALUE lines; key and value stripped; quotes, # and later = are part of the value; an empty value is kept (the service spec)', () => {
    assert.deepEqual(vars(one('KEY1 =VAR1\nQ="  VAR1  "\nS=\'x\'\nEQ=VARCONTAINING=EQLS\nC=VAR1         # This is variable\nE=\nU=🛹\n')), {
      KEY1: 'VAR1',
      Q: '"  VAR1  "',
      S: "'x'",
      EQ: 'VARCONTAINING=EQLS',
      C: 'VAR1         # This is variable',
      E: '',
      U: '🛹',
    });
  });

  it('no expansion inside the file (the service spec: "does not support variable expansion")', () => {
    assert.deepEqual(vars(one('KEY1=VAR1\nKEY2=${KEY1}_Test\n')), { KEY1: 'VAR1', KEY2: '${KEY1}_Test' });
  });

  it('an empty line, a comment line or a line without = refuses the whole report (the service spec: "Invalid Format")', () => {
    for (const text of ['KEY1=VAR1\n\nKEY2=VAR2\n', '# comment\nA=1\n', "{ 'KEY1': 'VAR1' }"]) assert.equal(one(text).ok, false, JSON.stringify(text));
  });

  it('keys are letters, digits and _ only, at most 255, so `export A=1`, a space, unicode or an empty key is refused (has_variable.rb)', () => {
    for (const text of ['export A=1', 'K E Y=1', '🛹=skateboard', '=VAR1', `${'K'.repeat(256)}=1`, '# a=b']) assert.equal(one(text).ok, false, text);
    assert.deepEqual(vars(one(`1ST=digits first are GitLab's too\n${'K'.repeat(255)}=ok`)), { '1ST': "digits first are GitLab's too", ['K'.repeat(255)]: 'ok' });
  });

  it('the last duplicate wins, keeping its first place; across files too', () => {
    const r = parseDotenv([
      { name: 'a.env', text: 'A=1\nB=1\nA=2\n' },
      { name: 'b.env', text: 'B=3\n' },
    ]);
    assert.deepEqual(r, { ok: true, variables: [{ key: 'A', value: '2' }, { key: 'B', value: '3' }] });
  });

  it('CRLF line ends and a byte order mark are not part of keys or values (GitLab strips both)', () => {
    assert.deepEqual(vars(one('\uFEFFA=1\r\nB=2\r\n')), { A: '1', B: '2' });
  });

  it('20 variables pass and 21 do not, counted after duplicates collapse (dotenv_variables)', () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `K${i}=v`).join('\n');
    assert.equal(one(lines(20)).ok, true);
    assert.equal(one(`${lines(20)}\nK0=again`).ok, true);
    assert.match(vars(one(lines(21))) as string, /21 variables; at most 20/);
  });

  it('a NUL in a value is refused: no environment or PostgreSQL text can hold it', () => {
    assert.equal(one('A=1\u00002').ok, false);
  });

  it('what an agent sends is checked by the same rules', () => {
    assert.equal(dotenvProblem([{ key: 'A', value: 'x'.repeat(5117) }]), null);
    assert.match(dotenvProblem([{ key: 'A', value: 'x'.repeat(5118) }])!, /5121 bytes/);
    assert.match(dotenvProblem([{ key: 'A=B', value: '1' }])!, /only letters/);
    assert.match(dotenvProblem([{ key: 'A', value: 'a\nB=b' }])!, /line break/);
    assert.match(dotenvProblem([{ key: 'A', value: '1' }, { key: 'A', value: '2' }])!, /twice/);
  });

  it("of two producers, the later one's value wins a key", () => {
    assert.deepEqual(mergeDotenv([[{ key: 'A', value: '1' }, { key: 'B', value: '1' }], [{ key: 'A', value: '2' }]]), { A: '2', B: '1' });
  });
});
