// Dotenv variables (docs/PIPELINE.md, "Passing variables to later jobs"): what each attempt's
// `artifacts:reports:dotenv` files said, rows of that attempt (migration 21), read by the jobs
// that take its job's artifacts. A job's variables are its newest attempt's: a retried producer's
// latest attempt supplies them, and one whose latest attempt wrote none supplies none.

import type { AttemptId, JobId } from '../domain/ids.js';
import type { DotenvVariable } from '../domain/dotenv.js';

export interface DotenvStore {
  /**
   * `gantry run`: the attempt's variables, from the process that ran it. A second call for the
   * attempt keeps the first. (An agent's come with its completion: FleetStore.completeAttempt.)
   */
  record(attemptId: AttemptId, variables: readonly DotenvVariable[]): Promise<void>;
  /** For each job, in the order given, the variables of its newest attempt (none: an empty list). */
  ofNewestAttempts(jobIds: readonly JobId[]): Promise<DotenvVariable[][]>;
  /** The job's newest attempt's number and variables; null when that attempt has none (yet). */
  ofJob(jobId: JobId): Promise<{ attempt: number; variables: DotenvVariable[] } | null>;
}
