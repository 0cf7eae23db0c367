// The fleet under load (issue 19, docs/BENCHMARKS.md "The fleet under load"): two `gantry server`
// instances on one PostgreSQL schema, 50 agents, signed push webhooks open-loop at 100/s, 200 live
// log viewers, 5,000 jobs made by those webhooks' pipelines over phase 1; then three times that
// offered load in phase 2; then the backlog drains. Reports dispatch, queue duration and log
// delivery per phase, the shed fraction per route class, and proves afterwards that no delivery,
// pipeline, job or log byte was lost or duplicated (exit code 1 if any was).
// `npm run bench -- 1 load`. GANTRY_LOAD_SCALE (0 < s <= 1) shortens the phases and the jobs with
// them, rates unchanged, for development; the default is the full size. Everything stops by itself.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { onPostgres } from './fleet.js';
import { CpuMeter } from './load/cpu.js';
import { Forge, type ForgeCounts } from './load/forge.js';
import { printerScript } from './load/job-log.js';
import { diff, percentiles, scrape, show, storeTimes, timesIn, type Counters, type Window } from './load/report.js';
import { AGENT_NICE, patientApi, startRig, stopRig } from './load/rig.js';
import { quiesce, verifyLogs, verifyStore, type Tally } from './load/verify.js';
import { Viewers, type ViewerCounts } from './load/viewers.js';
import { tempRepo } from './util.js';

const SCALE = Math.min(1, Math.max(0.01, Number(process.env.GANTRY_LOAD_SCALE ?? 1)));
/** Phase 1 (x1) and phase 2 (x3), seconds. */
const PHASE_S = [210 * SCALE, 60 * SCALE];
const MULTIPLIER = [1, 3];
const WEBHOOKS_PER_S = 100;
const VIEWERS = 200;
const AGENTS = 50;
/** Jobs phase 1 makes; phase 2 makes them three times as fast. */
const PHASE1_JOBS = Math.round(5_000 * SCALE);
/** Jobs a pipeline has: build, then 9 jobs that need it. */
const JOBS_PER_PIPELINE = 10;
/** After the last delivery: how long the backlog may take to drain, then the checks. */
const DRAIN_LIMIT_S = 300;
const VERIFY_LIMIT_S = 120;
/** Pipelines on `main` through the API before phase 1: every agent's first job starts its sandbox. */
const WARMUP_PIPELINES = 6;
/** People watching, each with a token of their own and a few tabs. */
const VIEWER_TOKENS = 100;

function pipelineFile(): string {
  const job = (stage: string, needs: string) => `  stage: ${stage}\n${needs}  script:\n    - ${JSON.stringify(printerScript())}\n`;
  const tests = Array.from({ length: JOBS_PER_PIPELINE - 1 }, (_, i) => `test${i + 1}:\n${job('test', '  needs: [build]\n')}`);
  // `skip/*` pushes pass the project's ref filter and are turned away here, after git and compile.
  return [
    'workflow:\n  rules:\n    - if: \'$CI_COMMIT_BRANCH =~ /^skip\\//\'\n      when: never\n    - when: always\n',
    'stages: [build, test]\n',
    `build:\n${job('build', '')}`,
    ...tests,
  ].join('');
}

/** The host's speed at starting processes: 200 `bash -c true`, one after the other. */
function spawnSpeed(): string {
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) spawnSync('bash', ['-c', 'true']);
  const ms = performance.now() - t0;
  return `200 \`bash -c true\` in ${ms.toFixed(0)} ms (${(ms / 200).toFixed(1)} ms a spawn)`;
}

const load1 = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');

function forgeLine(c: ForgeCounts | undefined): string {
  if (!c) return 'none';
  const refused = (c.byStatus.get('429') ?? 0) + (c.byStatus.get('503') ?? 0);
  const answers = [...c.byStatus].sort().map(([s, n]) => `${n} x ${s}`).join(', ');
  return `${c.sent} requests (${c.resends} deliberate resends, ${c.redeliveries} redeliveries after a refusal; ${c.held} waited for one of the forge's 512 connections): ${answers}; shed ${((100 * refused) / Math.max(1, c.sent)).toFixed(1)}%${c.unexpected.length ? `; UNEXPECTED ${c.unexpected.length}: ${c.unexpected.slice(0, 3).join(' | ')}` : ''}`;
}

function viewerLine(c: ViewerCounts | undefined): string {
  if (!c) return 'none';
  const failures = [...c.failures].map(([k, n]) => `${n} x ${k}`).join(', ');
  return `${c.opens} stream opens, ${c.shed} shed (${((100 * c.shed) / Math.max(1, c.opens)).toFixed(1)}%)${failures ? `; ${failures}` : ''}`;
}

/** Killed from outside (a timeout, ^C): the children go too, not left running on a shared machine. */
function killOnSignal(pids: () => number[]): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    for (const pid of pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

async function run(freshSchema: () => Promise<string>): Promise<void> {
  const dbUrl = await freshSchema();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-load-'));
  const repo = tempRepo({ '.gantry.yml': pipelineFile() });
  const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
  const db = new pg.Pool({ connectionString: dbUrl, max: 2 });
  db.on('error', () => undefined);
  const t0 = Date.now();
  const rig = await startRig(dbUrl, home, AGENTS);
  const unhook = killOnSignal(() => [...rig.agents, ...rig.servers].map((p) => p.pid!).filter(Boolean));
  let viewers: Viewers | null = null;
  let forge: Forge | null = null;
  let discovering = true;
  let discovery: Promise<void> = Promise.resolve();
  try {
    console.log(`two servers and ${AGENTS} agents (at nice ${AGENT_NICE}, their jobs too) started in ${((Date.now() - t0) / 1000).toFixed(0)} s; load ${load1()}`);
    const [a] = rig.urls;
    const admin = rig.adminToken;
    const must = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
      const r = await patientApi<T>(a, admin, method, p, body);
      if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    await must('POST', '/projects', { name: 'load', gitUrl: repo });
    const { secret } = await must<{ secret: string }>('POST', '/projects/load/webhooks', { provider: 'github' });
    await must('PUT', '/projects/load/ref-filters', { branches: ['load/*', 'skip/*'], tags: [] });
    await must('POST', '/users', { username: 'watcher', password: 'a-password-long-enough', admin: true });
    const tokens: string[] = [];
    for (let i = 0; i < VIEWER_TOKENS; i++) tokens.push((await must<{ token: string }>('POST', '/users/watcher/tokens', { description: `viewer ${i}` })).token);

    // Warm-up: an agent's first job starts the slot's standing sandbox (a Node launcher, about a
    // CPU-second each on this host): 50 of them inside phase 1 would be measured as the load's.
    const warm = Date.now();
    const warmIds: number[] = [];
    for (let i = 0; i < WARMUP_PIPELINES; i++) warmIds.push((await must<{ id: number }>('POST', '/projects/load/pipelines', { ref: 'main' })).id);
    for (const id of warmIds) {
      for (;;) {
        const p = await must<{ finishedAt: string | null }>('GET', `/pipelines/${id}`);
        if (p.finishedAt !== null) break;
        if (Date.now() - warm > 180_000) throw new Error('warm-up pipelines not finished in 180 s');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    console.log(`warm-up: ${WARMUP_PIPELINES * JOBS_PER_PIPELINE} jobs on main in ${((Date.now() - warm) / 1000).toFixed(0)} s; load ${load1()}`);

    viewers = new Viewers(rig.urls, tokens);
    forge = new Forge(rig.urls, 'load', secret, sha);
    // New jobs are found in the store (a person would find them in the UI) and offered to the viewers.
    discovery = (async () => {
      let last = 0;
      while (discovering) {
        const { rows } = await db.query<{ id: string }>('SELECT id FROM jobs WHERE id > $1 ORDER BY id LIMIT 5000', [last]).catch(() => ({ rows: [] as { id: string }[] }));
        if (rows.length) {
          last = Number(rows[rows.length - 1]!.id);
          viewers!.offer(rows.map((r) => Number(r.id)));
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const windows: Window[] = [];
    const counters: Counters[] = [await scrape(rig.urls)];
    const loads: string[] = [];
    const cpu: string[] = [];
    const meter = new CpuMeter(() => rig.servers.map((p) => p.pid!), () => rig.agents.map((p) => p.pid!));
    const phase1Pipelines = PHASE1_JOBS / JOBS_PER_PIPELINE;
    for (let ph = 0; ph < PHASE_S.length; ph++) {
      const from = Date.now();
      forge.phaseNow = ph;
      viewers.phaseNow = ph;
      viewers.grow(VIEWERS * MULTIPLIER[ph]!);
      const pipelines = Math.round((phase1Pipelines / PHASE_S[0]!) * MULTIPLIER[ph]! * PHASE_S[ph]!);
      await forge.phase(ph, WEBHOOKS_PER_S * MULTIPLIER[ph]!, PHASE_S[ph]!, pipelines);
      windows.push({ name: `phase ${ph + 1} (x${MULTIPLIER[ph]}: ${WEBHOOKS_PER_S * MULTIPLIER[ph]!} webhooks/s, ${VIEWERS * MULTIPLIER[ph]!} viewers, ${pipelines * JOBS_PER_PIPELINE} jobs offered, ${PHASE_S[ph]!.toFixed(0)} s)`, from, to: Date.now() });
      counters.push(await scrape(rig.urls));
      loads.push(load1());
      cpu.push(meter.lap());
      console.log(`${windows.at(-1)!.name} done; load ${load1()}\n  webhooks so far: ${forgeLine(forge.counts[ph])}\n  viewers so far: ${viewerLine(viewers.counts[ph])}`);
    }
    // The drain: no new deliveries; refused ones are still redelivered; the backlog runs.
    const drainFrom = Date.now();
    forge.phaseNow = PHASE_S.length;
    viewers.phaseNow = PHASE_S.length;
    const deadline = drainFrom + DRAIN_LIMIT_S * 1000;
    const settled = await forge.settle(DRAIN_LIMIT_S * 1000);
    const quiet = await quiesce(db, deadline);
    windows.push({ name: 'drain (no new deliveries; the backlog runs)', from: drainFrom, to: Date.now() });
    counters.push(await scrape(rig.urls));
    loads.push(load1());
    cpu.push(meter.lap());
    console.log(`drained in ${((Date.now() - drainFrom) / 1000).toFixed(0)} s${settled ? '' : ', REDELIVERIES STILL UNDER WAY'}${quiet ? '' : ', PIPELINES OR DELIVERIES UNFINISHED'}; load ${load1()}`);
    discovering = false;
    await discovery;
    await viewers.stop();

    const times = await storeTimes(db);
    for (let w = 0; w < windows.length; w++) {
      const win = windows[w]!;
      console.log(`\n#### ${win.name}; load average at its end ${loads[w]}`);
      console.log(cpu[w]);
      for (const l of timesIn(times, win)) console.log(l);
      const lat = viewers.latency.filter((s) => s.printedAtMs >= win.from && s.printedAtMs < win.to).map((s) => s.ms);
      console.log(`log delivery (line printed -> viewer received, lines printed while watched): ${percentiles(lat)}`);
      console.log(`webhooks (the forge's count): ${forgeLine(forge.counts[w])}`);
      console.log(`viewers: ${viewerLine(viewers.counts[w])}`);
      const d = diff(counters[w + 1]!, counters[w]!);
      const scrapes = [...counters[w + 1]!].filter(([k]) => k.startsWith('scrape'));
      if (scrapes.length) console.log(`/metrics at the window's end: ${scrapes.map(([k, v]) => `${k.replace(/http:\/\/127\.0\.0\.1:\d+/, 'instance')} ${v}`).join(', ')}${counters[w + 1]!.has('scrape failed') || counters[w]!.has('scrape failed') ? ' (counters below incomplete)' : ''}`);
      console.log(`gantry_http_shed_total (both instances): ${show(d, 'shed')}`);
      console.log(`gantry_webhook_deliveries_total: ${show(d, 'webhook')}`);
      const fivexx = show(d, '5xx');
      if (fivexx !== 'none') console.log(`5xx other than 503 (gantry_http_requests_total): ${fivexx}`);
    }
    const all = [...forge.deliveries.values()];
    const finished = times.attempts.filter((x) => x.finished !== null).map((x) => x.finished!);
    const firstQueued = Math.min(...times.attempts.map((x) => x.queued));
    console.log(
      `\ndeliveries: ${all.length} distinct ids (${all.filter((d) => d.kind === 'pipeline').length} pipeline, ${all.filter((d) => d.kind === 'workflow').length} workflow-refused, ${all.filter((d) => d.kind === 'filtered').length} filtered), ` +
        `${all.filter((d) => d.acked).length} accepted (2xx), ${all.filter((d) => !d.acked).length} never accepted (the forge gave up), ${all.filter((d) => d.sends > 1).length} sent more than once`,
    );
    console.log(`jobs: ${times.attempts.length} attempts, ${finished.length} finished, ${(finished.length / ((Math.max(...finished) - firstQueued) / 1000)).toFixed(1)} jobs/s from the first queued to the last finished`);

    // The forge stops before anything is checked: a redelivery answered 2xx after the checker read
    // the deliveries would count as owed and missing.
    forge.stopped = true;
    const forgeIdle = Date.now() + 60_000;
    while (forge.inFlight > 0 && Date.now() < forgeIdle) await new Promise((r) => setTimeout(r, 200));
    const verifyDeadline = Date.now() + VERIFY_LIMIT_S * 1000;
    const { tallies, jobs } = await verifyStore(db, forge, JOBS_PER_PIPELINE);
    tallies.push(...(await verifyLogs(rig.urls, tokens, jobs, viewers, verifyDeadline)));
    const crashes = rig.exits;
    const unexpected = forge.counts.flatMap((c) => c?.unexpected ?? []).length;
    console.log('');
    let bad = crashes.length + unexpected + (settled && quiet ? 0 : 1);
    for (const t of tallies) {
      console.log(`${t.kind}: ${t.checked} checked, lost ${t.lost}, duplicated ${t.duplicated}${t.wrong ? `, WRONG ${t.wrong}` : ''}${t.notes.length ? ` (${t.notes.join('; ')})` : ''}`);
      bad += t.lost + t.duplicated + t.wrong;
    }
    if (crashes.length) console.log(`CRASHED: ${crashes.join(', ')}`);
    if (unexpected) console.log(`UNEXPECTED ANSWERS to webhooks: ${unexpected}`);
    console.log(bad === 0 ? 'load test: nothing lost, nothing duplicated: OK' : 'load test: FAILED');
    if (bad !== 0) process.exitCode = 1;
    console.log(`whole part: ${((Date.now() - t0) / 1000).toFixed(0)} s; load ${load1()}`);
  } finally {
    discovering = false;
    if (forge) forge.stopped = true;
    await viewers?.stop().catch(() => undefined);
    await discovery.catch(() => undefined);
    await stopRig(rig);
    unhook();
    await db.end();
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

export async function loadTest(): Promise<void> {
  console.log(`\n## The fleet under load: two servers on PostgreSQL, ${AGENTS} agents, webhooks, live viewers${SCALE < 1 ? ` (GANTRY_LOAD_SCALE ${SCALE}: NOT the full size)` : ''}`);
  console.log(`host: ${os.cpus().length} CPUs, ${spawnSpeed()}, load ${load1()}`);
  await onPostgres((fresh) => run(fresh));
}
