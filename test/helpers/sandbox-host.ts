// The sandbox for tests: opened on a temp agent home when this host can run it (root, bubblewrap,
// user namespaces, cgroups), as `.ci/run` makes sure. In CI (CI=true) a host that cannot is a
// failure; elsewhere the sandbox's tests skip with the reason printed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { openIsolation } from '../../src/agent/sandbox/open-isolation.js';
import { sandboxUnavailableReason } from '../../src/agent/sandbox/host-support.js';
import type { Isolation } from '../../src/agent/isolation.js';
import type { JobLimits } from '../../src/domain/isolation.js';

/** Why this host cannot sandbox, or null if it can. */
export function sandboxUnavailable(): string | null {
  return sandboxUnavailableReason(process.env.PATH);
}

/**
 * A sandbox isolation on a fresh agent home (removed after the file's tests), or null after
 * registering a skip (or, under CI, a failing test) that says why.
 */
export function testSandbox(suite: string, limits: Partial<JobLimits> = {}, extra: { hidden?: string[]; extraReadOnly?: string[] } = {}): { isolation: Isolation; home: string } | null {
  const why = sandboxUnavailable();
  if (why) {
    if (process.env.CI === 'true') it(`the sandbox is available (CI=true: ${suite} must run)`, () => assert.fail(why));
    else {
      console.log(`# skipping ${suite}: this host cannot run the sandbox:\n${why}`);
      it(suite, { skip: 'this host cannot run the sandbox' }, () => undefined);
    }
    return null;
  }
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-sbx-'));
  after(() => fs.rmSync(home, { recursive: true, force: true }));
  const { isolation } = openIsolation({
    asked: 'sandbox',
    agentHome: home,
    agentEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
    limits,
    extraEnv: [],
    extraReadOnly: extra.extraReadOnly ?? [],
    shared: [],
    uidBase: null,
    hidden: [home, ...(extra.hidden ?? [])],
  });
  return { isolation, home };
}
