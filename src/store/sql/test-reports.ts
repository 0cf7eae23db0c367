// Test reports (src/store/test-reports.ts) over any SqlDialect: one row per attempt, the cases as
// one JSON text (migration 20 says why).

import type { AttemptId, JobId, PipelineId } from '../../domain/ids.js';
import type { AttemptReport, TestCase, TestReport } from '../../domain/test-reports.js';
import type { EpochMs } from '../store.js';
import type { RecordReportResult, TestReportStore } from '../test-reports.js';
import type { SqlDialect } from './dialect.js';
import { fenceOf } from './fleet/fleet-tx.js';
import { num } from './rows.js';

interface ReportRow {
  job_id: number | string;
  job_name: string;
  number: number | string;
  total: number | string;
  passed: number | string;
  failed: number | string;
  errored: number | string;
  skipped: number | string;
  duration_ms: number | string;
  unlisted: number | string;
  files: number | string;
  cases: string;
}

const COLUMNS =
  'r.job_id, j.name AS job_name, a.number, r.total, r.passed, r.failed, r.errored, r.skipped, r.duration_ms, r.unlisted, r.files, r.cases';
const FROM = 'FROM test_reports r JOIN attempts a ON a.id = r.attempt_id JOIN jobs j ON j.id = r.job_id';

function toReport(r: ReportRow): AttemptReport {
  return {
    jobId: num(r.job_id),
    jobName: r.job_name,
    attempt: num(r.number),
    report: {
      counts: {
        total: num(r.total),
        passed: num(r.passed),
        failed: num(r.failed),
        error: num(r.errored),
        skipped: num(r.skipped),
        durationMs: num(r.duration_ms),
      },
      unlisted: num(r.unlisted),
      files: num(r.files),
      cases: JSON.parse(r.cases) as TestCase[],
    },
  };
}

/** The values after the attempt's own columns, in the INSERT's order. */
function values(report: TestReport, at: EpochMs): (number | string)[] {
  const c = report.counts;
  return [c.total, c.passed, c.failed, c.error, c.skipped, Math.round(c.durationMs), report.unlisted, report.files, JSON.stringify(report.cases), at];
}

// Parameters in a SELECT list are CAST: PostgreSQL cannot infer their type from the INSERT's target columns.
const INSERT =
  'INSERT INTO test_reports (attempt_id, job_id, pipeline_id, total, passed, failed, errored, skipped, duration_ms, unlisted, files, cases, created_at) ' +
  'SELECT a.id, a.job_id, j.pipeline_id, CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS INTEGER), ' +
  'CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS BIGINT) ' +
  'FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE ';

export class SqlTestReportStore implements TestReportStore {
  constructor(private readonly db: SqlDialect) {}

  async record(attemptId: AttemptId, report: TestReport, at: EpochMs): Promise<void> {
    await this.db.run(`${INSERT}a.id = ? ON CONFLICT (attempt_id) DO NOTHING`, [...values(report, at), attemptId]);
  }

  async recordFenced(attemptId: AttemptId, tokenHash: string, report: TestReport, at: EpochMs): Promise<RecordReportResult> {
    // The attempt's token and status in the statement's own WHERE: an agent whose attempt was
    // fenced (lost, canceled, retried elsewhere) records nothing, for this attempt or any other.
    const r = await this.db.run(`${INSERT}a.id = ? AND a.token_hash = ? AND a.status = 'running' ON CONFLICT (attempt_id) DO NOTHING`, [
      ...values(report, at),
      attemptId,
      tokenHash,
    ]);
    if (r.changes === 1) return { kind: 'ok', created: true };
    const attempt = await this.db.get<{ status: string; token_hash: string | null; failure_reason: string | null }>(
      'SELECT status, token_hash, failure_reason FROM attempts WHERE id = ?',
      [attemptId],
    );
    const fence = fenceOf(attempt, tokenHash);
    if (fence) return fence;
    const had = await this.db.get<{ cases: string; total: number | string }>('SELECT cases, total FROM test_reports WHERE attempt_id = ?', [attemptId]);
    const same = had !== undefined && num(had.total) === report.counts.total && had.cases === JSON.stringify(report.cases);
    return same ? { kind: 'ok', created: false } : { kind: 'conflict' };
  }

  async ofPipeline(id: PipelineId): Promise<AttemptReport[]> {
    return (await this.db.all<ReportRow>(`SELECT ${COLUMNS} ${FROM} WHERE r.pipeline_id = ? ORDER BY r.job_id, a.number`, [id])).map(toReport);
  }

  async ofJob(id: JobId): Promise<AttemptReport[]> {
    return (await this.db.all<ReportRow>(`SELECT ${COLUMNS} ${FROM} WHERE r.job_id = ? ORDER BY a.number`, [id])).map(toReport);
  }
}
