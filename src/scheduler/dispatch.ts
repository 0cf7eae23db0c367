// Chooses which pending jobs start now, within the free slots and the resource groups.

export interface Runnable {
  key: number; // a stable id: the job id
  priority: number;
  resourceGroup: string | null;
}

/**
 * Picks up to `slots` jobs: higher priority first, then the order given (queue order). A resource
 * group runs one job at a time, and its jobs start in order: a later job of a busy group never
 * overtakes an earlier one.
 */
export function pickToStart<T extends Runnable>(pending: readonly T[], busyGroups: ReadonlySet<string>, slots: number): T[] {
  if (slots <= 0 || pending.length === 0) return [];
  // Called on every pass of the scheduler: when no job has a priority of its own (the usual
  // case), queue order is already the answer and the queue is scanned only as far as needed.
  const first = pending[0]!.priority;
  const ordered = pending.every((j) => j.priority === first)
    ? pending
    : pending
        .map((job, i) => ({ job, i }))
        .sort((a, b) => b.job.priority - a.job.priority || a.i - b.i)
        .map((x) => x.job);
  const taken: T[] = [];
  const groups = new Set(busyGroups);
  for (const job of ordered) {
    if (taken.length >= slots) break;
    if (job.resourceGroup !== null) {
      if (groups.has(job.resourceGroup)) continue;
      groups.add(job.resourceGroup);
    }
    taken.push(job);
  }
  return taken;
}
