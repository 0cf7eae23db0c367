// The load test's figures: percentiles per phase from the store's timestamps and the viewers'
// samples, the shed counters of both instances' /metrics, and the lines that say it.

import type pg from 'pg';
import { pct } from '../fleet.js';

export interface Window {
  name: string;
  from: number;
  to: number;
}

export function percentiles(values: number[], unit = 'ms'): string {
  if (values.length === 0) return 'none';
  const s = [...values].sort((a, b) => a - b);
  return `p50 ${pct(s, 0.5).toFixed(0)} ${unit}, p99 ${pct(s, 0.99).toFixed(0)} ${unit} (n ${s.length})`;
}

function inWindow<T>(items: T[], at: (t: T) => number, w: Window): T[] {
  return items.filter((i) => at(i) >= w.from && at(i) < w.to);
}

export interface StoreTimes {
  /** Every attempt: queued, started, finished (ms). */
  attempts: Array<{ queued: number; started: number | null; finished: number | null }>;
  /** Jobs with a dependency: when it finished, when this one started (ms). */
  dispatch: Array<{ ready: number; started: number }>;
  /** Pipeline deliveries: received, pipeline created (ms). */
  intake: Array<{ received: number; created: number }>;
}

export async function storeTimes(db: pg.Pool): Promise<StoreTimes> {
  const attempts = (await db.query<{ queued_at: string; started_at: string | null; finished_at: string | null }>('SELECT queued_at, started_at, finished_at FROM attempts')).rows;
  // The test stage needs the build job: its start minus the build's end is the dispatch, as in the
  // fleet bench (the completion's transaction, the wake-up, the take, the offer, the agent's start).
  const dispatch = (
    await db.query<{ ready: string; started: string }>(
      `SELECT b.finished_at AS ready, t.started_at AS started
         FROM jobs tj JOIN attempts t ON t.job_id = tj.id
         JOIN jobs bj ON bj.pipeline_id = tj.pipeline_id AND bj.name = 'build'
         JOIN attempts b ON b.job_id = bj.id AND b.status = 'success'
        WHERE tj.name <> 'build' AND t.started_at IS NOT NULL AND b.finished_at IS NOT NULL`,
    )
  ).rows;
  const intake = (
    await db.query<{ received: string; created: string }>(
      'SELECT d.received_at AS received, p.created_at AS created FROM webhook_deliveries d JOIN pipelines p ON p.id = d.pipeline_id',
    )
  ).rows;
  return {
    attempts: attempts.map((a) => ({ queued: Number(a.queued_at), started: a.started_at === null ? null : Number(a.started_at), finished: a.finished_at === null ? null : Number(a.finished_at) })),
    dispatch: dispatch.map((d) => ({ ready: Number(d.ready), started: Number(d.started) })),
    intake: intake.map((d) => ({ received: Number(d.received), created: Number(d.created) })),
  };
}

/** Per window: dispatch, queue duration, webhook to pipeline, jobs finished a second. */
export function timesIn(t: StoreTimes, w: Window): string[] {
  const started = t.attempts.filter((a) => a.started !== null);
  const queue = inWindow(started, (a) => a.queued, w).map((a) => a.started! - a.queued);
  const dispatch = inWindow(t.dispatch, (d) => d.ready, w).map((d) => d.started - d.ready);
  const intake = inWindow(t.intake, (d) => d.received, w).map((d) => d.created - d.received);
  const finished = inWindow(t.attempts, (a) => a.finished ?? -1, w).length;
  const queued = inWindow(t.attempts, (a) => a.queued, w).length;
  const s = (w.to - w.from) / 1000;
  return [
    `dispatch (dependency finished -> job started), by ready time: ${percentiles(dispatch)}`,
    `queue duration (attempt queued -> started), by queued time: ${percentiles(queue)}`,
    `webhook received -> pipeline created: ${percentiles(intake)}`,
    `jobs queued ${queued} (${(queued / s).toFixed(1)}/s), finished ${finished} (${(finished / s).toFixed(1)}/s) in ${s.toFixed(0)} s`,
  ];
}

/** gantry_http_shed_total and the requests answered, summed over the instances, by class (and reason). */
export type Counters = Map<string, number>;

/**
 * Both instances' /metrics, summed. A scrape that does not answer within a minute is noted
 * (`scrape failed`, `scrape ms`) instead of stopping the test: the page reads the fleet's gauges
 * from the store, and under the x3 load it has taken over 30 s.
 */
export async function scrape(urls: readonly string[]): Promise<Counters> {
  const c: Counters = new Map();
  const texts = await Promise.all(
    urls.map(async (url) => {
      const t0 = performance.now();
      try {
        const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(60_000) })).text();
        c.set(`scrape ms ${url}`, Math.round(performance.now() - t0));
        return text;
      } catch {
        c.set('scrape failed', (c.get('scrape failed') ?? 0) + 1);
        return '';
      }
    }),
  );
  for (const text of texts) {
    for (const m of text.matchAll(/^gantry_http_shed_total\{class="([^"]+)",reason="([^"]+)"\} (\d+)$/gm)) {
      const k = `shed ${m[1]} ${m[2]}`;
      c.set(k, (c.get(k) ?? 0) + Number(m[3]));
    }
    for (const m of text.matchAll(/^gantry_webhook_deliveries_total\{provider="[^"]+",result="([^"]+)"\} (\d+)$/gm)) {
      const k = `webhook ${m[1]}`;
      c.set(k, (c.get(k) ?? 0) + Number(m[2]));
    }
    for (const m of text.matchAll(/^gantry_http_requests_total\{route="([^"]+)",method="([A-Z]+)",status="(\d+)"\} (\d+)$/gm)) {
      if (Number(m[3]) >= 500 && m[3] !== '503') {
        const k = `5xx ${m[2]} ${m[1]} ${m[3]}`;
        c.set(k, (c.get(k) ?? 0) + Number(m[4]));
      }
    }
  }
  return c;
}

export function diff(after: Counters, before: Counters): Counters {
  const d: Counters = new Map();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

export function show(c: Counters, prefix: string): string {
  const parts = [...c].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => `${k.slice(prefix.length + 1)} ${v}`);
  return parts.length ? parts.join(', ') : 'none';
}
