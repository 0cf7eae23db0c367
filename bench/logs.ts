// Logs under load (docs/BENCHMARKS.md, "Logs"): real `gantry server` and `gantry agent` processes
// on loopback, SQLite store, SSE viewers in this process.
//   1. print-to-viewer latency: N jobs each printing L lines/s, V viewers (2 per job);
//   2. ingest: one job printing 100 MB as fast as it can, against the same script into a file;
//   3. 1,000 viewers on one job: the server's RSS and the viewers' latency.
// Latency: each printed line carries bash's $EPOCHREALTIME; a viewer takes, per event, the first
// whole line (the oldest in it) and compares it with its own clock (same machine, same clock).
// `npm run bench -- 1 logs` runs this part alone; LOGS_JOBS / LOGS_LINES scale the first part,
// LOGS_PARTS=latency,ingest,viewers picks parts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { readSse } from '../src/client/sse.js';
import { api, pct, rig, rssMb, stop, waitDone, waitOutput, type Rig } from './fleet.js';
import { fmt, tempRepo, timed } from './util.js';

async function agent(r: Rig, home: string, i: number, concurrency: number): Promise<void> {
  const a = spawn(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bin', 'gantry'), 'agent', '--server', r.url, '--token', r.agentToken, '--name', `logs-${i}`, '--concurrency', String(concurrency)], {
    env: { ...process.env, GANTRY_HOME: home, GANTRY_AGENT_HOME: path.join(home, `agent-${i}`) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  r.procs.push(a);
  await waitOutput(a, /connected to/);
}

const nowMs = () => performance.timeOrigin + performance.now();

/** One SSE viewer: records, per event, the age of its first whole line. */
function viewer(r: Rig, jobId: number, lat: number[], state: { measuring: boolean; events: number }, ac: AbortController): Promise<void> {
  return (async () => {
    const res = await fetch(`${r.url}/api/v1/jobs/${jobId}/log/stream`, { headers: { authorization: `Bearer ${r.token}` }, signal: ac.signal });
    if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
    for await (const item of readSse(res.body)) {
      if ('comment' in item || item.event !== 'log') continue;
      state.events++;
      if (!state.measuring) continue;
      const b64 = (JSON.parse(item.data) as { b64: string }).b64;
      const text = Buffer.from(b64, 'base64').toString('latin1');
      // The first whole line: after the first newline (the event may start mid-line).
      const m = /(?:^|\n)t=(\d+\.\d+) /.exec(text);
      if (m) lat.push(nowMs() - Number(m[1]) * 1000);
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

async function jobIds(r: Rig, pipelineId: number, until: (j: { status: string }[]) => boolean): Promise<number[]> {
  for (;;) {
    const p = await api<{ jobs: { id: number; status: string }[] }>(r, 'GET', `/pipelines/${pipelineId}`);
    if (until(p.jobs)) return p.jobs.map((j) => j.id);
    await new Promise((res) => setTimeout(res, 100));
  }
}

function summary(lat: number[]): string {
  const s = [...lat].sort((a, b) => a - b);
  return s.length ? `p50 ${pct(s, 0.5).toFixed(1)} ms, p99 ${pct(s, 0.99).toFixed(1)} ms over ${s.length} events` : 'no events';
}

/** A script printing `perSecond` lines a second for `seconds`, each stamped with its print time, in 10 bursts a second. */
function printer(perSecond: number, seconds: number): string {
  const burst = Math.max(1, Math.round(perSecond / 10));
  return `for ((k=0; k<${seconds * 10}; k++)); do for ((j=0; j<${burst}; j++)); do echo "t=$EPOCHREALTIME line $k.$j of a job log, some text to make it look real"; done; sleep 0.1; done`;
}

async function latency(jobs: number, lines: number, viewersPerJob: number): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-logs-'));
  const seconds = 14;
  const repo = tempRepo({ '.gantry.yml': `printer:\n  parallel: ${jobs}\n  script:\n    - ${JSON.stringify(printer(lines, seconds))}\n` });
  const r = await rig(`sqlite:${path.join(home, 'gantry.db')}`, home);
  const lat: number[] = [];
  const state = { measuring: false, events: 0 };
  const ac = new AbortController();
  try {
    for (let i = 0; i < Math.ceil(jobs / 50); i++) await agent(r, home, i, Math.min(50, jobs - i * 50));
    await api(r, 'POST', '/projects', { name: 'printers', gitUrl: repo });
    const p = await api<{ id: number }>(r, 'POST', '/projects/printers/pipelines', { ref: 'main' });
    const t0 = Date.now();
    const ids = await jobIds(r, p.id, (js) => js.every((j) => j.status === 'running'));
    console.log(`  (all ${jobs} jobs running after ${Date.now() - t0} ms)`);
    const views: Promise<void>[] = [];
    // LOGS_WATCHED: watch only that many of the jobs (to tell the cost of ingest from that of viewers).
    const watched = ids.slice(0, Number(process.env.LOGS_WATCHED ?? ids.length));
    for (const id of watched) for (let v = 0; v < viewersPerJob; v++) views.push(viewer(r, id, lat, state, ac));
    await new Promise((res) => setTimeout(res, 3_000));
    const rssBefore = rssMb(r.server.pid!);
    state.measuring = true;
    await new Promise((res) => setTimeout(res, 8_000));
    state.measuring = false;
    const rss = rssMb(r.server.pid!);
    ac.abort();
    await waitDone(r, [p.id]);
    console.log(`${jobs} jobs x ${lines} lines/s, ${views.length} viewers (${state.events} events in all): print-to-viewer ${summary(lat)} (target p99 <= 50 ms); server RSS ${rssBefore.toFixed(0)} -> ${rss.toFixed(0)} MB`);
  } finally {
    ac.abort();
    await stop(r);
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function ingest(): Promise<void> {
  const bytes = 100_000_000;
  const script = `head -c ${bytes} < <(yes 'gantry benchmark line: the quick brown fox jumps over the lazy dog 0123456789')`;
  const repo = tempRepo({ '.gantry.yml': `big:\n  script:\n    - ${JSON.stringify(script)}\n` });
  const out = path.join(repo, 'out.txt');
  const toFile = (await timed('bash', ['-c', `set -eo pipefail; ${script} > ${out}; sync ${out}`])).ms;
  fs.rmSync(out, { force: true });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-logs-'));
  const r = await rig(`sqlite:${path.join(home, 'gantry.db')}`, home);
  try {
    await agent(r, home, 0, 1);
    await api(r, 'POST', '/projects', { name: 'big', gitUrl: repo });
    const p = await api<{ id: number }>(r, 'POST', '/projects/big/pipelines', { ref: 'main' });
    await waitDone(r, [p.id]);
    const job = (await api<{ jobs: { startedAt: string; finishedAt: string }[] }>(r, 'GET', `/pipelines/${p.id}`)).jobs[0]!;
    // finishedAt is the completion, which the server accepts only with every byte durable.
    const ms = Date.parse(job.finishedAt) - Date.parse(job.startedAt);
    console.log(`one job printing 100 MB through agent and server (started -> every byte durable): ${fmt(ms)}, ${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`);
    console.log(`the same script into a file, then synced: ${fmt(toFile)}, ${(bytes / 1e6 / (toFile / 1000)).toFixed(0)} MB/s (gantry / file: ${(ms / toFile).toFixed(2)}x)`);
  } finally {
    await stop(r);
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function manyViewers(n: number): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-logs-'));
  const repo = tempRepo({ '.gantry.yml': `watched:\n  script:\n    - ${JSON.stringify(printer(1000, 14))}\n` });
  const r = await rig(`sqlite:${path.join(home, 'gantry.db')}`, home);
  const lat: number[] = [];
  const state = { measuring: false, events: 0 };
  const ac = new AbortController();
  try {
    await agent(r, home, 0, 1);
    await api(r, 'POST', '/projects', { name: 'watched', gitUrl: repo });
    const p = await api<{ id: number }>(r, 'POST', '/projects/watched/pipelines', { ref: 'main' });
    const [id] = await jobIds(r, p.id, (js) => js.every((j) => j.status === 'running'));
    const rssIdle = rssMb(r.server.pid!);
    const views: Promise<void>[] = [];
    // 100 viewers measure; the other 900 only read, so the bench process does not become the bottleneck.
    for (let v = 0; v < n; v++) views.push(v < 100 ? viewer(r, id!, lat, state, ac) : drainer(r, id!, ac));
    await new Promise((res) => setTimeout(res, 3_000));
    state.measuring = true;
    await new Promise((res) => setTimeout(res, 6_000));
    state.measuring = false;
    const rss = rssMb(r.server.pid!);
    ac.abort();
    await waitDone(r, [p.id]);
    console.log(`${n} viewers on one job printing 1,000 lines/s: print-to-viewer (100 of them measured) ${summary(lat)}; server RSS ${rssIdle.toFixed(0)} MB without viewers, ${rss.toFixed(0)} MB with them`);
  } finally {
    ac.abort();
    await stop(r);
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

export async function logs(): Promise<void> {
  console.log('\n## Logs: server + agents on loopback, SQLite, SSE viewers in the bench process');
  const jobs = Number(process.env.LOGS_JOBS ?? 100);
  const lines = Number(process.env.LOGS_LINES ?? 1000);
  const parts = (process.env.LOGS_PARTS ?? 'latency,ingest,viewers').split(',');
  if (parts.includes('latency')) await latency(jobs, lines, 2);
  if (parts.includes('ingest')) await ingest();
  if (parts.includes('viewers')) await manyViewers(1000);
}
