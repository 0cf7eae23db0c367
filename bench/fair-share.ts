// Weighted fair share in real time, on PostgreSQL with two server instances (issue 18: "two
// projects of weights 2 and 1 flooding one pool get 2:1 of its attempts over a minute, within
// 10%"). Two projects with 1,500 queued jobs each flood one pool of two agents (2 slots each), one
// agent on each instance, so the order cannot depend on which instance an agent polls. Counts the
// attempts each project started in one minute of wall time, from the store's own timestamps.
// Real `gantry server` and `gantry agent` processes on loopback; everything stops by itself.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { api, onPostgres, rig, stop, waitOutput, type Rig } from './fleet.js';
import { GANTRY, tempRepo } from './util.js';

const WINDOW_MS = 60_000;
/** Per project: 15 pipelines of 100 jobs, more than a minute of the pool's work for either. */
const PIPELINES = 15;
const JOBS_PER_PIPELINE = 100;

function agent(r: Rig, home: string, name: string): Promise<void> {
  const a = spawn(process.execPath, [GANTRY, 'agent', '--server', r.url, '--token', r.agentToken, '--name', name, '--concurrency', '2'], {
    env: { ...process.env, GANTRY_HOME: home, GANTRY_AGENT_HOME: path.join(home, `agent-${name}`) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  r.procs.push(a);
  return waitOutput(a, /connected to/);
}

export async function fairShare(): Promise<void> {
  console.log('\n## Weighted fair share: weights 2 and 1 flooding one pool for a minute (PostgreSQL, two instances)');
  await onPostgres(async (schema) => {
    const db = await schema();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-share-'));
    const lines: string[] = [];
    // Jobs of about 0.2 s: the pool turns over ~20 attempts a second, so a minute is ~1,200 of them.
    for (let i = 0; i < JOBS_PER_PIPELINE; i++) lines.push(`j${i}:`, '  script: ["sleep 0.2"]');
    const repo = tempRepo({ '.gantry.yml': `${lines.join('\n')}\n` });
    const a = await rig(db, home);
    const b = await rig(db, home);
    try {
      await api(a, 'POST', '/projects', { name: 'heavy', gitUrl: repo });
      await api(a, 'POST', '/projects', { name: 'light', gitUrl: repo });
      await api(a, 'PATCH', '/projects/heavy', { weight: 2 });
      // Both queues full before any agent polls: the minute measures the split, not the fill.
      for (let k = 0; k < PIPELINES; k++) {
        await api(a, 'POST', '/projects/heavy/pipelines', { ref: 'main' });
        await api(b, 'POST', '/projects/light/pipelines', { ref: 'main' });
      }
      await Promise.all([agent(a, home, 'share-a'), agent(b, home, 'share-b')]);
      const t0 = Date.now();
      await new Promise((res) => setTimeout(res, WINDOW_MS));
      const c = new pg.Client({ connectionString: db });
      await c.connect();
      let counts: Record<string, number>;
      let byInstance: string;
      try {
        const rows = (
          await c.query<{ project: string; n: string }>(
            'SELECT p.name AS project, count(*) AS n FROM attempts a JOIN projects p ON p.id = a.project_id WHERE a.started_at >= $1 AND a.started_at < $2 GROUP BY p.name',
            [t0, t0 + WINDOW_MS],
          )
        ).rows;
        counts = Object.fromEntries(rows.map((r) => [r.project, Number(r.n)]));
        const agents = (
          await c.query<{ agent: string; n: string }>(
            'SELECT g.name AS agent, count(*) AS n FROM attempts a JOIN agents g ON g.id = a.agent_id WHERE a.started_at >= $1 AND a.started_at < $2 GROUP BY g.name ORDER BY g.name',
            [t0, t0 + WINDOW_MS],
          )
        ).rows;
        byInstance = agents.map((r) => `${r.agent} ${r.n}`).join(', ');
      } finally {
        await c.end();
      }
      const heavy = counts.heavy ?? 0;
      const light = counts.light ?? 0;
      const ratio = light ? heavy / light : Infinity;
      console.log(`attempts started in ${WINDOW_MS / 1000} s: heavy (weight 2) ${heavy}, light (weight 1) ${light}; ratio ${ratio.toFixed(3)} (target 2, within 10%: 1.8-2.2) — by agent: ${byInstance}`);
    } finally {
      await stop(b);
      await stop(a);
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
}
