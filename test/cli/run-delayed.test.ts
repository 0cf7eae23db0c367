// `gantry run` and `when: delayed` (docs/PIPELINE.md, "Delayed jobs"): the job waits its
// `start_in` after its turn came (its predecessor ended), saying so and until when, then runs;
// `--manual NAME` runs it at once, as GitLab's "Run now" plays a scheduled job.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gantry, runJson, withSandbox } from '../helpers/gantry.js';

const FILE = `stages: [build, deploy]
build:
  stage: build
  script: "true"
deploy:
  stage: deploy
  when: delayed
  start_in: 2 seconds
  script: echo deployed
`;

describe('gantry run: delayed jobs', () => {
  it('a delayed job of start_in: 2 seconds starts at least 2 s after its predecessor ends', async () => {
    await withSandbox({ '.gantry.yml': FILE }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.pipeline.status, 'success');
      const build = r.job('build');
      const deploy = r.job('deploy');
      assert.equal(deploy.status, 'success');
      assert.equal(deploy.when, 'delayed');
      assert.equal(deploy.scheduledAt, null, 'no longer scheduled once it ran');
      const waited = Date.parse(deploy.startedAt!) - Date.parse(build.finishedAt!);
      assert.ok(waited >= 2000, `started ${waited} ms after build ended`);
      assert.ok(waited < 6000, `started ${waited} ms after build ended`);
    });
  });

  it('says that the job waits and until when', async () => {
    await withSandbox({ '.gantry.yml': FILE }, async (sb) => {
      const r = await gantry(sb, ['run']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.out, /deploy.*scheduled waits \d(\.\d)?s \(start_in\), until \d{1,2}:\d{2}:\d{2}/);
    });
  });

  it('--manual runs a delayed job at once ("Run now")', async () => {
    await withSandbox({ '.gantry.yml': FILE }, async (sb) => {
      const r = await runJson(sb, ['--manual', 'deploy']);
      assert.equal(r.code, 0, r.stderr);
      const waited = Date.parse(r.job('deploy').startedAt!) - Date.parse(r.job('build').finishedAt!);
      assert.ok(waited < 1500, `started ${waited} ms after build ended`);
    });
  });

  it('a delayed job after a failure is skipped, not scheduled (as on_success)', async () => {
    await withSandbox({ '.gantry.yml': FILE.replace('script: "true"', 'script: "false"') }, async (sb) => {
      const r = await runJson(sb);
      assert.equal(r.pipeline.status, 'failed');
      assert.equal(r.job('deploy').status, 'skipped');
    });
  });
});
