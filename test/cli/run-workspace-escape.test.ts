// Nothing a pipeline names can make the agent copy from outside the job's workspace or reach
// outside the project's own cache directory: not a symlinked directory on an artifact path, not
// a cache key (or fallback key) made of dots.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { logsOf, runJson, withSandbox } from '../helpers/gantry.js';

/** Every entry below `dir`, symlinks listed but not followed. */
function filesUnder(dir: string, rel = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    out.push(r);
    if (d.isDirectory()) out.push(...filesUnder(dir, r));
  }
  return out;
}

describe('gantry run: nothing escapes the workspace or the cache directory', () => {
  it('refuses an artifact path that goes through a symlink to a directory outside the workspace', async () => {
    await withSandbox({}, async (sb) => {
      const outside = path.join(sb.base, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret.txt'), 'TOP SECRET\n');
      sb.write(
        '.gantry.yml',
        `build:
  script:
    - ln -s ${outside} link
    - echo ok > keep.txt
  artifacts:
    paths: [keep.txt, link/secret.txt]
`,
      );
      sb.commit();
      const r = await runJson(sb);
      assert.equal(r.job('build').status, 'failed');
      assert.equal(r.job('build').failureReason, 'runner_system_failure');
      const log = await logsOf(sb, r.pipeline.id, 'build');
      assert.match(log, /link\/secret\.txt.*outside the project directory/);
      const stored = filesUnder(path.join(sb.home, 'artifacts'));
      assert.ok(!stored.some((f) => f.endsWith('secret.txt')), `the outside file was copied: ${stored.join(', ')}`);
    });
  });

  it('keeps the symlink itself, not what it points to, when the artifact path names the symlink', async () => {
    await withSandbox({}, async (sb) => {
      const outside = path.join(sb.base, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(outside, 'secret.txt'), 'TOP SECRET\n');
      sb.write(
        '.gantry.yml',
        `stages: [build, use]
build:
  stage: build
  script:
    - mkdir out && ln -s ${outside} out/link && echo ok > out/keep.txt
  artifacts:
    paths: [out, "out/**"]
use:
  stage: use
  script:
    - test -L out/link && test -f out/keep.txt && echo symlink-kept
`,
      );
      sb.commit();
      const r = await runJson(sb);
      assert.equal(r.pipeline.status, 'success');
      assert.match(await logsOf(sb, r.pipeline.id, 'use'), /^symlink-kept$/m);
      const stored = filesUnder(path.join(sb.home, 'artifacts'));
      assert.ok(!stored.some((f) => f.endsWith('secret.txt')), `the outside file was copied: ${stored.join(', ')}`);
    });
  });

  it('does not let cache fallback keys "." or ".." restore the cache directory itself or other caches', async () => {
    await withSandbox(
      {
        '.gantry.yml': `stages: [save, restore]
save:
  stage: save
  cache:
    key: k
    paths: [cached.txt]
  script:
    - echo cached > cached.txt
dots:
  stage: restore
  cache:
    key: nothere
    fallback_keys: [".", "..", "../k"]
    policy: pull
    paths: [cached.txt]
  script:
    - ls -A
    - test ! -e k && test ! -e 1 && test ! -e cached.txt && echo nothing-restored
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        const log = await logsOf(sb, r.pipeline.id, 'dots');
        assert.equal(r.job('save').status, 'success');
        assert.equal(r.job('dots').status, 'success', log);
        assert.match(log, /^nothing-restored$/m);
      },
    );
  });
});
