// Dotenv variables (src/store/dotenv.ts) over any SqlDialect: one row per variable of an attempt,
// in file order (`position`), the table of migration 21.

import type { AttemptId, JobId } from '../../domain/ids.js';
import type { DotenvVariable } from '../../domain/dotenv.js';
import type { DotenvStore } from '../dotenv.js';
import type { SqlExecutor } from './dialect.js';
import { num } from './rows.js';

/**
 * Writes the attempt's variables, in the caller's transaction (a completion's: the rows commit with
 * the attempt's end, so no job made ready by that end misses them). An attempt that has rows keeps them.
 */
export async function recordDotenvIn(db: SqlExecutor, attemptId: AttemptId, variables: readonly DotenvVariable[]): Promise<void> {
  if (variables.length === 0) return;
  const head = await db.get<{ job_id: number | string; pipeline_id: number | string; n: number | string }>(
    'SELECT a.job_id, j.pipeline_id, (SELECT COUNT(*) FROM dotenv_variables d WHERE d.attempt_id = a.id) AS n FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = ?',
    [attemptId],
  );
  if (!head || num(head.n) > 0) return;
  const params: (number | string)[] = [];
  variables.forEach((v, i) => params.push(attemptId, num(head.job_id), num(head.pipeline_id), i, v.key, v.value));
  await db.run(
    `INSERT INTO dotenv_variables (attempt_id, job_id, pipeline_id, position, key, value) VALUES ${variables.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
    params,
  );
}

// The newest attempt of a job is the one with the highest number: a retry's rows replace, never
// join, those of the attempt before it.
const NEWEST = 'd.attempt_id = (SELECT a.id FROM attempts a WHERE a.job_id = d.job_id ORDER BY a.number DESC LIMIT 1)';

export class SqlDotenvStore implements DotenvStore {
  constructor(private readonly db: SqlExecutor) {}

  async record(attemptId: AttemptId, variables: readonly DotenvVariable[]): Promise<void> {
    await recordDotenvIn(this.db, attemptId, variables);
  }

  async ofNewestAttempts(jobIds: readonly JobId[]): Promise<DotenvVariable[][]> {
    if (jobIds.length === 0) return [];
    const rows = await this.db.all<{ job_id: number | string; key: string; value: string }>(
      `SELECT d.job_id, d.key, d.value FROM dotenv_variables d WHERE d.job_id IN (${jobIds.map(() => '?').join(', ')}) AND ${NEWEST} ORDER BY d.job_id, d.position`,
      jobIds,
    );
    const byJob = new Map<number, DotenvVariable[]>();
    for (const r of rows) {
      const list = byJob.get(num(r.job_id)) ?? [];
      list.push({ key: r.key, value: r.value });
      byJob.set(num(r.job_id), list);
    }
    return jobIds.map((id) => byJob.get(Number(id)) ?? []);
  }

  async ofJob(jobId: JobId): Promise<{ attempt: number; variables: DotenvVariable[] } | null> {
    const rows = await this.db.all<{ number: number | string; key: string; value: string }>(
      `SELECT a.number, d.key, d.value FROM dotenv_variables d JOIN attempts a ON a.id = d.attempt_id WHERE d.job_id = ? AND ${NEWEST} ORDER BY d.position`,
      [jobId],
    );
    if (rows.length === 0) return null;
    return { attempt: num(rows[0]!.number), variables: rows.map((r) => ({ key: r.key, value: r.value })) };
  }
}
