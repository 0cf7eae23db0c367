// Retention (docs/RUNNING.md, "Retention and garbage collection"): what a project keeps of its
// pipelines, logs and artifacts, its own settings over the instance's, and the one decision of
// which old pipelines go. Pure: the store selects the candidates and deletes, this decides.

import { parseDuration } from '../pipeline/duration.js';
import { isFinishedPipeline, type PipelineStatus } from './status.js';

/** A project's own settings (PATCH /projects/:project {retention}); null in a field: the instance's. */
export interface ProjectRetention {
  /** Pipelines older than this many days go, but for the newest `keepPerRef` of each ref; 0: kept for ever. */
  pipelineDays: number | null;
  keepPerRef: number | null;
  /** The logs of pipelines older than this many days go, the pipelines stay; 0: kept for ever. */
  logDays: number | null;
  /** The `expire_in` of jobs that give none (GitLab's syntax, or `never`). */
  artifactsExpireIn: string | null;
  /** The artifacts of each ref's latest successful pipeline are kept past their expiry (GitLab's default). */
  keepLatestArtifacts: boolean | null;
}

export const NO_PROJECT_RETENTION: ProjectRetention = { pipelineDays: null, keepPerRef: null, logDays: null, artifactsExpireIn: null, keepLatestArtifacts: null };

/**
 * The instance's defaults (GANTRY_RETENTION_*, GANTRY_ARTIFACTS_EXPIRE_IN, GANTRY_KEEP_LATEST_ARTIFACTS); 0 days: for ever.
 * Audit entries have their own (GANTRY_AUDIT_RETENTION_DAYS), older than this.
 */
export interface RetentionDefaults {
  pipelineDays: number;
  keepPerRef: number;
  logDays: number;
  /** Null: jobs without their own expire_in keep their artifacts for ever. */
  artifactsExpireInSeconds: number | null;
  keepLatestArtifacts: boolean;
  deliveryDays: number;
  outboxDays: number;
}

/** Everything unchanged for an instance that sets nothing: pipelines and logs for ever, GitLab's artifact defaults. */
export const DEFAULT_RETENTION: RetentionDefaults = {
  pipelineDays: 0,
  keepPerRef: 10,
  logDays: 0,
  artifactsExpireInSeconds: 30 * 86_400,
  keepLatestArtifacts: true,
  deliveryDays: 30,
  outboxDays: 7,
};

/** What one project keeps, all settings resolved. */
export interface RetentionRule {
  pipelineDays: number;
  keepPerRef: number;
  logDays: number;
  artifactsExpireInSeconds: number | null;
  keepLatestArtifacts: boolean;
}

/**
 * An `expire_in` as GitLab writes it (`30 days`, `1h 30m`, a number of seconds) in seconds, null for
 * `never` (and `0`: an artifact that expires at once is no artifact), undefined when it is neither.
 */
export function parseExpireIn(text: string): number | null | undefined {
  if (text.trim().toLowerCase() === 'never') return null;
  const seconds = parseDuration(text);
  if (seconds === null) return undefined;
  return seconds === 0 ? null : seconds;
}

/** The project's rule: each of its settings, or the instance's where it has none. */
export function effectiveRule(own: ProjectRetention, d: RetentionDefaults): RetentionRule {
  // A stored setting was checked when it was written; one that no longer parses falls back.
  const ownExpireIn = own.artifactsExpireIn === null ? undefined : parseExpireIn(own.artifactsExpireIn);
  return {
    pipelineDays: own.pipelineDays ?? d.pipelineDays,
    keepPerRef: own.keepPerRef ?? d.keepPerRef,
    logDays: own.logDays ?? d.logDays,
    artifactsExpireInSeconds: ownExpireIn === undefined ? d.artifactsExpireInSeconds : ownExpireIn,
    keepLatestArtifacts: own.keepLatestArtifacts ?? d.keepLatestArtifacts,
  };
}

/** An old pipeline as the store found it. */
export interface PipelineFacts {
  id: number;
  ref: string;
  status: PipelineStatus;
  createdAt: number;
  /** An attempt of it has not ended (a canceled pipeline whose job is still being stopped). */
  unfinishedAttempts: boolean;
}

/** What the store knows of a ref: the ids of its newest `keepPerRef` pipelines (any status), and of its latest successful one. */
export interface RefFacts {
  newest: readonly number[];
  latestSuccess: number | null;
}

export type KeptBecause = 'recent' | 'unfinished' | 'newest-of-ref' | 'latest-artifacts' | 'retention-off';

/**
 * Why `p` stays, or null when it goes. A pipeline goes only when retention is on for its project,
 * it is older than `pipelineDays`, it has ended (and every attempt of it), it is not one of the
 * newest `keepPerRef` of its ref, and it is not the ref's latest successful pipeline while that
 * one's artifacts are kept (`keepLatestArtifacts`): a later pipeline of the ref that failed still
 * relies on it for the ref's latest artifacts.
 */
export function keptBecause(p: PipelineFacts, ref: RefFacts, rule: RetentionRule, now: number, dayMs: number): KeptBecause | null {
  if (rule.pipelineDays <= 0) return 'retention-off';
  if (p.createdAt >= now - rule.pipelineDays * dayMs) return 'recent';
  if (!isFinishedPipeline(p.status) || p.unfinishedAttempts) return 'unfinished';
  if (ref.newest.slice(0, rule.keepPerRef).includes(p.id)) return 'newest-of-ref';
  if (rule.keepLatestArtifacts && ref.latestSuccess === p.id) return 'latest-artifacts';
  return null;
}

/** The pipelines of `candidates` that go. */
export function pipelinesToDelete(candidates: readonly PipelineFacts[], refs: ReadonlyMap<string, RefFacts>, rule: RetentionRule, now: number, dayMs: number): number[] {
  const none: RefFacts = { newest: [], latestSuccess: null };
  return candidates.filter((p) => keptBecause(p, refs.get(p.ref) ?? none, rule, now, dayMs) === null).map((p) => p.id);
}

/** Whether the logs of a pipeline created at `createdAt` have outlived `logDays` (0: never). */
export function logsExpired(createdAt: number, rule: RetentionRule, now: number, dayMs: number): boolean {
  return rule.logDays > 0 && createdAt < now - rule.logDays * dayMs;
}
