// Runs every compiled test file with node's test runner. PostgreSQL-backed tests read
// GANTRY_TEST_PG; in CI (CI=true) they must run, elsewhere they may skip with a printed reason.
// Then the pipeline conformance tests of `gantry run` run again with jobs in the sandbox
// (docs/SECURITY.md: a pipeline behaves the same at both isolation levels); the fleet suite does
// the same for agents (test/fleet/fleet-sqlite-none.test.ts and its sandboxed twins).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/**
 * The `gantry run` files that pin down pipeline semantics with nothing outside the workspace.
 * Left out: those that watch job processes by host pid (Ctrl-C, crashes: the sandbox's own stop
 * and cleanup are tested in test/agent/process-group.test.ts and the fleet), or pass state between
 * attempts through files beside the workspace (retry counters), which the sandbox forbids.
 */
const CONFORMANCE = ['run-stages-and-needs', 'run-variables', 'run-manual-and-rules', 'run-failures', 'run-output-and-logs', 'run-workspace-escape'];

const run = (files, env = process.env) =>
  spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', '--test-reporter=spec', ...files], { stdio: 'inherit', env }).status ?? 1;

const filter = process.argv.slice(2);
/**
 * The runner takes files two at a time in the order given, so the order decides the tail: the
 * slow end-to-end folders first (fleets, browsers, the stores on two databases, the compiler's
 * property test), the many short files after, to fill the gaps. Sorted by name, the slowest came
 * last and the suite spent minutes on one file at a time.
 */
const SLOW_FIRST = ['dist/test/fleet/', 'dist/test/ui/', 'dist/test/store/', 'dist/test/pipeline/compiler-never-crashes', 'dist/test/server/'];
const rank = (f) => {
  const i = SLOW_FIRST.findIndex((p) => f.startsWith(p));
  return i === -1 ? SLOW_FIRST.length : i;
};
let files = [...findTests('dist/src'), ...findTests('dist/test')].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
let status = run(files);
const conformance = files.filter((f) => CONFORMANCE.some((c) => path.basename(f).startsWith(`${c}.`)));
if (conformance.length > 0) {
  const { sandboxUnavailableReason } = await import('../dist/src/agent/sandbox/host-support.js');
  const why = sandboxUnavailableReason(process.env.PATH);
  if (why && process.env.CI !== 'true') console.log(`\n# skipping the conformance tests in the sandbox: this host cannot run it:\n${why}`);
  else {
    console.log(`\n# the pipeline conformance tests again, gantry run --isolation sandbox (${conformance.length} files)`);
    status = run(conformance, { ...process.env, GANTRY_TEST_ISOLATION: 'sandbox' }) || status;
  }
}
process.exit(status);
