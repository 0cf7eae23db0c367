// The parts on the hot path of `gantry run`, measured alone: compiling a wide pipeline, a state
// move in the embedded store, appending to a log.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileLogStore } from '../src/logstore/file-log-store.js';
import { compilePipeline, memoryProjectFiles } from '../src/pipeline/index.js';
import { openStore } from '../src/store/open.js';

function widePipeline(width: number): string {
  const lines = ['stages: [first, wide, last]', 'first:', '  stage: first', '  script: [ "true" ]'];
  for (let i = 1; i <= width; i++) lines.push(`wide_${i}:`, '  stage: wide', '  script: [ "true" ]');
  lines.push('last:', '  stage: last', '  script: [ "true" ]');
  return `${lines.join('\n')}\n`;
}

export async function components(): Promise<void> {
  console.log('\n## Components');
  const files = memoryProjectFiles({ '.gantry.yml': widePipeline(200) });
  const ctx = { variables: { CI_COMMIT_BRANCH: 'main', CI_PIPELINE_SOURCE: 'push' }, changedFiles: null, files };
  let t = performance.now();
  const first = compilePipeline('.gantry.yml', ctx);
  const cold = performance.now() - t;
  if (first.ok !== true) throw new Error('the bench pipeline does not compile');
  t = performance.now();
  for (let i = 0; i < 20; i++) compilePipeline('.gantry.yml', ctx);
  const warm = (performance.now() - t) / 20;
  console.log(`${'compile 1 -> 200 -> 1 (first in this process / warm)'.padEnd(62)} ${cold.toFixed(1)} / ${warm.toFixed(1)} ms`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-parts-'));
  try {
    const store = await openStore(`sqlite:${path.join(dir, 'gantry.db')}`);
    const project = await store.ensureProject('bench', dir, Date.now());
    const { jobs } = await store.createPipeline({
      projectId: project.id,
      ref: 'main',
      sha: '0'.repeat(40),
      source: 'push',
      variables: {},
      fileVariables: {},
      pipelineFile: '.gantry.yml',
      jobs: first.pipeline.jobs,
      createdAt: Date.now(),
    });
    t = performance.now();
    for (const j of jobs) {
      await store.moveJob(j.id, 'pending', { at: 2 });
      await store.moveJob(j.id, 'running', { at: 3 });
      await store.moveJob(j.id, 'success', { at: 4, exitCode: 0 });
    }
    const perMove = ((performance.now() - t) * 1000) / (jobs.length * 3);
    await store.close();
    console.log(`${'SQLite store: one job state move'.padEnd(62)} ${perMove.toFixed(1)} µs`);

    const logs = new FileLogStore(path.join(dir, 'logs'));
    const w = logs.openWriter({ pipelineId: 1, jobId: 1, attempt: 1 });
    const chunk = Buffer.alloc(64 << 10, 'x');
    const total = 200_000_000;
    t = performance.now();
    for (let n = 0; n < total; n += chunk.length) w.append(chunk);
    const appendMs = performance.now() - t;
    w.close();
    console.log(`${'log store: append 200 MB in 64 KiB chunks'.padEnd(62)} ${(total / 1e6 / (appendMs / 1000)).toFixed(0)} MB/s`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
