// The sandbox's cost (issue 15): the wide 1 -> 200 -> 1 pipeline through `gantry run` at
// --isolation none and --isolation sandbox, alternated run by run so both see the same machine.
// Per job: the median of every job's own duration (startedAt -> finishedAt: workspace, bash, its
// end) under each level; the difference is what the sandbox adds to a job.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sandboxUnavailableReason } from '../src/agent/sandbox/host-support.js';
import { fmt, GANTRY, tempRepo, timed } from './util.js';

function widePipeline(): string {
  const lines = ['stages: [first, wide, last]', 'first:', '  stage: first', '  script: [ "true" ]'];
  for (let i = 1; i <= 200; i++) lines.push(`wide_${i}:`, '  stage: wide', '  script: [ "true" ]');
  lines.push('last:', '  stage: last', '  script: [ "true" ]');
  return `${lines.join('\n')}\n`;
}

interface RunJson {
  status: string;
  jobs: { startedAt: string; finishedAt: string }[];
}

async function run(repo: string, isolation: 'none' | 'sandbox'): Promise<{ ms: number; jobMs: number[] }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-home-'));
  try {
    const r = await timed(process.execPath, [GANTRY, 'run', '--json', '--quiet', '--concurrency', '2', '--isolation', isolation], {
      cwd: repo,
      env: { ...process.env, GANTRY_HOME: home, NO_COLOR: '1' },
    });
    const json = JSON.parse(r.stdout) as RunJson;
    if (r.code !== 0 || json.status !== 'success') throw new Error(`gantry run --isolation ${isolation} failed: exit ${r.code}, status ${json.status}`);
    return { ms: r.ms, jobMs: json.jobs.map((j) => Date.parse(j.finishedAt) - Date.parse(j.startedAt)) };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function sandboxCost(runs: number): Promise<void> {
  console.log(`\n## Sandbox cost: 1 -> 200 -> 1 jobs of \`true\`, gantry run --concurrency 2, none and sandbox alternated (${runs} runs each)`);
  const why = sandboxUnavailableReason(process.env.PATH);
  if (why) {
    console.log(`skipped: this host cannot run the sandbox:\n${why}`);
    return;
  }
  const repo = tempRepo({ '.gantry.yml': widePipeline() });
  const totals = { none: [] as number[], sandbox: [] as number[] };
  const jobs = { none: [] as number[], sandbox: [] as number[] };
  try {
    for (let i = 0; i < runs; i++) {
      for (const level of i % 2 === 0 ? (['none', 'sandbox'] as const) : (['sandbox', 'none'] as const)) {
        const r = await run(repo, level);
        totals[level].push(r.ms);
        jobs[level].push(...r.jobMs);
      }
    }
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
  const wideNone = median(totals.none);
  const wideSandbox = median(totals.sandbox);
  const jobNone = median(jobs.none);
  const jobSandbox = median(jobs.sandbox);
  console.log(`${'wide pipeline, isolation none'.padEnd(62)} ${fmt(wideNone).padStart(9)}`);
  console.log(`${'wide pipeline, isolation sandbox'.padEnd(62)} ${fmt(wideSandbox).padStart(9)}`);
  console.log(`sandbox / none: ${(wideSandbox / wideNone).toFixed(2)}x (target <= 1.3x)`);
  console.log(`median job (of ${jobs.none.length}): none ${jobNone.toFixed(1)} ms, sandbox ${jobSandbox.toFixed(1)} ms: ${(jobSandbox - jobNone).toFixed(1)} ms more a job (target <= 20 ms)`);
  console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}
