// The critical path of a finished (or running) pipeline: the chain of jobs that decided when it
// ended. From the job that finished last, step to what it waited for: of the jobs it depends on
// (its `needs:`, or without them every job of an earlier stage), the one that finished last before
// it started; and so on to a job that waited for nothing. Shortening any other job would not have
// ended the pipeline sooner; shortening one of these would.

export interface TimedJob {
  id: number;
  name: string;
  stageIndex: number;
  /** `needs:` names; null: the job waits for every earlier stage. */
  needs: readonly string[] | null;
  /** Of its latest attempt. */
  startedAt: number | null;
  finishedAt: number | null;
}

/** Job ids, first to last; empty when nothing has finished. */
export function criticalPath(jobs: readonly TimedJob[]): number[] {
  const finished = jobs.filter((j) => j.finishedAt !== null);
  if (finished.length === 0) return [];
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const latest = (list: readonly TimedJob[]) => list.reduce((a, b) => (b.finishedAt! > a.finishedAt! ? b : a));
  let current = latest(finished);
  const path = [current];
  const seen = new Set([current.id]);
  for (;;) {
    const cur = current;
    const deps = cur.needs === null ? jobs.filter((j) => j.stageIndex < cur.stageIndex) : cur.needs.map((n) => byName.get(n)).filter((j): j is TimedJob => j !== undefined);
    const startedAt = cur.startedAt ?? cur.finishedAt!;
    const waitedFor = deps.filter((j) => j.finishedAt !== null && j.finishedAt <= startedAt && !seen.has(j.id));
    if (waitedFor.length === 0) break;
    current = latest(waitedFor);
    seen.add(current.id);
    path.push(current);
  }
  return path.reverse().map((j) => j.id);
}
