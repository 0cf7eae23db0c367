// `npm run bench`: Gantry against the physical floor and against gitlab-ci-local, side by side in
// one run. Figures go to stdout; docs/BENCHMARKS.md explains them.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { components } from './components.js';
import { fairShare } from './fair-share.js';
import { fleet } from './fleet.js';
import { logObjects } from './log-objects.js';
import { loadTest } from './load.js';
import { logs } from './logs.js';
import { webhooks } from './webhooks.js';
import { sandboxCost } from './sandbox.js';
import { cpuSeconds, fmt, GANTRY, medianOf, ROOT, tempRepo, timed } from './util.js';

const RUNS = Number(process.argv[2] ?? 5);
const GCL_VERSION = '4.72.0';

function widePipeline(): string {
  const lines = ['stages: [first, wide, last]', 'first:', '  stage: first', '  script: [ "true" ]'];
  for (let i = 1; i <= 200; i++) lines.push(`wide_${i}:`, '  stage: wide', '  script: [ "true" ]');
  lines.push('last:', '  stage: last', '  script: [ "true" ]');
  return `${lines.join('\n')}\n`;
}

/** gitlab-ci-local is installed once into .bench-cache (never a dependency of Gantry). */
function gitlabCiLocal(): string | null {
  const dir = path.join(ROOT, '.bench-cache', `gitlab-ci-local-${GCL_VERSION}`);
  const bin = path.join(dir, 'node_modules', '.bin', 'gitlab-ci-local');
  if (fs.existsSync(bin)) return bin;
  try {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', dir, `gitlab-ci-local@${GCL_VERSION}`], { stdio: 'ignore' });
    return fs.existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

async function gantryRun(repo: string, extra: string[]): Promise<{ ms: number; json: { status: string; jobs: { startedAt: string; finishedAt: string }[] } }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-home-'));
  try {
    const r = await timed(process.execPath, [GANTRY, 'run', '--json', '--quiet', ...extra], { cwd: repo, env: { ...process.env, GANTRY_HOME: home, NO_COLOR: '1' } });
    const json = JSON.parse(r.stdout);
    if (r.code !== 0 || json.status !== 'success') throw new Error(`gantry run failed: exit ${r.code}, status ${json.status}`);
    return { ms: r.ms, json };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

const FLOOR_SCRIPT = `
const { spawn } = require('node:child_process');
let started = 0, done = 0;
const next = () => {
  if (started >= 202) return;
  started++;
  spawn('bash', ['-c', 'true'], { stdio: 'ignore' }).on('exit', () => { done++; next(); });
};
next(); next();
`;

async function wide(): Promise<void> {
  console.log(`\n## Wide pipeline: 1 -> 200 -> 1 jobs of \`true\`, concurrency 2 (median of ${RUNS})`);
  const repo = tempRepo({ '.gantry.yml': widePipeline(), '.gitignore': '.gitlab-ci-local/\n' });
  fs.copyFileSync(path.join(repo, '.gantry.yml'), path.join(repo, '.gitlab-ci.yml'));
  execFileSync('git', ['add', '-A'], { cwd: repo });
  execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@localhost', 'commit', '-qm', 'gcl'], { cwd: repo });
  const floorNode = await medianOf(RUNS, async () => (await timed(process.execPath, ['-e', FLOOR_SCRIPT])).ms);
  const floorXargs = await medianOf(RUNS, async () => (await timed('bash', ['-c', 'seq 202 | xargs -P2 -I{} bash -c true'])).ms);
  const gantry = await medianOf(RUNS, async () => (await gantryRun(repo, ['--concurrency', '2'])).ms);
  // The fixed cost of one `gantry run` (Node start, modules, git, store, compile): a one-job pipeline.
  const single = tempRepo({ '.gantry.yml': 'only:\n  script: [ "true" ]\n' });
  const fixed = await medianOf(RUNS, async () => (await gantryRun(single, [])).ms);
  fs.rmSync(single, { recursive: true, force: true });
  const rows: [string, number][] = [
    ['floor: node spawning 202 `bash -c true`, 2 at a time', floorNode.median],
    ['floor: xargs -P2 spawning 202 `bash -c true`', floorXargs.median],
    ['gantry run --concurrency 2', gantry.median],
    ['  (gantry run of a one-job pipeline: the fixed cost of a run)', fixed.median],
  ];
  const gcl = gitlabCiLocal();
  if (gcl) {
    const g = await medianOf(Math.min(RUNS, 3), async () => {
      const r = await timed(process.execPath, [gcl, '--concurrency', '2', '--quiet'], { cwd: repo, env: { ...process.env, NO_COLOR: '1' } });
      if (r.code !== 0) throw new Error(`gitlab-ci-local exited ${r.code}`);
      return r.ms;
    });
    rows.push([`gitlab-ci-local ${GCL_VERSION} --concurrency 2`, g.median]);
  } else rows.push([`gitlab-ci-local ${GCL_VERSION}: could not be installed (npm registry unreachable?)`, NaN]);
  for (const [name, ms] of rows) console.log(`${name.padEnd(62)} ${Number.isNaN(ms) ? '-' : fmt(ms).padStart(9)}`);
  console.log(`gantry / node floor: ${(gantry.median / floorNode.median).toFixed(2)}x (target <= 1.5x); gantry / xargs floor: ${(gantry.median / floorXargs.median).toFixed(2)}x`);
  console.log(`per job beyond the fixed cost: ${((gantry.median - fixed.median) / 202).toFixed(2)} ms; the node floor's: ${(floorNode.median / 202).toFixed(2)} ms`);
  const cpuHome = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-home-'));
  const gantryCpu = cpuSeconds(process.execPath, [GANTRY, 'run', '--json', '--quiet', '--concurrency', '2'], { cwd: repo, env: { ...process.env, GANTRY_HOME: cpuHome, NO_COLOR: '1' } });
  fs.rmSync(cpuHome, { recursive: true, force: true });
  const floorCpu = cpuSeconds(process.execPath, ['-e', FLOOR_SCRIPT]);
  console.log(`CPU (user + system, all processes) of one run: gantry ${gantryCpu.toFixed(2)} s, node floor ${floorCpu.toFixed(2)} s`);
  fs.rmSync(repo, { recursive: true, force: true });
}

async function bigLog(): Promise<void> {
  const bytes = 200_000_000;
  // Not `yes | head`: under pipefail (GitLab's shell too) yes's SIGPIPE would fail the job.
  const script = `head -c ${bytes} < <(yes 'gantry benchmark line: the quick brown fox jumps over the lazy dog 0123456789')`;
  console.log(`\n## One job printing ${bytes / 1e6} MB (median of ${RUNS})`);
  const repo = tempRepo({ '.gantry.yml': `big:\n  script:\n    - ${JSON.stringify(script)}\n` });
  const out = path.join(repo, 'out.txt');
  const toFile = await medianOf(RUNS, async () => (await timed('bash', ['-c', `set -eo pipefail; ${script} > ${out}`])).ms);
  // Gantry syncs every log to disk before it reports the pipeline finished; so does this line.
  const toFileSynced = await medianOf(RUNS, async () => (await timed('bash', ['-c', `set -eo pipefail; ${script} > ${out}; sync ${out}`])).ms);
  fs.rmSync(out, { force: true });
  let jobMs = 0;
  const gantry = await medianOf(RUNS, async () => {
    const r = await gantryRun(repo, []);
    const j = r.json.jobs[0]!;
    jobMs = Date.parse(j.finishedAt) - Date.parse(j.startedAt);
    return r.ms;
  });
  console.log(`${'the script with its output sent to a file'.padEnd(62)} ${fmt(toFile.median).padStart(9)}`);
  console.log(`${'the same, then the file synced to disk'.padEnd(62)} ${fmt(toFileSynced.median).padStart(9)}`);
  console.log(`${'gantry run (whole command: start, clone, compile, run, store log)'.padEnd(62)} ${fmt(gantry.median).padStart(9)}`);
  console.log(`${'  of which the job itself (startedAt -> finishedAt, last run)'.padEnd(62)} ${fmt(jobMs).padStart(9)}`);
  console.log(`gantry / file: ${(gantry.median / toFile.median).toFixed(2)}x whole command, ${(jobMs / toFile.median).toFixed(2)}x the job alone (target <= 1.3x); gantry / synced file: ${(gantry.median / toFileSynced.median).toFixed(2)}x`);
  console.log(`ingest ${(bytes / 1e6 / (jobMs / 1000)).toFixed(0)} MB/s while the job runs, ${(bytes / 1e6 / (gantry.median / 1000)).toFixed(0)} MB/s end to end`);
  fs.rmSync(repo, { recursive: true, force: true });
}

console.log(`# Gantry benchmarks — ${os.cpus().length} CPUs, Node ${process.version}, ${new Date().toISOString()}`);
// `npm run bench -- N fleet` (or `wide`, `fair-share`, `webhooks`, `logs`, `log-objects`, `sandbox`, `load`) runs that part alone.
if (process.argv[3] === 'wide') await wide();
else if (process.argv[3] === 'fleet') await fleet();
else if (process.argv[3] === 'fair-share') await fairShare();
else if (process.argv[3] === 'sandbox') await sandboxCost(RUNS);
else if (process.argv[3] === 'webhooks') await webhooks();
else if (process.argv[3] === 'logs') await logs();
else if (process.argv[3] === 'log-objects') await logObjects();
else if (process.argv[3] === 'load') await loadTest();
else {
  await wide();
  await sandboxCost(RUNS);
  await bigLog();
  await components();
  await fleet();
  await fairShare();
  await webhooks();
  await logs();
  await logObjects();
  await loadTest();
}
