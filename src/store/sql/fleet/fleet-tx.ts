// What a fleet transaction carries besides its executor: the dialect's lock clauses, the cache of
// job definitions, and the wake-ups its commit must announce.

import type { FailureReason, FinishedAttemptStatus } from '../../../domain/status.js';
import type { AgentId, Fence, StoredLogPiece } from '../../fleet.js';
import type { CompiledJob } from '../../../pipeline/types.js';
import type { SqlDialect, SqlExecutor } from '../dialect.js';
import type { LedgerCache } from './ledger.js';

export interface Effects {
  /** Tag keys that got pending attempts. */
  ready: Set<string>;
  /** Agents with newly requested cancels. */
  cancel: Set<AgentId>;
  /** Pipelines whose jobs moved. */
  pipelines: Set<number>;
  /** Attempts whose logs grew, to how many bytes. */
  logs: Map<number, number>;
  /** The pieces they grew by, in order (handed to this instance's live viewers: no read back). */
  logPieces: Map<number, StoredLogPiece[]>;
  /** Pipelines whose own status moved: the forge status outbox gets their new status in the same transaction. */
  statuses: Set<number>;
  /** Attempts that ended here, how (told to this instance's metrics only: each end happens on one instance). */
  finished: { status: FinishedAttemptStatus; failureReason: FailureReason | null }[];
}

export function noEffects(): Effects {
  return { ready: new Set(), cancel: new Set(), pipelines: new Set(), logs: new Map(), logPieces: new Map(), statuses: new Set(), finished: [] };
}

/**
 * Compiled job definitions by job id. A job's definition never changes after its pipeline is
 * created, so every instance may cache it without invalidation; the scheduler reads it on every
 * completion and parsing the stored JSON each time would dominate.
 */
export class SpecCache {
  private readonly specs = new Map<number, CompiledJob>();
  constructor(private readonly max = 20_000) {}

  get(id: number): CompiledJob | undefined {
    return this.specs.get(id);
  }

  set(id: number, spec: CompiledJob): void {
    if (this.specs.size >= this.max) {
      // Oldest first: Map iterates in insertion order.
      const drop = Math.ceil(this.max / 4);
      let n = 0;
      for (const k of this.specs.keys()) {
        this.specs.delete(k);
        if (++n >= drop) break;
      }
    }
    this.specs.set(id, spec);
  }

  /** The definitions of `ids`, reading the missing ones in one statement. */
  async load(tx: SqlExecutor, ids: readonly number[]): Promise<Map<number, CompiledJob>> {
    const out = new Map<number, CompiledJob>();
    const missing: number[] = [];
    for (const id of ids) {
      const s = this.specs.get(id);
      if (s) out.set(id, s);
      else missing.push(id);
    }
    for (let i = 0; i < missing.length; i += 500) {
      const batch = missing.slice(i, i + 500);
      const rows = await tx.all<{ id: number | string; spec: string }>(
        `SELECT id, spec FROM jobs WHERE id IN (${batch.map(() => '?').join(', ')})`,
        batch,
      );
      for (const r of rows) {
        const spec = JSON.parse(r.spec) as CompiledJob;
        this.set(Number(r.id), spec);
        out.set(Number(r.id), spec);
      }
    }
    return out;
  }
}

/**
 * Each pipeline's job ids by name. A pipeline's jobs are all created with it and never renamed or
 * removed, so this never goes stale either; an offer needs the ids of the jobs whose artifacts it
 * gets, and the progression, which reads every job of the pipeline anyway, fills it for free.
 */
export class JobIdCache {
  private readonly byPipeline = new Map<number, Map<string, number>>();
  constructor(private readonly max = 2_000) {}

  remember(pipelineId: number, jobs: readonly { id: number; name: string }[]): void {
    if (this.byPipeline.has(pipelineId)) return;
    if (this.byPipeline.size >= this.max) {
      // Oldest first, as in SpecCache.
      const oldest = this.byPipeline.keys().next();
      if (!oldest.done) this.byPipeline.delete(oldest.value);
    }
    this.byPipeline.set(pipelineId, new Map(jobs.map((j) => [j.name, j.id])));
  }

  async load(tx: SqlExecutor, pipelineId: number): Promise<ReadonlyMap<string, number>> {
    const known = this.byPipeline.get(pipelineId);
    if (known) return known;
    const rows = await tx.all<{ id: number | string; name: string }>('SELECT id, name FROM jobs WHERE pipeline_id = ?', [pipelineId]);
    const jobs = rows.map((r) => ({ id: Number(r.id), name: r.name }));
    this.remember(pipelineId, jobs);
    return new Map(jobs.map((j) => [j.name, j.id]));
  }
}

/** Notes that a pipeline's status moved (its jobs' moves are noted in `pipelines` alone). */
export function pipelineMoved(f: FleetTx, pipelineId: number): void {
  f.effects.pipelines.add(pipelineId);
  f.effects.statuses.add(pipelineId);
}

export interface FleetTx {
  tx: SqlExecutor;
  db: SqlDialect;
  specs: SpecCache;
  jobIds: JobIdCache;
  effects: Effects;
  /** The compute ledger's closed months, per project (ledger.ts). */
  ledger: LedgerCache;
}

/** `tag_key` of a job: its tags sorted, one per line; '' for an untagged job (any agent takes it). */
export function tagKeyOf(tags: readonly string[]): string {
  return [...new Set(tags)].sort().join('\n');
}

/** Whether an agent with `agentTags` may run a job of `tagKey`. */
export function tagKeyMatches(tagKey: string, agentTags: ReadonlySet<string>): boolean {
  if (tagKey === '') return true;
  for (const t of tagKey.split('\n')) if (!agentTags.has(t)) return false;
  return true;
}

/** An agent is online while its session is open and it was seen within a lease. */
export function agentOnline(sessionId: string | null, lastSeenAt: number | null, at: number, leaseMs: number): boolean {
  return sessionId !== null && lastSeenAt !== null && lastSeenAt >= at - leaseMs;
}

/** The columns of an attempt that decide whether an agent's write for it may happen. */
export interface AttemptGuard {
  status: string;
  token_hash: string | null;
  failure_reason: string | null;
}

/**
 * Why an agent's write for an attempt may not happen (PROTOCOL.md §8), or null when the attempt
 * is running under `tokenHash`: no such attempt, another token (re-offered, forged), not started
 * yet, or ended (the row says how).
 */
export function fenceOf(row: AttemptGuard | undefined, tokenHash: string): Fence | null {
  if (!row) return { kind: 'not-found' };
  if (row.token_hash !== tokenHash) return { kind: 'fenced' };
  if (row.status === 'pending') return { kind: 'not-started' };
  if (row.status !== 'running') return { kind: 'fenced', attempt: { status: row.status, failureReason: row.failure_reason as FailureReason | null } };
  return null;
}
