// What retention deletes, and the garbage collector's runs (docs/RUNNING.md, "Retention and
// garbage collection"). The collector (src/server/retention/) decides with src/domain/retention.ts
// and calls these in bounded batches; each method that deletes re-checks, in the statement that
// deletes, the conditions the decision was made on, so a pipeline retried, an artifact kept or a
// blob referenced again since it was picked is left alone.

import type { PipelineId, ProjectId } from '../domain/ids.js';
import type { PipelineFacts, RefFacts } from '../domain/retention.js';
import type { AuditFor } from './audit.js';
import type { EpochMs } from './store.js';

/** Pipelines deleted in one transaction at most: a collection never holds the database for long. */
export const PIPELINES_PER_TRANSACTION = 100;

/** Where a page of old pipelines ended: the next page starts after it. */
export interface PipelineCursor {
  createdAt: EpochMs;
  id: number;
}

/** What deleting pipelines, or expiring their logs, would let go (a dry run's view). */
export interface PipelineContents {
  /** Finished attempts whose log is still there. */
  logs: number;
  /** Their compacted log objects, by attempt. */
  logObjects: { attemptId: number; sha256: string }[];
  /** Their artifact records. */
  artifacts: { attemptId: number; sha256: string; size: number }[];
}

export interface ExpiredArtifact {
  id: number;
  attemptId: number;
  sha256: string;
  size: number;
}

/** A blob of the artifact store as its row has it. */
export interface BlobRow {
  sha256: string;
  size: number;
}

/** Who still names a blob: artifact records (by attempt) and caches. */
export interface BlobReferences {
  attemptIds: number[];
  cached: boolean;
}

/** How many of each kind one collection deleted (or, dry, would delete), and the bytes its blobs held. */
export interface GcCounts {
  /** Pipelines deleted, with their jobs, attempts, logs, artifact records and approvals. */
  pipelines: number;
  /** Attempt logs deleted from pipelines that stay (log retention). */
  logs: number;
  /** Artifact records expired (their downloads answer 410 from then on). */
  artifacts: number;
  /** Finished webhook deliveries. */
  deliveries: number;
  /** Commit statuses sent or given up (the forge outbox). */
  outbox: number;
  /** Audit log entries. */
  audit: number;
  /** Artifact and cache archives, and the bytes they held. */
  blobs: number;
  blobBytes: number;
  /** Compacted logs, and the bytes they held. */
  logObjects: number;
  logObjectBytes: number;
}

export const NO_COUNTS: GcCounts = { pipelines: 0, logs: 0, artifacts: 0, deliveries: 0, outbox: 0, audit: 0, blobs: 0, blobBytes: 0, logObjects: 0, logObjectBytes: 0 };

export interface GcSummary extends GcCounts {
  dryRun: boolean;
  startedAt: EpochMs;
  finishedAt: EpochMs;
  durationMs: number;
}

/** `backup`: not a collection but `gantry backup` holding collections off while it copies blobs. */
export type GcStartedBy = 'schedule' | 'api' | 'backup';

export interface GcRun {
  id: number;
  startedBy: GcStartedBy;
  /** The instance running it (host, pid). */
  holder: string;
  startedAt: EpochMs;
  leaseUntil: EpochMs;
  finishedAt: EpochMs | null;
  summary: GcSummary | null;
  error: string | null;
}

export type GcClaim =
  | { kind: 'started'; run: GcRun }
  /** A run is under way (on this instance or another): it is the one. */
  | { kind: 'running'; run: GcRun }
  /** A scheduled claim found a run that started less than the interval ago. */
  | { kind: 'recent'; run: GcRun };

export interface RetentionStore {
  // ---- pipelines (fleet pipelines only: `gantry run`'s history in a shared home is its own)

  /** A project's fleet pipelines created before `before`, oldest first, after `after`, with what the policy needs. */
  oldPipelines(projectId: ProjectId, before: EpochMs, after: PipelineCursor | null, limit: number): Promise<(PipelineFacts & PipelineCursor)[]>;
  /** The newest `keepPerRef` pipelines of a ref, and its latest successful one. */
  refFacts(projectId: ProjectId, ref: string, keepPerRef: number): Promise<RefFacts>;
  /**
   * Deletes the pipelines with everything that is theirs, PIPELINES_PER_TRANSACTION per
   * transaction; each DELETE re-checks that the pipeline has ended, every attempt of it too, and,
   * with `keepLatestArtifacts`, that a later pipeline of its ref succeeded if it did. The compute
   * ledger's entries stay (their attempt becomes NULL). Returns how many went.
   */
  deletePipelines(ids: readonly PipelineId[], keepLatestArtifacts: boolean): Promise<number>;
  /** What the pipelines hold that deleting them (or their logs) would let go. */
  pipelineContents(ids: readonly PipelineId[]): Promise<PipelineContents>;

  // ---- logs

  /** A project's ended fleet pipelines created before `before` whose logs are still there, oldest first. */
  pipelinesWithLogs(projectId: ProjectId, before: EpochMs, after: PipelineCursor | null, limit: number): Promise<(PipelineCursor & { unfinishedAttempts: boolean })[]>;
  /** Deletes the logs of the pipelines' ended attempts (rows and the name of their object), one transaction; how many attempts. */
  expireLogs(ids: readonly PipelineId[], at: EpochMs): Promise<number>;

  // ---- artifacts

  /**
   * Artifact records past their expiry that are not kept as the latest of their ref
   * (`keepLatestArtifacts` per project, `keepLatestDefault` where the project has no setting),
   * after id `afterId`, by id.
   */
  expiredArtifacts(at: EpochMs, keepLatestDefault: boolean, afterId: number, limit: number): Promise<ExpiredArtifact[]>;
  /** Expires those records (re-checked): each leaves its tombstone, so its download keeps answering 410. How many. */
  expireArtifacts(ids: readonly number[], at: EpochMs, keepLatestDefault: boolean): Promise<number>;

  // ---- rows of the past: dry (count) or not (delete), in batches

  pruneDeliveries(before: EpochMs, dryRun: boolean): Promise<number>;
  pruneOutbox(before: EpochMs, at: EpochMs, dryRun: boolean): Promise<number>;
  pruneAudit(before: EpochMs, dryRun: boolean): Promise<number>;

  // ---- blobs: mark and sweep

  /** The mark's complement: rows of blobs nothing references, untouched since `before`, after `afterSha`, by name. */
  unreferencedBlobs(before: EpochMs, afterSha: string, limit: number): Promise<BlobRow[]>;
  /**
   * The sweep of one blob: in one transaction, deletes its row if it is still unreferenced and
   * untouched since `before`, then `removeFile`, then commits; false (nothing done) otherwise.
   */
  removeBlob(sha256: string, before: EpochMs, removeFile: (sha256: string) => Promise<void>): Promise<boolean>;
  /** Which of `shas` have a row (a dry run's view of strays). */
  blobRows(shas: readonly string[]): Promise<Set<string>>;
  /** Who references each of `shas` (a dry run's view). */
  blobReferences(shas: readonly string[]): Promise<Map<string, BlobReferences>>;
  /** The attempts that name each of `shas` as their log object (the mark of the log object store). */
  logObjectNames(shas: readonly string[]): Promise<Map<string, number[]>>;
  /**
   * The sweep of one log object: under its lock (which compaction takes too), if no attempt
   * names it, `removeFile`, in one transaction; false otherwise.
   */
  removeLogObject(sha256: string, removeFile: (sha256: string) => Promise<void>): Promise<boolean>;

  // ---- runs

  /**
   * Starts a run unless one is under way (its lease in the future), or, for a scheduled one
   * (`minIntervalMs`), unless one started less than that ago. Runs whose lease ran out are closed
   * as abandoned. Under the `gc` lock: instances start one at a time.
   */
  claimRun(
    startedBy: GcStartedBy,
    holder: string,
    at: EpochMs,
    leaseMs: number,
    minIntervalMs: number | null,
    audit?: AuditFor<GcClaim>,
  ): Promise<GcClaim>;
  /** Extends the run's lease; false when it is no longer open (another instance closed it as abandoned). */
  renewRun(id: number, leaseUntil: EpochMs): Promise<boolean>;
  finishRun(id: number, at: EpochMs, summary: GcSummary | null, error: string | null): Promise<void>;
  /** The open run (lease in the future), and the last finished one. */
  runs(at: EpochMs): Promise<{ running: GcRun | null; last: GcRun | null }>;
  /** Deletes finished runs older than `before`. */
  pruneRuns(before: EpochMs): Promise<number>;
}
