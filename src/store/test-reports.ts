// Test reports (docs/PIPELINE.md, "Test reports"): what each attempt's JUnit files said, kept per
// attempt and read per pipeline or job. Retention deletes them with their pipeline (the rows
// cascade from attempts, jobs and pipelines).

import type { AttemptId, JobId, PipelineId } from '../domain/ids.js';
import type { AttemptReport, TestReport } from '../domain/test-reports.js';
import type { Fence } from './fleet.js';
import type { EpochMs } from './store.js';

export type RecordReportResult = { kind: 'ok'; created: boolean } | { kind: 'conflict' } | Fence;

export interface TestReportStore {
  /** `gantry run`: the attempt's report, from the process that ran it. A second one for the attempt is ignored. */
  record(attemptId: AttemptId, report: TestReport, at: EpochMs): Promise<void>;
  /**
   * An agent's: kept only while the attempt is running under this token (the same statement
   * checks it). The same report again is `created: false`; a different one, a conflict.
   */
  recordFenced(attemptId: AttemptId, tokenHash: string, report: TestReport, at: EpochMs): Promise<RecordReportResult>;
  /** Every report of the pipeline's attempts, by job and attempt. */
  ofPipeline(id: PipelineId): Promise<AttemptReport[]>;
  ofJob(id: JobId): Promise<AttemptReport[]>;
}
