// A pipeline's timeline as the bars a chart draws: per job, for each attempt, a gap (nothing
// happening: before it was queued, or between a failure and its retry), its wait in the queue and
// its run, in seconds from the pipeline's creation. Pure, so it is tested without a browser.

import type { PipelineTimeline } from '../api/types.js';

export interface TimelineRow {
  jobId: number;
  name: string;
  critical: boolean;
  /** Per attempt: [gap, wait, run] seconds, laid end to end. */
  segments: [number, number, number][];
  /** Seconds from queued to running, and running, over all attempts. */
  waited: number;
  ran: number;
}

export interface TimelineBars {
  rows: TimelineRow[];
  /** Most attempts of any job: the chart has 3 series per attempt. */
  attempts: number;
  /** Seconds from creation to the end (or to now for a running pipeline). */
  span: number;
  /** The critical path's names, first to last, and its length in seconds (its first queue to its end). */
  critical: { names: string[]; seconds: number };
}

const s = (ms: number) => Math.max(0, ms) / 1000;

export function timelineBars(t: PipelineTimeline, now: number): TimelineBars {
  const t0 = Date.parse(t.createdAt);
  const onPath = new Set(t.criticalPath);
  let end = t.finishedAt ? Date.parse(t.finishedAt) : now;
  const rows: TimelineRow[] = [];
  for (const j of t.jobs) {
    if (j.attempts.length === 0) continue;
    let at = t0;
    let waited = 0;
    let ran = 0;
    const segments: [number, number, number][] = [];
    for (const a of j.attempts) {
      const queued = Date.parse(a.queuedAt);
      const started = a.startedAt ? Date.parse(a.startedAt) : null;
      const finished = a.finishedAt ? Date.parse(a.finishedAt) : null;
      const waitEnd = started ?? finished ?? now;
      const runEnd = started === null ? waitEnd : (finished ?? now);
      segments.push([s(queued - at), s(waitEnd - queued), s(runEnd - waitEnd)]);
      waited += s(waitEnd - queued);
      ran += s(runEnd - waitEnd);
      at = runEnd;
      end = Math.max(end, runEnd);
    }
    rows.push({ jobId: j.id, name: j.name, critical: onPath.has(j.id), segments, waited, ran });
  }
  const byId = new Map(t.jobs.map((j) => [j.id, j]));
  const path = t.criticalPath.map((id) => byId.get(id)).filter((j) => j !== undefined);
  const first = path[0]?.attempts[0];
  const last = path[path.length - 1]?.attempts.at(-1);
  const seconds = first && last?.finishedAt ? s(Date.parse(last.finishedAt) - Date.parse(first.queuedAt)) : 0;
  return { rows, attempts: Math.max(0, ...rows.map((r) => r.segments.length)), span: s(end - t0), critical: { names: path.map((j) => j.name), seconds } };
}
