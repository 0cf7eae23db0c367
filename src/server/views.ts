// JSON shapes of the API beyond a pipeline's (src/views/pipeline-json.ts): projects, pipeline
// list items, variables without values. Timestamps are ISO-8601 UTC.

import type { Project, StoredVariable } from '../store/store.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const projectJson = (p: Project) => ({
  id: p.id,
  name: p.name,
  gitUrl: p.gitUrl,
  createdAt: iso(p.createdAt),
  maxRunning: p.limits.maxRunning,
  maxRunningPerPipeline: p.limits.maxRunningPerPipeline,
  autoCancel: p.autoCancel,
  requireSandbox: p.isolation.requireSandbox,
  network: p.isolation.network,
  forkNetwork: p.isolation.forkNetwork,
  jobLimits: p.isolation.jobLimits,
  forkIdTokens: p.forkIdTokens,
  publicBadges: p.publicBadges,
  forkApproval: p.forkApproval,
  weight: p.fairShare.weight,
  urgentJobs: p.fairShare.urgentJobs,
  retention: p.retention,
});

export { jobJson, latestCoverage, pipelineCoverage, pipelineSummaryJson } from '../views/pipeline-json.js';

/** Values are write-only: the API never returns one. */
export const variableJson = (v: StoredVariable) => ({ key: v.key, masked: v.masked, protected: v.protected, updatedAt: iso(v.updatedAt) });
