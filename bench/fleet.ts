// The control plane under load, on SQLite and on PostgreSQL (when reachable): dispatch latency
// (a job's dependency finishes -> the job starts on an idle agent), throughput of trivial jobs
// through 4 agents, and the server's memory with 10,000 pending jobs and 50 waiting agents.
// Real `gantry server` and `gantry agent` processes on loopback; everything stops by itself.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openStore } from '../src/store/open.js';
import { asJobId } from '../src/domain/ids.js';
import { GANTRY, tempRepo } from './util.js';

/** Jobs per chain in the dispatch-latency part: 5 chains give 1,000 measured dispatches. */
const CHAIN = 201;

const PG_URL = process.env.GANTRY_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface Rig {
  url: string;
  token: string;
  agentToken: string;
  procs: ChildProcess[];
  server: ChildProcess;
  db: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function waitOutput(p: ChildProcess, re: RegExp, ms = 20_000): Promise<void> {
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${out.slice(-2000)}`)), ms);
    const on = (c: Buffer) => {
      out += c.toString();
      if (re.test(out)) {
        clearTimeout(t);
        // From here the output is drained, not kept: appending every request's log line and
        // searching the whole text again cost the bench's process seconds of CPU per run, on
        // the cores the server under test shares.
        p.stdout?.off('data', on).resume();
        p.stderr?.off('data', on).resume();
        resolve();
      }
    };
    p.stdout?.on('data', on);
    p.stderr?.on('data', on);
  });
}

export async function rig(db: string, home: string): Promise<Rig> {
  const port = await freePort();
  const server = spawn(process.execPath, [GANTRY, 'server', '--listen', `127.0.0.1:${port}`, '--db', db], {
    // The benches drive the server to saturation on purpose and watch 1,000 logs with one token:
    // shedding and the stream caps would measure the overload protection instead (its own test is
    // test/fleet/overload-burst.test.ts).
    env: {
      ...process.env,
      GANTRY_HOME: home,
      GANTRY_PRESSURE_MAX_DELAY_MS: '0',
      GANTRY_PRESSURE_MAX_UTILIZATION: '0',
      GANTRY_MAX_INFLIGHT_STREAMS: '0',
      GANTRY_MAX_STREAMS_PER_CALLER: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await waitOutput(server, /gantry server ready at/);
  // Request logging off the hot path would be fairer, but this is the server as shipped.
  return {
    url: `http://127.0.0.1:${port}`,
    token: fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim(),
    agentToken: fs.readFileSync(path.join(home, 'agent.token'), 'utf8').trim(),
    procs: [server],
    server,
    db,
  };
}

async function agents(r: Rig, home: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = spawn(process.execPath, [GANTRY, 'agent', '--server', r.url, '--token', r.agentToken, '--name', `bench-${i}`], {
      env: { ...process.env, GANTRY_HOME: home, GANTRY_AGENT_HOME: path.join(home, `agent-${i}`) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    r.procs.push(a);
    await waitOutput(a, /connected to/);
  }
}

export async function api<T>(r: Rig, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${r.url}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${r.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return (await res.json()) as T;
}

export async function waitDone(r: Rig, ids: number[]): Promise<void> {
  for (const id of ids) {
    for (;;) {
      const p = await api<{ status: string }>(r, 'GET', `/pipelines/${id}`);
      if (['success', 'failed', 'canceled'].includes(p.status)) {
        if (p.status !== 'success') throw new Error(`pipeline ${id} ${p.status}`);
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

export function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function stop(r: Rig): Promise<void> {
  for (const p of r.procs.reverse()) {
    if (p.exitCode === null && p.signalCode === null) {
      await new Promise<void>((res) => {
        p.once('exit', () => res());
        p.kill('SIGKILL');
      });
    }
  }
}

async function onStore(label: string, db: () => Promise<string>): Promise<void> {
  console.log(`\n### ${label}`);
  // 1. Dispatch latency: 5 chains of 201 jobs, each needing the one before (1,000 dispatches
  //    measured); one idle agent. Twice: without a quota (no ledger work at dispatch), and with
  //    one (each offer reserves its slice under the project's lock, each end consumes and releases).
  for (const ledger of [false, true]) {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-fleet-'));
    const lines: string[] = [];
    for (let i = 0; i < CHAIN; i++) lines.push(`j${i}:`, i ? `  needs: [j${i - 1}]` : '  needs: []', '  script: ["true"]');
    const repo = tempRepo({ '.gantry.yml': `${lines.join('\n')}\n` });
    const r = await rig(await db(), home);
    try {
      await agents(r, home, 1);
      await api(r, 'POST', '/projects', { name: 'chain', gitUrl: repo });
      // A quota no run here comes near: the ledger's work, not its refusals.
      if (ledger) await api(r, 'PUT', '/projects/chain/quota', { monthlyMinutes: 100_000 });
      const ids: number[] = [];
      for (let k = 0; k < 5; k++) {
        const p = await api<{ id: number }>(r, 'POST', '/projects/chain/pipelines', { ref: 'main' });
        ids.push(p.id);
        await waitDone(r, [p.id]);
      }
      const store = await openStore(r.db);
      const gaps: number[] = [];
      try {
        for (const id of ids) {
          const p = (await store.getPipeline(id as never))!;
          const byName = new Map(p.jobs.map((j) => [j.name, j]));
          for (let i = 1; i < CHAIN; i++) {
            const prev = p.attempts.find((a) => a.jobId === byName.get(`j${i - 1}`)!.id)!;
            const next = p.attempts.find((a) => a.jobId === asJobId(byName.get(`j${i}`)!.id))!;
            gaps.push(next.startedAt! - prev.finishedAt!);
          }
        }
      } finally {
        await store.close();
      }
      gaps.sort((a, b) => a - b);
      console.log(`dispatch latency over ${gaps.length} jobs (dependency finished -> attempt started on the idle agent), ${ledger ? 'with a quota (the ledger on)' : 'no quota'}: p50 ${pct(gaps, 0.5)} ms, p99 ${pct(gaps, 0.99)} ms (targets 5 / 25 ms)`);
    } finally {
      await stop(r);
      fs.rmSync(home, { recursive: true, force: true });
    }
    }
  // 2. Throughput: 2,000 trivial jobs (20 pipelines of 100) through 4 agents.
  {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-fleet-'));
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push(`j${i}:`, '  script: ["true"]');
    const repo = tempRepo({ '.gantry.yml': `${lines.join('\n')}\n` });
    const r = await rig(await db(), home);
    try {
      await agents(r, home, 4);
      await api(r, 'POST', '/projects', { name: 'wide', gitUrl: repo });
      const t0 = Date.now();
      const ids: number[] = [];
      for (let k = 0; k < 20; k++) ids.push((await api<{ id: number }>(r, 'POST', '/projects/wide/pipelines', { ref: 'main' })).id);
      await waitDone(r, ids);
      const s = (Date.now() - t0) / 1000;
      console.log(`2,000 trivial jobs through 4 agents: ${s.toFixed(1)} s, ${(2000 / s).toFixed(0)} jobs/s`);
    } finally {
      await stop(r);
      fs.rmSync(home, { recursive: true, force: true });
    }
  }
  // 3. Memory: 10,000 pending jobs (100 pipelines of 100, untagged work for a tag no agent has)
  //    and 50 agents holding long polls.
  {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-fleet-'));
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push(`j${i}:`, '  tags: [nobody]', '  script: ["true"]');
    const repo = tempRepo({ '.gantry.yml': `${lines.join('\n')}\n` });
    const r = await rig(await db(), home);
    const polls: AbortController[] = [];
    try {
      await api(r, 'POST', '/projects', { name: 'queue', gitUrl: repo });
      for (let k = 0; k < 100; k++) await api(r, 'POST', '/projects/queue/pipelines', { ref: 'main' });
      for (let i = 0; i < 50; i++) {
        const reg = await fetch(`${r.url}/api/v1/agent/register`, {
          method: 'POST',
          headers: { authorization: `Bearer ${r.agentToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `idle-${i}`, tags: [], concurrency: 1, version: 'bench', protocol: 1 }),
        });
        const { token } = (await reg.json()) as { token: string };
        const ses = await fetch(`${r.url}/api/v1/agent/sessions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `idle-${i}`, tags: [], concurrency: 1, version: 'bench', protocol: 1 }),
        });
        const { sessionId } = (await ses.json()) as { sessionId: string };
        const ac = new AbortController();
        polls.push(ac);
        void fetch(`${r.url}/api/v1/agent/jobs/request`, {
          method: 'POST',
          signal: ac.signal,
          headers: { authorization: `Bearer ${token}`, 'gantry-session': sessionId, 'content-type': 'application/json' },
          body: JSON.stringify({ slots: 1, waitMs: 30_000 }),
        }).catch(() => undefined);
      }
      await new Promise((res) => setTimeout(res, 3_000));
      console.log(`server RSS with 10,000 pending jobs and 50 agents polling: ${rssMb(r.server.pid!).toFixed(0)} MB (target 200 MB)`);
    } finally {
      for (const ac of polls) ac.abort();
      await stop(r);
      fs.rmSync(home, { recursive: true, force: true });
    }
  }
}

export async function fleet(): Promise<void> {
  console.log('\n## The fleet: server + agents on loopback');
  await onStore('SQLite', async () => `sqlite:${path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-db-')), 'gantry.db')}`);
  await onPostgres((schema) => onStore('PostgreSQL', schema));
}

/**
 * Runs `fn` with a maker of fresh schemas on the bench's PostgreSQL (GANTRY_TEST_PG or the local
 * one), each a store URL, all dropped afterwards; says so and returns when it is unreachable.
 */
export async function onPostgres(fn: (freshSchema: () => Promise<string>) => Promise<void>): Promise<void> {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1, connectionTimeoutMillis: 2_000 });
  admin.on('error', () => undefined);
  try {
    await admin.query('SELECT 1');
  } catch (e) {
    console.log(`\n### PostgreSQL: skipped (${(e as Error).message})`);
    await admin.end();
    return;
  }
  const schemas: string[] = [];
  try {
    await fn(async () => {
      const s = `gantry_bench_${Date.now().toString(36)}_${schemas.length}`;
      await admin.query(`CREATE SCHEMA ${s}`);
      schemas.push(s);
      return `${PG_URL}?options=${encodeURIComponent(`-c search_path=${s}`)}`;
    });
  } finally {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.end();
  }
}
