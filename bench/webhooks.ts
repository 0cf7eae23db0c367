// Webhook intake under load, on SQLite and on PostgreSQL (when reachable): 1,000 signed GitHub
// push deliveries, 10% of them resends of an earlier delivery id (some while the original is
// still in flight), sent twice: as fast as 10 senders can (closed loop: the sustained rate), and
// arriving at a steady 100/s (open loop: the answer time when the server is not saturated). Reports deliveries/s sustained, the time to the 2xx
// (p50/p99/max), how long the queue took to turn the unique ones into pipelines, and checks that
// no delivery made two pipelines. A real `gantry server` process on loopback; stops by itself.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { signatureHeaders } from '../src/server/webhooks/signature.js';
import { openStore } from '../src/store/open.js';
import { api, onPostgres, pct, rig, stop } from './fleet.js';
import { tempRepo } from './util.js';

const TOTAL = 1_000;
const DUPLICATES = 100;

interface Example {
  name: string;
  examples: Array<Record<string, unknown>>;
}

/** The order deliveries are sent in: ids, 10% of them repeating an id sent a little earlier. */
function plan(): string[] {
  const ids: string[] = [];
  for (let i = 0; i < TOTAL - DUPLICATES; i++) ids.push(`bench-${i}`);
  // Each duplicate goes right after (0..15 places) its original, so some overlap it in flight.
  for (let d = 0; d < DUPLICATES; d++) {
    const original = Math.floor((d * (TOTAL - DUPLICATES)) / DUPLICATES);
    const at = Math.min(ids.length, ids.indexOf(`bench-${original}`) + 1 + (d % 16));
    ids.splice(at, 0, `bench-${original}`);
  }
  return ids;
}

/** The machine is shared: a free port can be taken between choosing it and listening on it. */
async function startServer(db: string, home: string): ReturnType<typeof rig> {
  for (let tries = 1; ; tries++) {
    try {
      return await rig(db, home);
    } catch (e) {
      if (tries >= 3 || !/EADDRINUSE/.test(String(e))) throw e;
    }
  }
}

/**
 * From the server's request-duration histogram (/metrics), the bucket within which 99% of the
 * webhook requests were handled: the server's own time, without the sender's queueing.
 */
async function serverP99(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets: Array<[number, number]> = [];
  for (const m of text.matchAll(/^gantry_http_request_duration_seconds_bucket\{le="([^"]+)",route="\/api\/v1\/webhooks\/:provider\/:project",method="POST",status="20[02]"\} (\d+)$/gm)) {
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    const found = buckets.find((b) => b[0] === le);
    if (found) found[1] += Number(m[2]);
    else buckets.push([le, Number(m[2])]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets[buckets.length - 1]?.[1] ?? 0;
  const p99 = buckets.find((b) => b[1] >= 0.99 * total);
  const p50 = buckets.find((b) => b[1] >= 0.5 * total);
  const ms = (b: [number, number] | undefined) => (b === undefined ? '?' : b[0] === Infinity ? '> 10 s' : `<= ${b[0] * 1000} ms`);
  return `p50 ${ms(p50)}, p99 ${ms(p99)} (of ${total} answers)`;
}

type Mode = { kind: 'burst'; senders: number } | { kind: 'paced'; perSecond: number };

async function onStore(label: string, db: () => Promise<string>, mode: Mode): Promise<void> {
  const dbUrl = await db();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-webhooks-'));
  const repo = tempRepo({ '.gantry.yml': 'build:\n  script: ["true"]\ntest:\n  script: ["true"]\n' });
  const r = await startServer(dbUrl, home);
  try {
    await api(r, 'POST', '/projects', { name: 'hooks', gitUrl: repo });
    const { secret } = await api<{ secret: string }>(r, 'POST', '/projects/hooks/webhooks', { provider: 'github' });
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as Example[];
    const payload = structuredClone(examples.find((e) => e.name === 'push')!.examples.find((e) => e.created === true && String(e.ref).startsWith('refs/heads/'))!);
    Object.assign(payload, { ref: 'refs/heads/main', after: sha });
    const body = Buffer.from(JSON.stringify(payload));
    const signature = signatureHeaders('github', body, secret);
    const order = plan();
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    const sendOne = async (id: string) => {
      const s = performance.now();
      const res = await fetch(`${r.url}/api/v1/webhooks/github/hooks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': id, ...signature },
        body: new Uint8Array(body),
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - s);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    };
    const t0 = performance.now();
    if (mode.kind === 'burst') {
      // Closed loop: each sender sends its next delivery as soon as the last one is answered.
      let next = 0;
      await Promise.all(
        Array.from({ length: mode.senders }, async () => {
          while (next < order.length) await sendOne(order[next++]!);
        }),
      );
    } else {
      // Open loop: deliveries arrive at a steady rate whatever the answers take, as from forges.
      await Promise.all(
        order.map(async (id, i) => {
          const wait = t0 + (i * 1000) / mode.perSecond - performance.now();
          if (wait > 0) await new Promise((res) => setTimeout(res, wait));
          await sendOne(id);
        }),
      );
    }
    const wall = performance.now() - t0;
    const serverSide = await serverP99(r.url);
    latencies.sort((a, b) => a - b);
    const accepted = statuses.get(202) ?? 0;
    const dupes = statuses.get(200) ?? 0;
    const how = mode.kind === 'burst' ? `${mode.senders} concurrent senders, each sending as soon as answered` : `arriving at ${mode.perSecond}/s`;
    console.log(`\n### ${label}: ${how}`);
    console.log(`${TOTAL} deliveries (${DUPLICATES} resends of an earlier id), ${body.length} bytes each`);
    console.log(`answers: ${[...statuses].map(([s, c]) => `${c} x ${s}`).join(', ')}`);
    console.log(`intake sustained: ${(TOTAL / (wall / 1000)).toFixed(0)} deliveries/s (${(wall / 1000).toFixed(2)} s for all)`);
    console.log(`server side (the server's own request histogram): ${serverSide}`);
    console.log(`time to 2xx: p50 ${pct(latencies, 0.5).toFixed(1)} ms, p99 ${pct(latencies, 0.99).toFixed(1)} ms (target <= 20 ms), max ${latencies[latencies.length - 1]!.toFixed(1)} ms`);
    // The queue turns each unique delivery into a pipeline (git + compile) behind the answers.
    const store = await openStore(dbUrl);
    let pipelines = 0;
    let processedAt = 0;
    try {
      const projectId = (await store.getProject('hooks'))!.id;
      const countAll = async () => {
        let n = 0;
        let before: number | undefined;
        for (;;) {
          const page = await store.listPipelines({ projectId, limit: 100, ...(before ? { beforeId: before as never } : {}) });
          n += page.items.length;
          if (page.next === null) return n;
          before = page.next;
        }
      };
      const until = Date.now() + 180_000;
      while ((pipelines = await countAll()) < TOTAL - DUPLICATES && Date.now() < until) await new Promise((res) => setTimeout(res, 200));
      processedAt = performance.now() - t0;
      // A last look after a pause: a duplicate pipeline would show up as more than one per delivery.
      await new Promise((res) => setTimeout(res, 1_000));
      pipelines = await countAll();
    } finally {
      await store.close();
    }
    console.log(`pipelines made: ${pipelines} for ${TOTAL - DUPLICATES} unique deliveries, all made ${(processedAt / 1000).toFixed(1)} s after the first was sent (${((TOTAL - DUPLICATES) / (processedAt / 1000)).toFixed(0)} pipelines/s)`);
    const ok = accepted === TOTAL - DUPLICATES && dupes === DUPLICATES && pipelines === TOTAL - DUPLICATES;
    console.log(ok ? 'no duplicate pipeline: OK' : 'DUPLICATE OR MISSING PIPELINES: FAILED');
    if (!ok) process.exitCode = 1;
  } finally {
    await stop(r);
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

const MODES: Mode[] = [
  { kind: 'burst', senders: 10 },
  { kind: 'paced', perSecond: 100 },
];

export async function webhooks(): Promise<void> {
  console.log('\n## Webhook intake: signed GitHub pushes into a server on loopback');
  const dirs: string[] = [];
  try {
    for (const mode of MODES) {
      await onStore('SQLite', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-db-'));
        dirs.push(dir);
        return `sqlite:${path.join(dir, 'gantry.db')}`;
      }, mode);
    }
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
  await onPostgres(async (freshSchema) => {
    for (const mode of MODES) await onStore('PostgreSQL', freshSchema, mode);
  });
}
