// A project's insights (docs/API.md, "Insights"): how often its pipelines succeed and how long
// they take, day by day, and which jobs are slowest and which flake. Pure: the store gives the
// runs of the window, this turns them into what the insights page draws.

/** Milliseconds since the epoch. */
type EpochMs = number;

export const INSIGHT_DAYS_DEFAULT = 28;
export const INSIGHT_DAYS_MAX = 90;
/** Jobs listed as slowest or flakiest. */
export const INSIGHT_TOP = 10;

export interface PipelineRun {
  id: number;
  status: string;
  createdAt: EpochMs;
  finishedAt: EpochMs | null;
}

export interface AttemptRun {
  pipelineId: number;
  jobName: string;
  number: number;
  status: string;
  startedAt: EpochMs | null;
  finishedAt: EpochMs | null;
}

export interface DayInsight {
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  /** Pipelines created that day that finished: succeeded, failed and canceled. */
  finished: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** succeeded / (succeeded + failed), as GitLab's success ratio; null on a day with neither. */
  successRate: number | null;
  /** Of the succeeded and failed: created → finished, what a person waits. Null without any. */
  p50Seconds: number | null;
  p95Seconds: number | null;
}

export interface SlowJob {
  name: string;
  /** Successful attempts measured. */
  runs: number;
  p50Seconds: number;
  p95Seconds: number;
}

export interface FlakyJob {
  name: string;
  /** Pipelines in which the job ran. */
  runs: number;
  /** Of those, the pipelines where it failed and then passed on a retry. */
  flaky: number;
  rate: number;
}

export interface Insights {
  days: DayInsight[];
  totals: Omit<DayInsight, 'day'>;
  slowestJobs: SlowJob[];
  flakiestJobs: FlakyJob[];
}

/** The nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const dayOf = (at: EpochMs) => new Date(at).toISOString().slice(0, 10);
const seconds = (ms: number) => Math.round(ms) / 1000;

function summarize(runs: readonly PipelineRun[]): Omit<DayInsight, 'day'> {
  let succeeded = 0;
  let failed = 0;
  let canceled = 0;
  const durations: number[] = [];
  for (const r of runs) {
    if (r.finishedAt === null) continue;
    if (r.status === 'success') succeeded++;
    else if (r.status === 'failed') failed++;
    else if (r.status === 'canceled') canceled++;
    else continue;
    if (r.status !== 'canceled') durations.push(r.finishedAt - r.createdAt);
  }
  durations.sort((a, b) => a - b);
  return {
    finished: succeeded + failed + canceled,
    succeeded,
    failed,
    canceled,
    successRate: succeeded + failed === 0 ? null : succeeded / (succeeded + failed),
    p50Seconds: durations.length ? seconds(percentile(durations, 0.5)) : null,
    p95Seconds: durations.length ? seconds(percentile(durations, 0.95)) : null,
  };
}

/**
 * Every UTC day of the window (the oldest first, empty days too, so a chart's axis is even),
 * the window's totals, the jobs slowest at p95 and those that flaked most.
 */
export function insightsOf(pipelines: readonly PipelineRun[], attempts: readonly AttemptRun[], windowDays: number, now: EpochMs): Insights {
  const byDay = new Map<string, PipelineRun[]>();
  for (let d = windowDays - 1; d >= 0; d--) byDay.set(dayOf(now - d * 86_400_000), []);
  for (const p of pipelines) byDay.get(dayOf(p.createdAt))?.push(p);
  const days = [...byDay].map(([day, runs]) => ({ day, ...summarize(runs) }));

  const durations = new Map<string, number[]>();
  /** Per job name and pipeline: its attempts' outcomes in order. */
  const outcomes = new Map<string, Map<number, { number: number; status: string }[]>>();
  for (const a of attempts) {
    if (a.status === 'success' && a.startedAt !== null && a.finishedAt !== null) {
      const list = durations.get(a.jobName) ?? [];
      list.push(a.finishedAt - a.startedAt);
      durations.set(a.jobName, list);
    }
    const perPipeline = outcomes.get(a.jobName) ?? new Map<number, { number: number; status: string }[]>();
    const list = perPipeline.get(a.pipelineId) ?? [];
    list.push({ number: a.number, status: a.status });
    perPipeline.set(a.pipelineId, list);
    outcomes.set(a.jobName, perPipeline);
  }
  const slowestJobs = [...durations]
    .map(([name, list]) => {
      list.sort((a, b) => a - b);
      return { name, runs: list.length, p50Seconds: seconds(percentile(list, 0.5)), p95Seconds: seconds(percentile(list, 0.95)) };
    })
    .sort((a, b) => b.p95Seconds - a.p95Seconds || a.name.localeCompare(b.name))
    .slice(0, INSIGHT_TOP);
  const flakiestJobs = [...outcomes]
    .map(([name, perPipeline]) => {
      let flaky = 0;
      for (const list of perPipeline.values()) if (failedThenPassed(list)) flaky++;
      return { name, runs: perPipeline.size, flaky, rate: flaky / perPipeline.size };
    })
    .filter((j) => j.flaky > 0)
    .sort((a, b) => b.rate - a.rate || b.flaky - a.flaky || a.name.localeCompare(b.name))
    .slice(0, INSIGHT_TOP);
  return { days, totals: summarize(pipelines), slowestJobs, flakiestJobs };
}

/** A job flaked in a pipeline when an attempt failed and a later one of the same commit passed. */
function failedThenPassed(attempts: { number: number; status: string }[]): boolean {
  const sorted = [...attempts].sort((a, b) => a.number - b.number);
  const firstFailure = sorted.findIndex((a) => a.status === 'failed' || a.status === 'timed_out');
  return firstFailure >= 0 && sorted.slice(firstFailure + 1).some((a) => a.status === 'success');
}
