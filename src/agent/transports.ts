// What the job runner needs from the outside world besides a process: where artifacts and caches
// go. `gantry run` keeps them in directories under $GANTRY_HOME; remote agents (next issue) send
// them to the server. The runner does not know which.

import type { DotenvVariable } from '../domain/dotenv.js';
import type { TestReport } from '../domain/test-reports.js';

export interface ArtifactTransport {
  /** Copies the stored artifacts of `jobId` into `dir`; false if that job left none. */
  fetch(jobId: number, dir: string): Promise<boolean>;
  /** Stores `files` (relative to `root`) as the artifacts of `jobId`. */
  store(jobId: number, root: string, files: readonly string[], expireInSeconds: number | null): Promise<void>;
}

export interface CacheTransport {
  /** Copies the cache stored under `key` into `dir`; false if there is none. */
  restore(key: string, dir: string): Promise<boolean>;
  /** Replaces the cache under `key` with `files` (relative to `root`). */
  save(key: string, root: string, files: readonly string[]): Promise<void>;
}

export interface TestReportTransport {
  /** Keeps the attempt's test report (read from its `artifacts:reports:junit` files). */
  store(report: TestReport): Promise<void>;
}

export interface DotenvTransport {
  /**
   * Keeps the attempt's dotenv variables (its `artifacts:reports:dotenv`, checked): `gantry run`
   * stores them, an agent sends them with the completion, so they commit with the attempt's end.
   */
  keep(variables: DotenvVariable[]): void | Promise<void>;
}
