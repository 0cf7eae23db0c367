// A burst of heavy API reads against a real `gantry server` with low bounds, while a real agent
// runs a pipeline that was dispatched during the burst (docs/API.md, "Overload and limits"): every
// answer to the burst is 2xx, or 429/503 with Retry-After (no reset, no timeout, no other 5xx);
// the pipeline finishes within a few seconds of its time without the burst, each of its jobs
// started within a second of the one before; the agent is never answered 429 or 503. Bounded: at
// most BURST_MAX_MS and BURST_MAX_REQUESTS, then it stops.

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { fleetsOn, type Fleet, type PipelineView } from './fleet-harness.js';

const PIPELINE = `stages: [a, b, c]
big:
  stage: a
  rules:
    - if: '$BIG == "yes"'
  script:
    - head -c 400000 /dev/urandom | base64
one:
  stage: a
  rules:
    - if: '$BIG != "yes"'
  script: [sleep 1, echo one]
two:
  stage: b
  rules:
    - if: '$BIG != "yes"'
  script: [sleep 1, echo two]
three:
  stage: c
  rules:
    - if: '$BIG != "yes"'
  script: [sleep 1, echo three]
`;

/** Concurrent clients of the burst, each sending its next request as soon as it has an answer. */
const CLIENTS = 200;
const BURST_MAX_MS = 40_000;
const BURST_MAX_REQUESTS = 60_000;
/** A request unanswered this long counts as a timeout. */
const CLIENT_TIMEOUT_MS = 20_000;
/**
 * "On time": the pipeline under the burst may take this much longer than without it. The burst's
 * clients share the machine's two cores with the agent and its jobs, which start slower for it;
 * the server's part, the wait before each job, is held to DISPATCH_MS.
 */
const SLACK_MS = 4_000;
const DISPATCH_MS = 1_000;

interface PipelineTimes extends PipelineView {
  createdAt: string;
  finishedAt: string | null;
  jobs: Array<PipelineView['jobs'][number] & { startedAt: string | null; finishedAt: string | null }>;
}

/** From the pipeline's creation to its first job's start, and from each job's end to the next one's start, in ms. */
function dispatchGaps(p: PipelineTimes): number[] {
  const jobs = p.jobs.filter((j) => j.startedAt !== null).sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!));
  return jobs.map((j, i) => Date.parse(j.startedAt!) - Date.parse(i === 0 ? p.createdAt : jobs[i - 1]!.finishedAt!));
}

interface BurstResult {
  statuses: Map<number, number>;
  /** Refusals (429/503) that came without Retry-After. */
  bare: number;
  /** Failures with no HTTP answer: resets, timeouts (by their code). */
  failures: Map<string, number>;
  latencies: number[];
  wallMs: number;
}

/** The burst: CLIENTS loops over `paths` until `stop` resolves or a bound is reached. */
async function burst(base: string, token: string, paths: string[], stop: Promise<void>): Promise<BurstResult> {
  const r: BurstResult = { statuses: new Map(), bare: 0, failures: new Map(), latencies: [], wallMs: 0 };
  let stopped = false;
  void stop.then(() => (stopped = true));
  const t0 = performance.now();
  let sent = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      while (!stopped && sent < BURST_MAX_REQUESTS && performance.now() - t0 < BURST_MAX_MS) {
        const p = paths[(sent++ + client) % paths.length]!;
        const s = performance.now();
        try {
          const res = await fetch(`${base}/api/v1${p}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
          await res.arrayBuffer();
          r.latencies.push(performance.now() - s);
          r.statuses.set(res.status, (r.statuses.get(res.status) ?? 0) + 1);
          if ((res.status === 429 || res.status === 503) && !/^[1-9][0-9]*$/.test(res.headers.get('retry-after') ?? '')) r.bare++;
        } catch (err) {
          const e = err as Error & { cause?: { code?: string } };
          const code = e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.name);
          r.failures.set(code, (r.failures.get(code) ?? 0) + 1);
        }
      }
    }),
  );
  r.wallMs = performance.now() - t0;
  return r;
}

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

/**
 * From the server's request-duration histogram: of its answers with `status` to the API's GETs,
 * how many took at most each bucket's bound (seconds). The server's own time, without the time a
 * request waited in the burst's client or the kernel.
 */
function answeredWithin(metrics: string[], status: number): Map<number, number> {
  const within = new Map<number, number>();
  for (const l of metrics) {
    const m = /^gantry_http_request_duration_seconds_bucket\{le="([^"]+)",route="\/api\/v1\/[^"]*",method="GET",status="(\d+)"\} (\d+)$/.exec(l);
    if (!m || Number(m[2]) !== status) continue;
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    within.set(le, (within.get(le) ?? 0) + Number(m[3]));
  }
  return within;
}

describe('a burst of heavy API reads (real server and agent, sqlite)', () => {
  const fleetOf = fleetsOn(async () => null);

  /** An API call of the test's own, as a well-behaved client: 429 and 503 are tried again after Retry-After. */
  async function patient<T>(f: Fleet, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    for (let tries = 1; ; tries++) {
      const r = await f.api<T>(method, p, body);
      if ((r.status !== 429 && r.status !== 503) || tries >= 20) return r;
      const wait = (r.body as { error?: { retryAfter?: number } }).error?.retryAfter ?? 1;
      await new Promise((res) => setTimeout(res, wait * 1000));
    }
  }

  async function run(f: Fleet, variables?: Record<string, string>): Promise<{ id: number; ms: number; status: string; gaps: number[] }> {
    const created = await patient<PipelineView>(f, 'POST', '/projects/demo/pipelines', { ref: 'main', ...(variables ? { variables } : {}) });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    const until = Date.now() + 60_000;
    for (;;) {
      const p = await patient<PipelineTimes>(f, 'GET', `/pipelines/${id}`);
      if (p.status === 200 && p.body.finishedAt !== null) {
        // The server's own times: what the test's polling costs under the burst is not counted.
        return { id, status: p.body.status, ms: Date.parse(p.body.finishedAt) - Date.parse(p.body.createdAt), gaps: dispatchGaps(p.body) };
      }
      if (Date.now() > until) throw new Error(`pipeline ${id} did not finish: ${JSON.stringify(p.body)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  it('gets only 2xx, and 429 or 503 with Retry-After, while a pipeline dispatched during it finishes on time and the agent is never refused', async (t: TestContext) => {
    const f = await fleetOf({ '.gantry.yml': PIPELINE });
    await f.startServer({
      env: {
        // Low bounds, so that a test-sized burst meets them; the rest as shipped.
        GANTRY_MAX_INFLIGHT_READS: '4',
        GANTRY_MAX_INFLIGHT_WRITES: '4',
        GANTRY_RATE_LIMIT_PER_TOKEN: '3000',
        // Every client of this test is 127.0.0.1.
        GANTRY_RATE_LIMIT_PER_ADDRESS: '0',
      },
    });
    await f.project();
    await f.startAgent();
    // The burst's caller: a person's token of its own (the test's own calls use the admin token).
    assert.equal((await f.api('POST', '/users', { username: 'storm', password: 'a-password-long-enough', admin: true })).status, 201);
    const token = (await f.api<{ token: string }>('POST', '/users/storm/tokens', { description: 'burst' })).body.token;

    const big = await run(f, { BIG: 'yes' });
    assert.equal(big.status, 'success');
    const bigJob = (await f.pipeline(big.id)).jobs.find((j) => j.name === 'big')!.id;
    assert.ok((await f.log(bigJob)).length > 500_000);

    const calm = await run(f);
    assert.equal(calm.status, 'success');

    let stopBurst!: () => void;
    const stop = new Promise<void>((res) => (stopBurst = res));
    const paths = ['/queue', '/projects/demo/pipelines?limit=100', `/jobs/${bigJob}/log`];
    const storm = burst(f.url, token, paths, stop);
    await new Promise((res) => setTimeout(res, 1_000));
    const loaded = await run(f).finally(() => stopBurst());
    const b = await storm;

    const sorted = [...b.latencies].sort((x, y) => x - y);
    const total = [...b.statuses.values()].reduce((a, n) => a + n, 0);
    const mix = [...b.statuses].sort((x, y) => x[0] - y[0]).map(([s, n]) => `${n} x ${s}`).join(', ');
    t.diagnostic(`burst: ${total} answers in ${(b.wallMs / 1000).toFixed(1)} s from ${CLIENTS} clients: ${mix}; failures ${JSON.stringify([...b.failures])}`);
    t.diagnostic(`burst answer times: p50 ${pct(sorted, 0.5).toFixed(1)} ms, p99 ${pct(sorted, 0.99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`);
    t.diagnostic(`pipeline of 3 jobs: ${calm.ms} ms without the burst, ${loaded.ms} ms dispatched during it; ` + `waits before each job ${calm.gaps.join(', ')} ms without, ${loaded.gaps.join(', ')} ms with`);

    assert.deepEqual([...b.failures], [], 'no reset, no timeout');
    const other = [...b.statuses.keys()].filter((s) => !(s >= 200 && s < 300) && s !== 429 && s !== 503);
    assert.deepEqual(other, [], 'no other status');
    assert.equal(b.bare, 0, 'every 429 and 503 has Retry-After');
    assert.ok([...b.statuses].some(([s, n]) => s >= 200 && s < 300 && n > 0), 'some reads were answered');
    assert.ok((b.statuses.get(503) ?? 0) + (b.statuses.get(429) ?? 0) > 0, 'the burst met the bounds');

    assert.equal(loaded.status, 'success');
    assert.ok(loaded.ms <= calm.ms + SLACK_MS, `on time: ${loaded.ms} ms under the burst, ${calm.ms} ms without`);
    assert.equal(loaded.gaps.length, 3);
    for (const g of loaded.gaps) assert.ok(g <= DISPATCH_MS, `a job waited ${g} ms to start under the burst`);

    // The agent's requests, as the server counted them: never a 429 or a 503.
    const metrics = (await (await fetch(`${f.url}/metrics`)).text()).split('\n');
    const agentRefused = metrics.filter((l) => /^gantry_http_requests_total\{route="\/api\/v1\/agent\/[^"]*",method="[A-Z]+",status="(429|503)"\}/.test(l));
    assert.deepEqual(agentRefused, []);
    assert.ok(metrics.some((l) => /^gantry_http_requests_total\{route="\/api\/v1\/agent\/jobs\/request",method="POST",status="20[04]"\} [1-9]/.test(l)));
    // Refusals are made before anything else: the server took at most a few ms for nearly all of them.
    const refusals = answeredWithin(metrics, 503);
    const all503 = refusals.get(Infinity) ?? 0;
    t.diagnostic(`server side, 503s answered within 5 / 10 / 25 / 100 ms: ${[0.005, 0.01, 0.025, 0.1].map((le) => refusals.get(le) ?? 0).join(' / ')} of ${all503}`);
    assert.ok(all503 > 0 && (refusals.get(0.1) ?? 0) >= 0.99 * all503, 'a 503 is answered at once');
    const shed = metrics.filter((l) => l.startsWith('gantry_http_shed_total{'));
    t.diagnostic(`shed: ${shed.join('; ')}`);
    assert.ok(shed.every((l) => !l.includes('class="agent"')));
    assert.ok(shed.some((l) => /class="read"/.test(l)));
  });
});
