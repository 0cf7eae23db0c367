// Webhook intake under load, on SQLite and on PostgreSQL (when reachable): 1,000 signed GitHub
// push deliveries from 10 concurrent senders, 10% of them resends of an earlier delivery id (some
// while the original is still in flight). Reports deliveries/s sustained, the time to the 2xx
// (p50/p99/max), how long the queue took to turn the unique ones into pipelines, and checks that
// no delivery made two pipelines. A real `gantry server` process on loopback; stops by itself.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import pg from 'pg';
import { signatureHeaders } from '../src/server/webhooks/signature.js';
import { openStore } from '../src/store/open.js';
import { api, pct, rig, stop } from './fleet.js';
import { tempRepo } from './util.js';

const PG_URL = process.env.GANTRY_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOTAL = 1_000;
const DUPLICATES = 100;
const SENDERS = Number(process.env.BENCH_SENDERS ?? 10);

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

async function onStore(label: string, db: string): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-webhooks-'));
  const repo = tempRepo({ '.gantry.yml': 'build:\n  script: ["true"]\ntest:\n  script: ["true"]\n' });
  const r = await startServer(db, home);
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
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (next < order.length) {
          const id = order[next++]!;
          const s = performance.now();
          const res = await fetch(`${r.url}/api/v1/webhooks/github/hooks`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': id, ...signature },
            body: new Uint8Array(body),
          });
          await res.arrayBuffer();
          latencies.push(performance.now() - s);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      }),
    );
    const wall = performance.now() - t0;
    latencies.sort((a, b) => a - b);
    const accepted = statuses.get(202) ?? 0;
    const dupes = statuses.get(200) ?? 0;
    console.log(`\n### ${label}`);
    console.log(`${TOTAL} deliveries (${DUPLICATES} resends of an earlier id), ${SENDERS} concurrent senders, ${body.length} bytes each`);
    console.log(`answers: ${[...statuses].map(([s, c]) => `${c} x ${s}`).join(', ')}`);
    console.log(`intake sustained: ${(TOTAL / (wall / 1000)).toFixed(0)} deliveries/s (${(wall / 1000).toFixed(2)} s for all)`);
    console.log(`time to 2xx: p50 ${pct(latencies, 0.5).toFixed(1)} ms, p99 ${pct(latencies, 0.99).toFixed(1)} ms (target <= 20 ms), max ${latencies[latencies.length - 1]!.toFixed(1)} ms`);
    // The queue turns each unique delivery into a pipeline (git + compile) behind the answers.
    const store = await openStore(db);
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

export async function webhooks(): Promise<void> {
  console.log('\n## Webhook intake: signed GitHub pushes into a server on loopback');
  const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-db-'));
  try {
    await onStore('SQLite', `sqlite:${path.join(dbDir, 'gantry.db')}`);
  } finally {
    fs.rmSync(dbDir, { recursive: true, force: true });
  }
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1, connectionTimeoutMillis: 2_000 });
  admin.on('error', () => undefined);
  try {
    await admin.query('SELECT 1');
  } catch (e) {
    console.log(`\n### PostgreSQL: skipped (${(e as Error).message})`);
    await admin.end();
    return;
  }
  const schema = `gantry_bench_hooks_${Date.now().toString(36)}`;
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    await onStore('PostgreSQL', `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}
