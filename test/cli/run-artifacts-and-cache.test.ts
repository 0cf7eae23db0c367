// Artifacts pass files from earlier jobs to later ones as GitLab's do (all earlier stages by
// default, narrowed by `needs` and `dependencies`, uploaded by `artifacts:when`); caches survive
// from one `gantry run` to the next in the same GANTRY_HOME; nothing escapes the workspace.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { logsOf, runJson, withSandbox } from '../helpers/gantry.js';

function findFiles(dir: string, name: string, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (skip.includes(p)) continue;
      if (e.isDirectory()) walk(p);
      else if (e.name === name) out.push(p);
    }
  };
  walk(dir);
  return out;
}

describe('gantry run: artifacts and cache', () => {
  it("gives a later stage's jobs the artifacts of earlier stages, except where needs/dependencies say otherwise", async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out/sub
    - echo built-by-build > out/sub/a.txt
    - echo not-an-artifact > stray.txt
  artifacts:
    paths: [out/]
gets-all:
  stage: test
  script:
    - cat out/sub/a.txt
    - test ! -e stray.txt
needs-no-artifacts:
  stage: test
  needs:
    - job: build
      artifacts: false
  script:
    - test ! -e out/sub/a.txt
no-dependencies:
  stage: test
  dependencies: []
  script:
    - test ! -e out/sub/a.txt
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        for (const j of ['build', 'gets-all', 'needs-no-artifacts', 'no-dependencies']) assert.equal(r.job(j).status, 'success', j);
        assert.match(await logsOf(sb, r.pipeline.id, 'gets-all'), /^built-by-build$/m);
      },
    );
  });

  it('uploads artifacts by `artifacts:when`: on_success by default, on_failure only after a failure, always', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, check]
fails-default:
  stage: build
  allow_failure: true
  script:
    - echo x > default.txt
    - exit 1
  artifacts:
    paths: [default.txt]
fails-on-failure:
  stage: build
  allow_failure: true
  script:
    - echo x > onfailure.txt
    - exit 1
  artifacts:
    when: on_failure
    paths: [onfailure.txt]
passes-on-failure:
  stage: build
  script:
    - echo x > passes.txt
  artifacts:
    when: on_failure
    paths: [passes.txt]
fails-always:
  stage: build
  allow_failure: true
  script:
    - echo x > always.txt
    - exit 1
  artifacts:
    when: always
    paths: [always.txt]
check:
  stage: check
  script:
    - for f in default onfailure passes always; do if [ -e $f.txt ]; then echo "HAS $f"; else echo "NO $f"; fi; done
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        const log = await logsOf(sb, r.pipeline.id, 'check');
        assert.match(log, /^NO default$/m);
        assert.match(log, /^HAS onfailure$/m);
        assert.match(log, /^NO passes$/m);
        assert.match(log, /^HAS always$/m);
      },
    );
  });

  it('keeps a cache (key + paths) from one run to the next in the same GANTRY_HOME', async () => {
    await withSandbox(
      {
        '.gantry.yml': `job:
  cache:
    key: deps-v1
    paths: [.deps/]
  script:
    - if [ -f .deps/stamp ]; then echo "HIT $(cat .deps/stamp)"; else echo MISS; fi
    - mkdir -p .deps && echo "from-$CI_PIPELINE_ID" > .deps/stamp
`,
      },
      async (sb) => {
        const first = await runJson(sb);
        assert.equal(first.code, 0, first.stderr);
        assert.match(await logsOf(sb, first.pipeline.id, 'job'), /^MISS$/m);
        const second = await runJson(sb);
        assert.equal(second.code, 0, second.stderr);
        assert.match(await logsOf(sb, second.pipeline.id, 'job'), new RegExp(`^HIT from-${first.pipeline.id}$`, 'm'));
      },
    );
  });

  it('does not save a cache under `policy: pull`', async () => {
    await withSandbox(
      {
        '.gantry.yml': `job:
  cache:
    key: pull-only
    paths: [.deps/]
    policy: pull
  script:
    - if [ -f .deps/stamp ]; then echo HIT; else echo MISS; fi
    - mkdir -p .deps && echo x > .deps/stamp
`,
      },
      async (sb) => {
        const first = await runJson(sb);
        assert.equal(first.code, 0, first.stderr);
        const second = await runJson(sb);
        assert.equal(second.code, 0, second.stderr);
        assert.match(await logsOf(sb, second.pipeline.id, 'job'), /^MISS$/m);
      },
    );
  });

  it('a cache written under `policy: push` is restored by a `policy: pull` job of a later run', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
push:
  stage: build
  cache:
    key: shared
    paths: [.deps/]
    policy: push
  script:
    - test ! -e .deps/stamp
    - mkdir -p .deps && echo "from-$CI_PIPELINE_ID" > .deps/stamp
pull:
  stage: test
  cache:
    key: shared
    paths: [.deps/]
    policy: pull
  script:
    - cat .deps/stamp
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.match(await logsOf(sb, r.pipeline.id, 'pull'), new RegExp(`^from-${r.pipeline.id}$`, 'm'));
      },
    );
  });

  it('refuses an artifact path outside the workspace and writes nothing outside it', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
escape:
  stage: build
  script:
    - echo secret > ../escaped-artifact.txt
  artifacts:
    paths: [../escaped-artifact.txt]
consumer:
  stage: test
  when: always
  script:
    - test ! -e escaped-artifact.txt
`,
      },
      async (sb) => {
        const r = await runJson(sb, ['--concurrency', '1']);
        const log = await logsOf(sb, r.pipeline.id, 'escape');
        assert.match(log, /escaped-artifact\.txt.*outside/);
        assert.equal(r.job('consumer').status, 'success');
        // The artifact store holds no copy of it, and nothing landed in the repository or next to it.
        assert.deepEqual(findFiles(path.join(sb.home, 'artifacts'), 'escaped-artifact.txt'), []);
        assert.deepEqual(findFiles(sb.base, 'escaped-artifact.txt', [path.join(sb.home, 'builds'), path.join(sb.home, 'trash')]), []);
      },
    );
  });
  it('with `needs` or `dependencies`, downloads only the named jobs\' artifacts; honours `artifacts:exclude`', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [build, test]
a:
  stage: build
  script:
    - mkdir -p a && echo a > a/file.txt && echo log > a/debug.log
  artifacts:
    paths: [a/]
    exclude: ["a/*.log"]
b:
  stage: build
  script:
    - mkdir -p b && echo b > b/file.txt
  artifacts:
    paths: [b/]
needs-a:
  stage: test
  needs: [a]
  script:
    - test -e a/file.txt
    - test ! -e a/debug.log
    - test ! -e b/file.txt
depends-on-b:
  stage: test
  dependencies: [b]
  script:
    - test ! -e a/file.txt
    - test -e b/file.txt
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.job('needs-a').status, 'success');
        assert.equal(r.job('depends-on-b').status, 'success');
      },
    );
  });

  it('changes a `cache:key:files` key when the named file changes', async () => {
    await withSandbox(
      {
        'lock.txt': 'v1\n',
        '.gantry.yml': `job:
  cache:
    key:
      files: [lock.txt]
    paths: [.deps/]
  script:
    - if [ -f .deps/stamp ]; then echo "HIT $(cat .deps/stamp)"; else echo MISS; fi
    - mkdir -p .deps && echo "$(cat lock.txt)" > .deps/stamp
`,
      },
      async (sb) => {
        const first = await runJson(sb);
        assert.match(await logsOf(sb, first.pipeline.id, 'job'), /^MISS$/m);
        const same = await runJson(sb);
        assert.match(await logsOf(sb, same.pipeline.id, 'job'), /^HIT v1$/m);
        sb.write('lock.txt', 'v2\n');
        sb.commit('bump');
        const changed = await runJson(sb);
        assert.match(await logsOf(sb, changed.pipeline.id, 'job'), /^MISS$/m);
      },
    );
  });
});
