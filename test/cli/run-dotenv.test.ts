// `artifacts:reports:dotenv` through `gantry run`, one GitLab rule a test. Where GitLab's
// documentation is silent the rule comes from its source: the format, the limits and the
// duplicate rule from app/services/ci/parse_dotenv_artifact_service.rb (and its spec), the key
// rule from app/models/concerns/ci/has_variable.rb, who receives them from the artifact
// dependencies (docs "Pass an environment variable to another job"), the precedence from the docs'
// "CI/CD variable precedence".

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { logsOf, printedVars, runJson, withSandbox } from '../helpers/gantry.js';

/** A script line printing each variable as NAME=value (`<unset>` when not set). */
const print = (...names: string[]) => names.map((n) => `    - echo "${n}=\${${n}-<unset>}"`).join('\n');

describe('gantry run: dotenv reports', () => {
  it('a job of a later stage receives the dotenv variables; a job of the same stage does not', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  script:
    - echo "VERSION=1.2.3" > build.env
  artifacts:
    reports:
      dotenv: build.env
beside:
  stage: build
  script:
${print('VERSION')}
test:
  stage: test
  script:
${print('VERSION')}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(printedVars(await logsOf(sb, r.pipeline.id, 'test')).VERSION, '1.2.3');
        assert.equal(printedVars(await logsOf(sb, r.pipeline.id, 'beside')).VERSION, '<unset>');
        assert.match(await logsOf(sb, r.pipeline.id, 'build'), /Dotenv report: 1 variable for later jobs \(VERSION\)/);
      },
    );
  });

  it('a job with needs receives only from the jobs it needs, and none from a need with artifacts: false', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, deploy]
a:
  stage: build
  script: [echo "FROM_A=a" > a.env]
  artifacts: { reports: { dotenv: a.env } }
b:
  stage: build
  script: [echo "FROM_B=b" > b.env]
  artifacts: { reports: { dotenv: b.env } }
c:
  stage: build
  script: [echo "FROM_C=c" > c.env]
  artifacts: { reports: { dotenv: c.env } }
deploy:
  stage: deploy
  needs: [a, { job: b, artifacts: false }]
  script:
${print('FROM_A', 'FROM_B', 'FROM_C')}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'deploy'));
        assert.deepEqual([v.FROM_A, v.FROM_B, v.FROM_C], ['a', '<unset>', '<unset>']);
      },
    );
  });

  it('dependencies: [] receives none; dependencies: [b] receives only from b', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, deploy]
a:
  stage: build
  script: [echo "FROM_A=a" > a.env]
  artifacts: { reports: { dotenv: a.env } }
b:
  stage: build
  script: [echo "FROM_B=b" > b.env]
  artifacts: { reports: { dotenv: b.env } }
none:
  stage: deploy
  dependencies: []
  script:
${print('FROM_A', 'FROM_B')}
only-b:
  stage: deploy
  dependencies: [b]
  script:
${print('FROM_A', 'FROM_B')}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const none = printedVars(await logsOf(sb, r.pipeline.id, 'none'));
        assert.deepEqual([none.FROM_A, none.FROM_B], ['<unset>', '<unset>']);
        const onlyB = printedVars(await logsOf(sb, r.pipeline.id, 'only-b'));
        assert.deepEqual([onlyB.FROM_A, onlyB.FROM_B], ['<unset>', 'b']);
      },
    );
  });

  it('several files: the last value of a duplicate key wins, across lines and files; values are taken as written', async () => {
    await withSandbox(
      {
        // parse_dotenv_artifact_service_spec.rb: quotes stay, `=` in a value stays, `#` is no
        // comment, the key and value are stripped of surrounding spaces.
        'first.env': 'DUP=one\nDUP=two\nLATER=first\nQUOTED  =  "  spaced  "  \nEQ=a=b\nHASH=x # not a comment\nEMPTY=\n',
        'second.env': 'LATER=second\r\n',
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  script: [cp first.env out1.env, cp second.env out2.env]
  artifacts:
    reports:
      dotenv: [out1.env, out2.env]
test:
  stage: test
  script:
    - 'printf "%s|" "$DUP" "$LATER" "$QUOTED" "$EQ" "$HASH" "$EMPTY"; echo'
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const log = await logsOf(sb, r.pipeline.id, 'test');
        assert.match(log, /^two\|second\|"  spaced  "\|a=b\|x # not a comment\|\|$/m);
      },
    );
  });

  it('a report past the limits or not in KEY=VALUE lines fails its job, as GitLab refuses the upload; exactly 20 variables pass', async () => {
    const vars = (n: number) => Array.from({ length: n }, (_, i) => `K${i}=v${i}`).join('\n') + '\n';
    await withSandbox(
      {
        'twenty.env': vars(20),
        'many.env': vars(21),
        'big.env': `BIG=${'x'.repeat(5200)}\n`,
        'blank.env': 'A=1\n\nB=2\n',
        'export.env': 'export A=1\n',
        '.gantry.yml': `stages: [build, test]
.report:
  stage: build
  allow_failure: true
  artifacts: { reports: { dotenv: out.env } }
twenty: { extends: .report, script: [cp twenty.env out.env] }
many: { extends: .report, script: [cp many.env out.env] }
big: { extends: .report, script: [cp big.env out.env] }
blank: { extends: .report, script: [cp blank.env out.env] }
export: { extends: .report, script: [cp export.env out.env] }
test:
  stage: test
  script:
${print('K19', 'K20', 'BIG', 'A')}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('twenty').status, 'success');
        for (const name of ['many', 'big', 'blank', 'export']) assert.equal(r.job(name).status, 'failed', name);
        assert.match(await logsOf(sb, r.pipeline.id, 'many'), /ERROR: the dotenv report is refused: the dotenv files define 21 variables; at most 20 are allowed/);
        assert.match(await logsOf(sb, r.pipeline.id, 'big'), /ERROR: the dotenv report is refused: the dotenv files are more than 5120 bytes/);
        assert.match(await logsOf(sb, r.pipeline.id, 'blank'), /ERROR: the dotenv report is refused: out\.env:2: not a KEY=VALUE line/);
        assert.match(await logsOf(sb, r.pipeline.id, 'export'), /ERROR: the dotenv report is refused: out\.env:1: key "export A" may contain only letters, digits and _/);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'test'));
        // Only the accepted report's variables arrive; a refused one passes none of its lines.
        assert.deepEqual([v.K19, v.K20, v.BIG, v.A], ['v19', '<unset>', '<unset>', '<unset>']);
      },
    );
  });

  it('a dotenv path that matches no file is a warning in the log, not a failure', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  script: [echo "HERE=yes" > here.env]
  artifacts: { reports: { dotenv: [missing.env, here.env] } }
test:
  stage: test
  script:
${print('HERE')}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('build').status, 'success');
        assert.match(await logsOf(sb, r.pipeline.id, 'build'), /WARNING: artifacts:reports:dotenv "missing\.env": no file matches/);
        assert.equal(printedVars(await logsOf(sb, r.pipeline.id, 'test')).HERE, 'yes');
      },
    );
  });

  it("precedence: a dotenv variable beats the receiving job's and the file's YAML variables and loses to a pipeline variable", async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
variables:
  GLOBAL: from-file
build:
  stage: build
  script: ['printf "JOBVAR=from-dotenv\\nGLOBAL=from-dotenv\\nPIPEVAR=from-dotenv\\nREF=\\$JOBVAR-ref\\n" > build.env']
  artifacts: { reports: { dotenv: build.env } }
test:
  stage: test
  variables:
    JOBVAR: from-yaml
  script:
${print('JOBVAR', 'GLOBAL', 'PIPEVAR', 'REF')}
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--var', 'PIPEVAR=from-pipeline']);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'test'));
        assert.equal(v.JOBVAR, 'from-dotenv');
        assert.equal(v.GLOBAL, 'from-dotenv');
        assert.equal(v.PIPEVAR, 'from-pipeline');
        // Stored with raw: false in GitLab, so the receiving job expands references in a value.
        assert.equal(v.REF, 'from-dotenv-ref');
      },
    );
  });

  it("a retried producer's newest attempt supplies the variables, and none of its earlier attempt's", async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  retry: 1
  script:
    - n=$(cat "$COUNTER_DIR/build" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER_DIR/build"
    - 'if [ $n = 1 ]; then printf "V=first\\nOLD=only-first\\n" > build.env; exit 1; fi'
    - echo "V=second" > build.env
  artifacts: { reports: { dotenv: build.env } }
test:
  stage: test
  script:
${print('V', 'OLD')}
`,
      },
      async (sb) => {
        const dir = path.join(sb.base, 'counters');
        fs.mkdirSync(dir);
        const r = await runJson(sb, ['--var', `COUNTER_DIR=${dir}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('build').attempts, 2);
        assert.match(await logsOf(sb, r.pipeline.id, 'build', 1), /Dotenv report: 2 variables for later jobs \(V, OLD\)/);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'test'));
        assert.deepEqual([v.V, v.OLD], ['second', '<unset>']);
      },
    );
  });

  it('a hostile report (1 MB, a NUL in a value, a symlink out of the workspace, a FIFO) is refused or skipped without harm', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
.report:
  stage: build
  allow_failure: true
huge:
  extends: .report
  script: ['head -c 1048576 /dev/zero | tr "\\\\0" x | sed "s/^/HUGE=/" > out.env']
  artifacts: { reports: { dotenv: out.env } }
nul:
  extends: .report
  script: ['printf "A=1\\\\000x\\\\n" > out.env']
  artifacts: { reports: { dotenv: out.env } }
link:
  extends: .report
  script: [ln -s "$OUTSIDE" out.env, echo "OK=1" > ok.env]
  artifacts: { reports: { dotenv: [out.env, ok.env] } }
fifo:
  extends: .report
  script: [mkfifo out.env]
  artifacts: { reports: { dotenv: out.env } }
test:
  stage: test
  script:
${print('HUGE', 'A', 'SECRET', 'OK')}
`,
      },
      async (sb) => {
        const outside = path.join(sb.base, 'outside.env');
        fs.writeFileSync(outside, 'SECRET=from-outside\n');
        const r = await runJson(sb, ['--var', `OUTSIDE=${outside}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('huge').status, 'failed');
        assert.match(await logsOf(sb, r.pipeline.id, 'huge'), /the dotenv files are more than 5120 bytes together \(out\.env is 10485\d\d\)/);
        assert.equal(r.job('nul').status, 'failed');
        assert.match(await logsOf(sb, r.pipeline.id, 'nul'), /out\.env:1: the value of A contains a NUL byte/);
        assert.equal(r.job('link').status, 'success');
        assert.match(await logsOf(sb, r.pipeline.id, 'link'), /WARNING: out\.env: not read as a dotenv report: it is a symlink/);
        assert.equal(r.job('fifo').status, 'success');
        assert.match(await logsOf(sb, r.pipeline.id, 'fifo'), /WARNING: out\.env: not read as a dotenv report: not a regular file/);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'test'));
        assert.deepEqual([v.HUGE, v.A, v.SECRET, v.OK], ['<unset>', '<unset>', '<unset>', '1']);
      },
    );
  });
});
