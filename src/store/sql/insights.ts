// A project's runs of a window (src/store/insights.ts) over any SqlDialect: two range reads on
// the pipelines' (project_id, id) index and the jobs' (pipeline_id, ...) one.

import type { AttemptRun, PipelineRun } from '../../domain/insights.js';
import type { ProjectId } from '../../domain/ids.js';
import { INSIGHT_PIPELINES_MAX, type InsightsStore, type WindowRuns } from '../insights.js';
import type { EpochMs } from '../store.js';
import type { SqlDialect } from './dialect.js';
import { num } from './rows.js';

interface PipelineRow {
  id: number | string;
  status: string;
  created_at: number | string;
  finished_at: number | string | null;
}

interface AttemptRow {
  pipeline_id: number | string;
  name: string;
  number: number | string;
  status: string;
  started_at: number | string | null;
  finished_at: number | string | null;
}

const orNull = (v: number | string | null) => (v === null ? null : num(v));

export class SqlInsightsStore implements InsightsStore {
  constructor(private readonly db: SqlDialect) {}

  async windowRuns(projectId: ProjectId, since: EpochMs): Promise<WindowRuns> {
    // Newest first by id (ids grow with time): the cap keeps the most recent.
    const rows = await this.db.all<PipelineRow>(
      'SELECT id, status, created_at, finished_at FROM pipelines WHERE project_id = ? AND created_at >= ? ORDER BY id DESC LIMIT ?',
      [projectId, since, INSIGHT_PIPELINES_MAX + 1],
    );
    const truncated = rows.length > INSIGHT_PIPELINES_MAX;
    const pipelines: PipelineRun[] = rows.slice(0, INSIGHT_PIPELINES_MAX).map((r) => ({ id: num(r.id), status: r.status, createdAt: num(r.created_at), finishedAt: orNull(r.finished_at) }));
    if (pipelines.length === 0) return { pipelines, attempts: [], truncated };
    const oldest = pipelines[pipelines.length - 1]!.id;
    const attempts: AttemptRun[] = (
      await this.db.all<AttemptRow>(
        'SELECT j.pipeline_id, j.name, a.number, a.status, a.started_at, a.finished_at FROM pipelines p ' +
          'JOIN jobs j ON j.pipeline_id = p.id JOIN attempts a ON a.job_id = j.id ' +
          'WHERE p.project_id = ? AND p.id >= ? AND p.created_at >= ?',
        [projectId, oldest, since],
      )
    ).map((r) => ({ pipelineId: num(r.pipeline_id), jobName: r.name, number: num(r.number), status: r.status, startedAt: orNull(r.started_at), finishedAt: orNull(r.finished_at) }));
    return { pipelines, attempts, truncated };
  }
}
