// What the insights of a project read (docs/API.md, "Insights"): the runs of a window, newest
// first and capped. (A pipeline's timeline reads getPipeline: its attempts carry their times.)

import type { AttemptRun, PipelineRun } from '../domain/insights.js';
import type { ProjectId } from '../domain/ids.js';
import type { EpochMs } from './store.js';

/** At most this many pipelines of a window are read: a busy project's weeks stay one query. */
export const INSIGHT_PIPELINES_MAX = 5000;

export interface WindowRuns {
  pipelines: PipelineRun[];
  attempts: AttemptRun[];
  /** More pipelines were created in the window than were read (the newest INSIGHT_PIPELINES_MAX were). */
  truncated: boolean;
}

export interface InsightsStore {
  /** The project's pipelines created since `since` and all their attempts. */
  windowRuns(projectId: ProjectId, since: EpochMs): Promise<WindowRuns>;
}
