// In-process servers for the log tests: a real server (SQLite or PostgreSQL), a real git project,
// and attempts driven through the fleet store exactly as the agent routes drive them, so a test
// decides byte by byte what the log receives and when. SSE is read over loopback with fetch.

import assert from 'node:assert/strict';
import { asAttemptId, asJobId, type AttemptId } from '../../src/domain/ids.js';
import { readSse, type SseEvent } from '../../src/client/sse.js';
import { defaultSchedulerSettings } from '../../src/server/app.js';
import type { LogLimit, TakenOffer } from '../../src/store/fleet.js';
import { openStore } from '../../src/store/open.js';
import type { Harness } from '../server/harness.js';
import type { Fleet } from '../fleet/fleet-harness.js';

export const PIPELINE = `build:
  script: [echo build]
later:
  stage: test
  needs: [build]
  script: [echo later]
`;

let agentN = 0;

export interface TestAttempt {
  jobId: number;
  pipelineId: number;
  laterJobId: number;
  attemptId: AttemptId;
  /** Bytes appended so far. */
  size: number;
  append(bytes: Buffer, producedAt?: number, limit?: LogLimit | null): Promise<void>;
  complete(status?: 'success' | 'failed'): Promise<void>;
}

/** Triggers a pipeline in `project` and starts its first job as a fake agent would. */
export async function startAttempt(h: Harness, project: string, on: Harness = h): Promise<TestAttempt> {
  const res = await h.api('POST', `/projects/${project}/pipelines`, { ref: 'main' });
  assert.equal(res.status, 201, await res.clone().text());
  const p = (await res.json()) as { id: number; jobs: { id: number; name: string }[] };
  const jobId = p.jobs.find((j) => j.name === 'build')!.id;
  const fleet = on.store.fleet;
  const settings = defaultSchedulerSettings();
  const n = ++agentN;
  const agent = await fleet.registerAgent({ name: `a${n}`, tags: [], concurrency: 1, version: 't', platform: {} }, `agent-hash-${n}-${Math.random()}`, Date.now());
  await fleet.openSession(agent.id, `s${n}`, agent, Date.now(), settings);
  let offer: TakenOffer | undefined;
  const token = `tok-${n}`;
  for (let i = 0; i < 500 && offer?.job.id !== jobId; i++) [offer] = await fleet.takeAttempts(agent, 1, Date.now(), settings, [token]);
  assert.equal(offer!.job.id, jobId);
  const attemptId = offer!.attempt.id;
  assert.equal((await fleet.startAttempt(agent.id, attemptId, token, agent.name, Date.now(), settings)).kind, 'ok');
  const a: TestAttempt = {
    jobId,
    pipelineId: p.id,
    laterJobId: p.jobs.find((j) => j.name === 'later')!.id,
    attemptId,
    size: 0,
    async append(bytes, producedAt = Date.now(), limit = null) {
      const r = await fleet.appendLog(attemptId, token, a.size, bytes, a.size + bytes.length, producedAt, Date.now(), limit);
      assert.equal(r.kind, 'ok');
      a.size += bytes.length;
    },
    async complete(status = 'success') {
      const r = await fleet.completeAttempt(
        attemptId,
        token,
        { status, exitCode: status === 'success' ? 0 : 1, failureReason: status === 'success' ? null : 'script_failure', logEnd: a.size },
        Date.now(),
        settings,
      );
      assert.equal(r.kind, 'ok');
    },
  };
  return a;
}

export interface LogEventData {
  offset: number;
  at: number;
  b64: string;
  dropped?: number;
}

/** A live SSE client of one job's log: collects bytes and events; `until` waits for a condition. */
export class SseViewer {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  bytes = Buffer.alloc(0);
  /** The last `id:` seen: the offset to resume from. */
  lastId: string | null = null;
  end: Record<string, unknown> | null = null;
  status = 0;
  closed = false;
  error: unknown = null;
  private readonly ac = new AbortController();
  readonly done: Promise<void>;
  private waiters: (() => void)[] = [];

  private aborted!: () => void;

  constructor(url: string, headers: Record<string, string>) {
    // fetch's body can stay pending after an abort that lands just as the body ends (undici),
    // so `done` also settles on abort.
    const onAbort = new Promise<void>((r) => (this.aborted = r));
    const loop = (async () => {
      try {
        const res = await fetch(url, { headers, signal: this.ac.signal });
        this.status = res.status;
        if (!res.ok || !res.body) {
          this.events.push({ event: 'http-error', id: null, data: await res.text() });
          return;
        }
        for await (const item of readSse(res.body)) {
          if ('comment' in item) this.comments.push(item.comment);
          else {
            this.events.push(item);
            if (item.id !== null) this.lastId = item.id;
            if (item.event === 'log') {
              const d = JSON.parse(item.data) as LogEventData;
              assert.equal(d.offset + (d.dropped ?? Buffer.from(d.b64, 'base64').length), Number(item.id), 'id is the offset after the piece');
              this.bytes = Buffer.concat([this.bytes, Buffer.from(d.b64, 'base64')]);
            } else if (item.event === 'end') this.end = JSON.parse(item.data) as Record<string, unknown>;
          }
          this.poke();
        }
      } catch (err) {
        if (!this.ac.signal.aborted) this.error = err;
      } finally {
        this.closed = true;
        this.poke();
      }
    })();
    this.done = Promise.race([loop, onAbort]);
  }

  private poke(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; have ${this.bytes.length} bytes, ${this.events.length} events, closed=${this.closed}, error=${String(this.error)}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
    }
  }

  abort(): void {
    this.ac.abort();
    this.aborted();
  }
}

export function viewLog(h: Harness, jobId: number, query = '', headers: Record<string, string> = {}): SseViewer {
  return new SseViewer(`${h.url}/api/v1/jobs/${jobId}/log/stream${query}`, { authorization: `Bearer ${h.admin}`, ...headers });
}

/** The attempt's compacted object name (null while in rows), read with a store of our own. */
export async function logObject(f: Pick<Fleet, 'storeUrl'>, jobId: number): Promise<string | null> {
  const store = await openStore(f.storeUrl);
  try {
    const [a] = await store.listAttempts(asJobId(jobId));
    return (await store.fleet.logState(asAttemptId(a!.id)))!.object;
  } finally {
    await store.close();
  }
}
