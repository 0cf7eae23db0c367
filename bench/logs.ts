// Logs under load (docs/BENCHMARKS.md, "Logs"): real `gantry server` and `gantry agent` processes
// on loopback, on SQLite and on PostgreSQL (when reachable), SSE viewers in this process.
//   1. print-to-viewer latency: N jobs each printing L lines/s, V viewers (2 per job);
//   2. ingest: one job printing 100 MB as fast as it can, against the same script into a file;
//   3. 1,000 viewers on one job: the server's RSS and the viewers' latency.
// Latency: each printed line carries its print time; a viewer takes, per event, the first whole
// line (the oldest in it) and compares it with its own clock (same machine, same clock).
// `npm run bench -- 1 logs` runs this part alone. LOGS_JOBS / LOGS_LINES scale the first part,
// LOGS_WATCHED watches only that many of its jobs, LOGS_PARTS=latency,ingest,viewers picks parts,
// LOGS_STORES=sqlite,postgres picks stores. Every part stops by itself (PART_LIMIT_MS).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { readSse } from '../src/client/sse.js';
import { api, onPostgres, pct, rig, rssMb, stop, waitOutput, type Rig } from './fleet.js';
import { cpuSeconds, fmt, GANTRY, tempRepo, timed } from './util.js';

/** No part runs longer than this, whatever happens: the pipeline is cancelled and the part reported as such. */
const PART_LIMIT_MS = 120_000;

async function agent(r: Rig, home: string, i: number, concurrency: number): Promise<ReturnType<typeof spawn>> {
  const a = spawn(process.execPath, [GANTRY, 'agent', '--server', r.url, '--token', r.agentToken, '--name', `logs-${i}`, '--concurrency', String(concurrency)], {
    env: { ...process.env, GANTRY_HOME: home, GANTRY_AGENT_HOME: path.join(home, `agent-${i}`) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  r.procs.push(a);
  await waitOutput(a, /connected to/);
  return a;
}

const nowMs = () => performance.timeOrigin + performance.now();
const load = () => os.loadavg()[0]!.toFixed(1);

/** CPU seconds (user + system) a process has used so far. */
function cpuOf(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime + stime, in clock ticks (USER_HZ, 100 a second on Linux).
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU used by each named process between `start` and `report`, as a share of one core. */
function cpuMeter(procs: Record<string, number>): { report(): string } {
  const t0 = performance.now();
  const before = Object.fromEntries(Object.entries(procs).map(([n, pid]) => [n, cpuOf(pid)]));
  const self0 = process.cpuUsage();
  return {
    report() {
      const s = (performance.now() - t0) / 1000;
      const self = process.cpuUsage(self0);
      const parts = Object.entries(procs).map(([n, pid]) => `${n} ${((100 * (cpuOf(pid) - before[n]!)) / s).toFixed(0)}%`);
      parts.push(`bench ${((self.user + self.system) / 1e4 / s).toFixed(0)}%`);
      return parts.join(', ');
    },
  };
}

/** One SSE viewer: records, per event, the age of its first whole line. */
function viewer(r: Rig, jobId: number, lat: number[], state: { measuring: boolean; events: number }, ac: AbortController): Promise<void> {
  return (async () => {
    const res = await fetch(`${r.url}/api/v1/jobs/${jobId}/log/stream`, { headers: { authorization: `Bearer ${r.token}` }, signal: ac.signal });
    if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
    for await (const item of readSse(res.body)) {
      if ('comment' in item || item.event !== 'log') continue;
      state.events++;
      if (!state.measuring) continue;
      const at = nowMs();
      // The first whole line: after the first newline (the event may start mid-line). Lines are
      // short, so it is in the first few hundred bytes: only those are decoded (200 viewers
      // decoding whole events cost this process, on the cores the server shares, more than the
      // server spent sending them).
      const b64 = /"b64":"([^"]*)"/.exec(item.data)?.[1] ?? '';
      const m = /(?:^|\n)t=(\d+\.\d+) /.exec(Buffer.from(b64.slice(0, 800), 'base64').toString('latin1')) ?? /(?:^|\n)t=(\d+\.\d+) /.exec(Buffer.from(b64, 'base64').toString('latin1'));
      if (m) lat.push(at - Number(m[1]) * 1000);
    }
  })().catch((e: unknown) => {
    if (!ac.signal.aborted) throw e;
  });
}

/** A viewer that only reads the stream (the server's cost is the same; the bench process's is not). */
function drainer(r: Rig, jobId: number, ac: AbortController): Promise<void> {
  return (async () => {
    const res = await fetch(`${r.url}/api/v1/jobs/${jobId}/log/stream`, { headers: { authorization: `Bearer ${r.token}` }, signal: ac.signal });
    if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
    for await (const _ of res.body) void _;
  })().catch((e: unknown) => {
    if (!ac.signal.aborted) throw e;
  });
}

async function jobIds(r: Rig, pipelineId: number, until: (j: { status: string }[]) => boolean, deadline: number): Promise<number[]> {
  for (;;) {
    const p = await api<{ jobs: { id: number; status: string }[] }>(r, 'GET', `/pipelines/${pipelineId}`);
    if (until(p.jobs)) return p.jobs.map((j) => j.id);
    if (Date.now() > deadline) throw new Error(`jobs not running after ${PART_LIMIT_MS} ms`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Waits for the pipeline to succeed; past the deadline cancels it and throws. */
async function waitDone(r: Rig, id: number, deadline: number): Promise<void> {
  for (;;) {
    const p = await api<{ status: string }>(r, 'GET', `/pipelines/${id}`);
    if (p.status === 'success') return;
    if (['failed', 'canceled'].includes(p.status)) throw new Error(`pipeline ${id} ${p.status}`);
    if (Date.now() > deadline) {
      await api(r, 'POST', `/pipelines/${id}/cancel`).catch(() => undefined);
      throw new Error(`pipeline ${id} not done within ${PART_LIMIT_MS} ms (cancelled)`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Waits for the viewers to settle; the server's RSS then. */
async function settle(r: Rig, ms: number): Promise<number> {
  await new Promise((res) => setTimeout(res, ms));
  return rssMb(r.server.pid!);
}

/** Counts only what arrives during `ms`: the latency samples (`state.measuring`), each process's CPU, the server's RSS at the end. */
async function measureWindow(r: Rig, state: { measuring: boolean }, procs: Record<string, number>, ms: number): Promise<{ rss: number; used: string }> {
  const cpu = cpuMeter(procs);
  state.measuring = true;
  await new Promise((res) => setTimeout(res, ms));
  state.measuring = false;
  return { rss: rssMb(r.server.pid!), used: cpu.report() };
}

function summary(lat: number[]): string {
  const s = [...lat].sort((a, b) => a - b);
  return s.length ? `p50 ${pct(s, 0.5).toFixed(1)} ms, p99 ${pct(s, 0.99).toFixed(1)} ms over ${s.length} events` : 'no events';
}

/**
 * A job printing `perSecond` lines a second for `seconds`, each line written on its own (one
 * write(2) per line, as an unbuffered program does) and stamped with its print time, in 10 bursts
 * a second on a fixed schedule. Perl, not a bash loop: 100 bash loops of `echo` and `sleep` alone
 * need about 2.4 CPU-seconds per second (a fork of `sleep` costs 1.5 ms here), more than this
 * 2-core machine has, and left nothing for Gantry (docs/BENCHMARKS.md, "Logs").
 */
function printer(perSecond: number, seconds: number): string {
  const burst = Math.max(1, Math.round(perSecond / 10));
  return (
    `perl -MTime::HiRes=time,sleep -e '$|=1; $t0=time; for $k (0..${seconds * 10 - 1}) { ` +
    `for (0..${burst - 1}) { printf "t=%.6f line $k.$_ of a job log, some text to make it look real\\n", time } ` +
    `$w=$t0+($k+1)*0.1-time; sleep $w if $w>0 }'`
  );
}

/** The printers alone, into files: the CPU they need and the wall time they take on this machine now. */
function printerFloor(jobs: number, lines: number, seconds: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-floor-'));
  try {
    const script = printer(lines, seconds);
    const t0 = performance.now();
    const cpu = cpuSeconds('bash', ['-c', `for ((i=0; i<${jobs}; i++)); do bash -c ${shellQuote(script)} > ${dir}/$i.log & done; wait`]);
    const wall = (performance.now() - t0) / 1000;
    return `${jobs} printers alone into files: ${wall.toFixed(1)} s for ${seconds} s of printing, ${(cpu / seconds).toFixed(2)} CPU-seconds a second (load ${load()})`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function latency(db: string, home: string, jobs: number, lines: number, viewersPerJob: number): Promise<void> {
  // Long enough that the window measured (after the jobs start and the viewers settle) is printing throughout.
  const seconds = 20;
  const deadline = Date.now() + PART_LIMIT_MS;
  const repo = tempRepo({ '.gantry.yml': `printer:\n  parallel: ${jobs}\n  script:\n    - ${JSON.stringify(printer(lines, seconds))}\n` });
  const r = await rig(db, home);
  const lat: number[] = [];
  const state = { measuring: false, events: 0 };
  const ac = new AbortController();
  try {
    const procs: Record<string, number> = { server: r.server.pid! };
    for (let i = 0; i < Math.ceil(jobs / 50); i++) procs[`agent ${i}`] = (await agent(r, home, i, Math.min(50, jobs - i * 50))).pid!;
    await api(r, 'POST', '/projects', { name: 'printers', gitUrl: repo });
    const p = await api<{ id: number }>(r, 'POST', '/projects/printers/pipelines', { ref: 'main' });
    const t0 = Date.now();
    const ids = await jobIds(r, p.id, (js) => js.every((j) => j.status === 'running'), deadline);
    console.log(`  (all ${jobs} jobs running after ${Date.now() - t0} ms)`);
    const views: Promise<void>[] = [];
    // LOGS_WATCHED: watch only that many of the jobs (to tell the cost of ingest from that of viewers).
    const watched = ids.slice(0, Number(process.env.LOGS_WATCHED ?? ids.length));
    for (const id of watched) for (let v = 0; v < viewersPerJob; v++) views.push(viewer(r, id, lat, state, ac));
    const rssBefore = await settle(r, 4_000);
    const { rss, used } = await measureWindow(r, state, procs, 8_000);
    ac.abort();
    await waitDone(r, p.id, deadline);
    console.log(
      `${jobs} jobs x ${lines} lines/s, ${views.length} viewers (${state.events} events in all): print-to-viewer ${summary(lat)} (target p99 <= 50 ms); ` +
        `server RSS ${rssBefore.toFixed(0)} -> ${rss.toFixed(0)} MB; CPU of a core while measured: ${used}; load ${load()}`,
    );
  } finally {
    ac.abort();
    await stop(r);
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function ingest(db: string, home: string): Promise<void> {
  const bytes = 100_000_000;
  const deadline = Date.now() + PART_LIMIT_MS;
  const script = `head -c ${bytes} < <(yes 'gantry benchmark line: the quick brown fox jumps over the lazy dog 0123456789')`;
  const repo = tempRepo({ '.gantry.yml': `big:\n  script:\n    - ${JSON.stringify(script)}\n` });
  const out = path.join(repo, 'out.txt');
  const toFile = (await timed('bash', ['-c', `set -eo pipefail; ${script} > ${out}; sync ${out}`])).ms;
  fs.rmSync(out, { force: true });
  const r = await rig(db, home);
  try {
    const a = await agent(r, home, 0, 1);
    const cpu = cpuMeter({ server: r.server.pid!, agent: a.pid! });
    await api(r, 'POST', '/projects', { name: 'big', gitUrl: repo });
    const p = await api<{ id: number }>(r, 'POST', '/projects/big/pipelines', { ref: 'main' });
    await waitDone(r, p.id, deadline);
    const used = cpu.report();
    const job = (await api<{ jobs: { startedAt: string; finishedAt: string }[] }>(r, 'GET', `/pipelines/${p.id}`)).jobs[0]!;
    // finishedAt is the completion, which the server accepts only with every byte durable.
    const ms = Date.parse(job.finishedAt) - Date.parse(job.startedAt);
    console.log(`one job printing 100 MB through agent and server (started -> every byte durable): ${fmt(ms)}, ${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s; CPU of a core: ${used}; load ${load()}`);
    console.log(`the same script into a file, then synced: ${fmt(toFile)}, ${(bytes / 1e6 / (toFile / 1000)).toFixed(0)} MB/s (gantry / file: ${(ms / toFile).toFixed(2)}x)`);
  } finally {
    await stop(r);
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function manyViewers(db: string, home: string, n: number): Promise<void> {
  const deadline = Date.now() + PART_LIMIT_MS;
  const repo = tempRepo({ '.gantry.yml': `watched:\n  script:\n    - ${JSON.stringify(printer(1000, 20))}\n` });
  const r = await rig(db, home);
  const lat: number[] = [];
  const state = { measuring: false, events: 0 };
  const ac = new AbortController();
  try {
    await agent(r, home, 0, 1);
    await api(r, 'POST', '/projects', { name: 'watched', gitUrl: repo });
    const p = await api<{ id: number }>(r, 'POST', '/projects/watched/pipelines', { ref: 'main' });
    const [id] = await jobIds(r, p.id, (js) => js.every((j) => j.status === 'running'), deadline);
    const rssIdle = rssMb(r.server.pid!);
    const views: Promise<void>[] = [];
    // 100 viewers measure; the other 900 only read, so the bench process does not become the bottleneck.
    for (let v = 0; v < n; v++) views.push(v < 100 ? viewer(r, id!, lat, state, ac) : drainer(r, id!, ac));
    await settle(r, 3_000);
    const { rss, used } = await measureWindow(r, state, { server: r.server.pid! }, 6_000);
    ac.abort();
    await waitDone(r, p.id, deadline);
    console.log(
      `${n} viewers on one job printing 1,000 lines/s: print-to-viewer (100 of them measured) ${summary(lat)}; ` +
        `server RSS ${rssIdle.toFixed(0)} MB without viewers, ${rss.toFixed(0)} MB with them; CPU of a core: ${used}; load ${load()}`,
    );
  } finally {
    ac.abort();
    await stop(r);
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function onStore(label: string, db: (home: string) => Promise<string>, parts: string[]): Promise<void> {
  console.log(`\n### ${label}`);
  const jobs = Number(process.env.LOGS_JOBS ?? 100);
  const lines = Number(process.env.LOGS_LINES ?? 1000);
  const run = async (name: string, fn: (db: string, home: string) => Promise<void>) => {
    if (!parts.includes(name)) return;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-logs-'));
    try {
      await fn(await db(home), home);
    } catch (e) {
      console.log(`${name}: ${(e as Error).message}`);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  };
  await run('latency', (d, h) => latency(d, h, jobs, lines, 2));
  await run('ingest', (d, h) => ingest(d, h));
  await run('viewers', (d, h) => manyViewers(d, h, 1000));
}

export async function logs(): Promise<void> {
  console.log('\n## Logs: server + agents on loopback, SSE viewers in the bench process');
  const parts = (process.env.LOGS_PARTS ?? 'latency,ingest,viewers').split(',');
  const stores = (process.env.LOGS_STORES ?? 'sqlite,postgres').split(',');
  if (parts.includes('latency')) console.log(printerFloor(Number(process.env.LOGS_JOBS ?? 100), Number(process.env.LOGS_LINES ?? 1000), 5));
  if (stores.includes('sqlite')) {
    await onStore('SQLite', async (home) => `sqlite:${path.join(home, 'gantry.db')}`, parts);
  }
  if (stores.includes('postgres')) await onPostgres((schema) => onStore('PostgreSQL', () => schema(), parts));
}
