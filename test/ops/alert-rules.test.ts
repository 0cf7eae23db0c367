// The alert rules shipped in docs/ops/ are valid Prometheus rules and fire when they should:
// `promtool check rules` and `promtool test rules` (Debian's prometheus package; .ci/run installs it).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/gantry.js';

const OPS = path.join(ROOT, 'docs', 'ops');
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = !hasPromtool && process.env.CI !== 'true' ? 'promtool is not installed (apt-get install prometheus)' : false;
if (skip) console.log(`# skipping the alert rule checks: ${skip}`);

describe("docs/ops alert rules", () => {
  it('pass promtool check rules, and fire in promtool test rules exactly as alerts.test.yml expects', { skip }, () => {
    assert.ok(hasPromtool, 'CI=true: promtool must be installed (.ci/run installs Debian\'s prometheus package)');
    const check = spawnSync('promtool', ['check', 'rules', 'alerts.yml'], { cwd: OPS, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const test = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: OPS, encoding: 'utf8' });
    assert.equal(test.status, 0, test.stdout + test.stderr);
  });
});
