// Jobs see GitLab's predefined variables with GitLab's values, `parallel` and `parallel:matrix`
// jobs get GitLab's names and node variables, and variables resolve by GitLab's precedence.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logsOf, printedVars, runJson, withSandbox } from '../helpers/gantry.js';

/** A script line printing each variable as NAME=value (`<unset>` when not set). */
const PRINT = (...names: string[]) => names.map((n) => `echo "${n}=\${${n}-<unset>}"`);
const yamlList = (lines: string[]) => lines.map((l) => `    - ${JSON.stringify(l)}`).join('\n');

describe('gantry run: variables', () => {
  it("gives a job GitLab's predefined commit, job, pipeline and project variables", async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, check]
Show Vars:
  stage: check
  script:
${yamlList([...PRINT('CI', 'CI_COMMIT_SHA', 'CI_COMMIT_SHORT_SHA', 'CI_COMMIT_BRANCH', 'CI_COMMIT_REF_NAME', 'CI_COMMIT_REF_SLUG', 'CI_COMMIT_TAG', 'CI_JOB_NAME', 'CI_JOB_STAGE', 'CI_PIPELINE_ID', 'CI_PROJECT_DIR', 'CI_JOB_ID', 'CI_NODE_INDEX'), 'echo "PWD=$(pwd -P)"', 'echo "PROJECT_DIR_REAL=$(cd "$CI_PROJECT_DIR" && pwd -P)"'])}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'Show Vars'));
        const sha = sb.git('rev-parse', 'HEAD').trim();
        assert.equal(v.CI, 'true');
        assert.equal(v.CI_COMMIT_SHA, sha);
        assert.equal(v.CI_COMMIT_SHORT_SHA, sha.slice(0, 8));
        assert.equal(v.CI_COMMIT_BRANCH, 'main');
        assert.equal(v.CI_COMMIT_REF_NAME, 'main');
        assert.equal(v.CI_COMMIT_REF_SLUG, 'main');
        assert.equal(v.CI_COMMIT_TAG, '<unset>');
        assert.equal(v.CI_JOB_NAME, 'Show Vars');
        assert.equal(v.CI_JOB_STAGE, 'check');
        assert.equal(v.CI_PIPELINE_ID, String(r.pipeline.id));
        assert.equal(v.CI_JOB_ID, String(r.job('Show Vars').id));
        assert.equal(v.CI_NODE_INDEX, '<unset>');
        // The job runs in $CI_PROJECT_DIR.
        assert.ok(v.CI_PROJECT_DIR && v.CI_PROJECT_DIR !== '<unset>');
        assert.equal(v.PWD, v.PROJECT_DIR_REAL);
      },
    );
  });

  it('slugs the ref as GitLab does for CI_COMMIT_REF_SLUG', async () => {
    await withSandbox(
      { '.gantry.yml': `job:\n  script:\n${yamlList(PRINT('CI_COMMIT_BRANCH', 'CI_COMMIT_REF_NAME', 'CI_COMMIT_REF_SLUG'))}\n` },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'job'));
        assert.equal(v.CI_COMMIT_BRANCH, 'Feature/JIRA-12_Fix.Login');
        assert.equal(v.CI_COMMIT_REF_NAME, 'Feature/JIRA-12_Fix.Login');
        assert.equal(v.CI_COMMIT_REF_SLUG, 'feature-jira-12-fix-login');
      },
      { branch: 'Feature/JIRA-12_Fix.Login' },
    );
  });

  it('on a tag checkout sets CI_COMMIT_TAG and not CI_COMMIT_BRANCH', async () => {
    await withSandbox(
      { '.gantry.yml': `job:\n  script:\n${yamlList(PRINT('CI_COMMIT_TAG', 'CI_COMMIT_BRANCH', 'CI_COMMIT_REF_NAME', 'CI_COMMIT_SHA'))}\n` },
      async (sb) => {
        sb.git('tag', 'v1.2.0');
        sb.git('checkout', '-q', 'v1.2.0');
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.pipeline.ref, 'v1.2.0');
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'job'));
        assert.equal(v.CI_COMMIT_TAG, 'v1.2.0');
        assert.equal(v.CI_COMMIT_BRANCH, '<unset>');
        assert.equal(v.CI_COMMIT_REF_NAME, 'v1.2.0');
        assert.equal(v.CI_COMMIT_SHA, sb.git('rev-parse', 'HEAD').trim());
      },
    );
  });

  it('names `parallel: 3` jobs "job 1/3".."job 3/3" with CI_NODE_INDEX and CI_NODE_TOTAL', async () => {
    await withSandbox(
      { '.gantry.yml': `shard:\n  parallel: 3\n  script:\n${yamlList(PRINT('CI_NODE_INDEX', 'CI_NODE_TOTAL', 'CI_JOB_NAME'))}\n` },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.pipeline.jobs.map((j) => j.name).sort(), ['shard 1/3', 'shard 2/3', 'shard 3/3']);
        for (const i of [1, 2, 3]) {
          const v = printedVars(await logsOf(sb, r.pipeline.id, `shard ${i}/3`));
          assert.equal(v.CI_NODE_INDEX, String(i));
          assert.equal(v.CI_NODE_TOTAL, '3');
          assert.equal(v.CI_JOB_NAME, `shard ${i}/3`);
        }
      },
    );
  });

  it('names `parallel: matrix` jobs "job: [a, b]" and gives each its variables', async () => {
    await withSandbox(
      {
        '.gantry.yml': `build:
  parallel:
    matrix:
      - OS: linux
        ARCH: [amd64, arm64]
      - OS: macos
        ARCH: arm64
  script:
${yamlList(PRINT('OS', 'ARCH', 'CI_JOB_NAME', 'CI_NODE_TOTAL'))}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const names = ['build: [linux, amd64]', 'build: [linux, arm64]', 'build: [macos, arm64]'];
        assert.deepEqual(r.pipeline.jobs.map((j) => j.name).sort(), names);
        for (const name of names) {
          const [os, arch] = /\[(.*)\]/.exec(name)![1]!.split(', ');
          const v = printedVars(await logsOf(sb, r.pipeline.id, name));
          assert.equal(v.OS, os, name);
          assert.equal(v.ARCH, arch, name);
          assert.equal(v.CI_JOB_NAME, name);
          assert.equal(v.CI_NODE_TOTAL, '3');
        }
      },
    );
  });

  it('resolves `--var` over job `variables` over global `variables`, and expands references', async () => {
    await withSandbox(
      {
        '.gantry.yml': `variables:
  ONLY_GLOBAL: global
  JOB_WINS: global
  CLI_WINS: global
  A: alpha
  B: "$A-x"
job:
  variables:
    JOB_WINS: job
    CLI_WINS: job
    C: "\${B}-y"
    D: "$CI_COMMIT_REF_NAME/$ONLY_GLOBAL"
  script:
${yamlList(PRINT('ONLY_GLOBAL', 'JOB_WINS', 'CLI_WINS', 'A', 'B', 'C', 'D'))}
other:
  script:
${yamlList(PRINT('JOB_WINS', 'CLI_WINS'))}
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--var', 'CLI_WINS=cli']);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'job'));
        assert.equal(v.ONLY_GLOBAL, 'global');
        assert.equal(v.JOB_WINS, 'job');
        assert.equal(v.CLI_WINS, 'cli');
        assert.equal(v.A, 'alpha');
        assert.equal(v.B, 'alpha-x');
        assert.equal(v.C, 'alpha-x-y');
        assert.equal(v.D, 'main/global');
        const o = printedVars(await logsOf(sb, r.pipeline.id, 'other'));
        assert.equal(o.JOB_WINS, 'global');
        assert.equal(o.CLI_WINS, 'cli');
      },
    );
  });

  it('lets a job variable refer to a `--var` value', async () => {
    await withSandbox(
      {
        '.gantry.yml': `job:
  variables:
    URL: "https://$HOST/api"
  script:
${yamlList(PRINT('URL'))}
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--var', 'HOST=example.test']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(printedVars(await logsOf(sb, r.pipeline.id, 'job')).URL, 'https://example.test/api');
      },
    );
  });
});
