// The gates' records (docs/API.md, "Approvals"): the fork authors a maintainer approved "always",
// a project's protected environments, the deployments to an environment and the decisions on each.
// The moves themselves (approve, reject) are fleet transactions (src/store/fleet.ts): they release
// or end jobs under the pipeline's lock.

import type { ProjectId } from '../domain/ids.js';
import type { JobStatus } from '../domain/status.js';
import type { TriggeredBy } from '../domain/triggered-by.js';
import type { ProtectedEnvironment } from '../domain/approvals.js';
import type { AuditFor } from './audit.js';
import type { EpochMs } from './store.js';

export interface ApprovedForkAuthor {
  provider: string;
  author: string;
  /** Who approved them "always" (a username, or a token's name). */
  approvedBy: string;
  createdAt: EpochMs;
}

export interface EnvironmentSettings extends ProtectedEnvironment {
  updatedAt: EpochMs;
}

/** One person's (or token's) decision on a deployment waiting for approval. */
export interface JobDecision {
  /** `user:ID` or `token:ID`: one approver, whatever name it goes by. */
  approver: string;
  name: string;
  decision: 'approved' | 'rejected';
  comment: string | null;
  at: EpochMs;
}

/** A job that deploys to an environment, with its pipeline's facts. */
export interface Deployment {
  jobId: number;
  jobName: string;
  pipelineId: number;
  ref: string;
  sha: string;
  status: JobStatus;
  triggeredBy: TriggeredBy | null;
  createdAt: EpochMs;
  startedAt: EpochMs | null;
  finishedAt: EpochMs | null;
}

export interface EnvironmentSummary {
  name: string;
  /** Its protection; requiredApprovals 0 and no deployers when none was set. */
  requiredApprovals: number;
  deployers: string[];
  lastDeployment: Deployment | null;
}

export interface GateStore {
  listForkAuthors(projectId: ProjectId): Promise<ApprovedForkAuthor[]>;
  /** False when the author was not approved always. */
  removeForkAuthor(projectId: ProjectId, provider: string, author: string, audit?: AuditFor<boolean>): Promise<boolean>;
  /** The protected environments and those deployed to, by name. */
  listEnvironments(projectId: ProjectId): Promise<EnvironmentSummary[]>;
  getEnvironment(projectId: ProjectId, name: string): Promise<EnvironmentSettings | null>;
  /** Creates or replaces an environment's protection. */
  putEnvironment(projectId: ProjectId, env: ProtectedEnvironment, at: EpochMs, audit?: AuditFor<EnvironmentSettings>): Promise<EnvironmentSettings>;
  /** The jobs deploying to it, newest first; `beforeJobId` pages. */
  listDeployments(projectId: ProjectId, name: string, limit: number, beforeJobId?: number): Promise<Deployment[]>;
  /** The decisions on a job, oldest first. */
  jobDecisions(jobId: number): Promise<JobDecision[]>;
}
