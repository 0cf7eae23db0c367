// The store's side of commit statuses sent to a forge: each project's forge configuration (its
// token only ever sealed) and the outbox of statuses (docs/ARCHITECTURE.md, "Forge statuses").

import type { PipelineId, ProjectId } from '../domain/ids.js';
import type { PipelineStatus } from '../domain/status.js';
import type { EpochMs } from './store.js';
import type { AuditFor } from './audit.js';

export const FORGE_PROVIDERS = ['github', 'gitea', 'gitlab'] as const;
export type ForgeProvider = (typeof FORGE_PROVIDERS)[number];

export interface ForgeConfig {
  projectId: ProjectId;
  provider: ForgeProvider;
  /** The API root (GitHub: https://api.github.com) or the server (Gitea, GitLab). */
  baseUrl: string;
  /** `owner/repo`; on GitLab a project path (`group/sub/project`) or a numeric id. */
  repository: string;
  /** The status's name on the forge (GitHub's and Gitea's `context`, GitLab's `name`). */
  context: string;
  /** The token sealed with the SecretBox (base64). */
  ciphertext: string;
  nonce: string;
  updatedAt: EpochMs;
}

/** A pipeline status to report, claimed by one instance until `claimedUntil`. */
export interface ForgeReport {
  pipelineId: PipelineId;
  projectId: ProjectId;
  /** The pipeline's latest status when claimed, and its version. */
  status: PipelineStatus;
  version: number;
  /** The forge state last delivered for this pipeline, if any. */
  sentState: string | null;
  attempts: number;
  ref: string;
  sha: string;
}

export type ReportOutcome =
  | { kind: 'sent'; state: string }
  /** A passing failure: try again at `retryAt`. */
  | { kind: 'retry'; retryAt: EpochMs; error: string }
  /** A failure that retrying cannot mend (a refused token): this version is dropped. */
  | { kind: 'gave-up'; error: string };

export interface ForgeOutboxRow {
  pipelineId: PipelineId;
  status: PipelineStatus;
  version: number;
  sentVersion: number;
  sentState: string | null;
  attempts: number;
  nextAt: EpochMs | null;
  lastError: string | null;
}

export interface ForgeStore {
  /** Creates or replaces the project's configuration. */
  putConfig(c: ForgeConfig, audit?: AuditFor<void>): Promise<void>;
  getConfig(projectId: ProjectId): Promise<ForgeConfig | null>;
  deleteConfig(projectId: ProjectId, audit?: AuditFor<boolean>): Promise<boolean>;
  /**
   * Claims up to `limit` due reports until `claimedUntil` (FOR UPDATE SKIP LOCKED on PostgreSQL):
   * a pipeline's report is in one instance's hands at a time, so its states reach the forge in order.
   */
  claimReports(at: EpochMs, claimedUntil: EpochMs, limit: number): Promise<ForgeReport[]>;
  /** Ends the claim of `version`; a newer version that arrived meanwhile stays due. */
  finishReport(pipelineId: PipelineId, version: number, outcome: ReportOutcome): Promise<void>;
  getOutboxRow(pipelineId: PipelineId): Promise<ForgeOutboxRow | null>;
}
