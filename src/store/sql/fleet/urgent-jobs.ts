// Urgent jobs (src/domain/fair-share.ts): which of a project's jobs go first within its share.
//
// Decided when an attempt is queued, not at the take: the take then orders by one integer its
// index holds (`attempts.priority`: the job's priority, raised for an urgent job), where matching
// globs against the names of every pending job of a project on each take would cost that many
// rows read per offer. A change of the project's list re-stamps its pending attempts in the
// transaction of the change, so it applies to jobs already queued too, as the other settings the
// take reads do. (An attempt queued by a transaction that read the list before the change committed
// keeps the old stamp: a matter of order, never of what runs.)

import { isUrgentJob, rankParts, URGENT_STEP } from '../../../domain/fair-share.js';
import type { SqlExecutor } from '../dialect.js';

const parsed = new Map<string, readonly string[]>();

/** The globs of a project's `urgent_jobs` column (JSON), parsed once per distinct text. */
export function urgentGlobs(json: string): readonly string[] {
  let globs = parsed.get(json);
  if (!globs) {
    globs = JSON.parse(json) as string[];
    if (parsed.size > 1_000) parsed.clear();
    parsed.set(json, globs);
  }
  return globs;
}

/** Stamps the project's pending attempts with `globs`: urgent ones raised, the others lowered. */
export async function restampUrgentIn(tx: SqlExecutor, projectId: number, globs: readonly string[]): Promise<void> {
  const rows = await tx.all<{ id: number | string; priority: number | string; name: string }>(
    "SELECT a.id, a.priority, j.name FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.status = 'pending' AND a.project_id = ?",
    [projectId],
  );
  const raise: number[] = [];
  const lower: number[] = [];
  for (const r of rows) {
    const was = rankParts(Number(r.priority)).urgent;
    const is = isUrgentJob(globs, r.name);
    if (is && !was) raise.push(Number(r.id));
    if (was && !is) lower.push(Number(r.id));
  }
  for (const [ids, step] of [[raise, URGENT_STEP], [lower, -URGENT_STEP]] as const) {
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      await tx.run(`UPDATE attempts SET priority = priority + ? WHERE status = 'pending' AND id IN (${batch.map(() => '?').join(', ')})`, [step, ...batch]);
    }
  }
}
