// GitLab's "Where variables can be used" and "CI/CD variable precedence", end to end: the runner
// expands cache and artifacts keywords with every variable of the job (persisted ones such as
// CI_JOB_ID included), the job sees GitLab's deployment variables, and a file's variable wins
// over a predefined one.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logsOf, printedVars, runJson, withSandbox } from '../helpers/gantry.js';

const PRINT = (...names: string[]) => names.map((n) => `echo "${n}=\${${n}-<unset>}"`);
const yamlList = (lines: string[]) => lines.map((l) => `    - ${JSON.stringify(l)}`).join('\n');

describe('gantry run: variables in keywords', () => {
  it('artifacts:paths, cache:paths, cache:key and cache:policy are expanded by the runner with the job variables', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
variables:
  OUT: out
  POLICY: push
build:
  stage: build
  script:
    - mkdir -p "$OUT/$CI_JOB_ID" && echo hi > "$OUT/$CI_JOB_ID/file"
  artifacts:
    paths: ["$OUT/$CI_JOB_ID/"]
  cache:
    key: c-$CI_COMMIT_REF_SLUG
    paths: ["$OUT/"]
    policy: $POLICY
check:
  stage: test
  script:
    - ls out/*/file && echo FOUND-ARTIFACT
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const build = await logsOf(sb, r.pipeline.id, 'build');
        // policy push: nothing restored, the cache saved under the expanded key with the file.
        assert.doesNotMatch(build, /Restoring cache/);
        assert.match(build, /Saved cache c-main: [1-9]\d* files/);
        assert.match(build, /Uploaded 1 artifact files/);
        assert.match(await logsOf(sb, r.pipeline.id, 'check'), /FOUND-ARTIFACT/);
      },
    );
  });

  it('a cache policy that expands to no policy fails the job, as GitLab Runner does', async () => {
    await withSandbox(
      { '.gantry.yml': `job:\n  script: [echo never]\n  cache:\n    paths: [x/]\n    policy: $NOPE\n` },
      async (sb) => {
        const r = await runJson(sb);
        assert.notEqual(r.code, 0);
        assert.match(await logsOf(sb, r.pipeline.id, 'job'), /unknown cache policy ""/);
      },
    );
  });

  it('gives a deploying job CI_ENVIRONMENT_NAME, _SLUG, _URL, _ACTION and _TIER as GitLab computes them', async () => {
    await withSandbox(
      {
        '.gantry.yml': `deploy:
  environment:
    name: review/$CI_COMMIT_REF_NAME
    url: https://$CI_ENVIRONMENT_SLUG.example.com
  script:
${yamlList(PRINT('CI_ENVIRONMENT_NAME', 'CI_ENVIRONMENT_SLUG', 'CI_ENVIRONMENT_URL', 'CI_ENVIRONMENT_ACTION', 'CI_ENVIRONMENT_TIER'))}
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'deploy'));
        assert.equal(v.CI_ENVIRONMENT_NAME, 'review/main');
        // lib/gitlab/slug/environment.rb: changed by slugging, so 17 characters, `-`, and 6 of the SHA-256 in base 36.
        assert.equal(v.CI_ENVIRONMENT_SLUG, 'review-main-yi2y9f');
        assert.equal(v.CI_ENVIRONMENT_URL, 'https://review-main-yi2y9f.example.com');
        assert.equal(v.CI_ENVIRONMENT_ACTION, 'start');
        assert.equal(v.CI_ENVIRONMENT_TIER, 'development');
      },
    );
  });

  it('CI/CD variable precedence: the file\'s variables win over predefined ones, trigger variables over both', async () => {
    await withSandbox(
      {
        '.gantry.yml': `variables:
  CI_COMMIT_REF_SLUG: from-file
  CI_JOB_STAGE: file-stage
job:
  variables:
    CI_PROJECT_NAME: from-job
  rules:
    - if: $CI_COMMIT_REF_SLUG == "from-file" && $CI_PROJECT_NAME == "from-job"
  script:
${yamlList(PRINT('CI_COMMIT_REF_SLUG', 'CI_JOB_STAGE', 'CI_PROJECT_NAME'))}
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--var', 'CI_JOB_STAGE=from-trigger']);
        assert.equal(r.code, 0, r.stderr);
        const v = printedVars(await logsOf(sb, r.pipeline.id, 'job'));
        assert.equal(v.CI_COMMIT_REF_SLUG, 'from-file');
        assert.equal(v.CI_PROJECT_NAME, 'from-job');
        assert.equal(v.CI_JOB_STAGE, 'from-trigger');
      },
    );
  });
});
