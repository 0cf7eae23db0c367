// The garbage collector (docs/RUNNING.md, "Retention and garbage collection"): retention's rows
// first, project by project (old pipelines, old logs), then expired artifact records and the
// past's rows (deliveries, sent commit statuses, audit entries), then the blobs by mark and sweep.
//
// Everything goes in bounded batches, each its own transaction, so a collection never holds the
// database for long, and every delete re-checks in SQL what the decision was made on. A run holds
// a lease in `gc_runs` (renewed between batches), so instances of a fleet collect one at a time;
// the safety of blobs does not rest on that lease but on the per-blob transaction that re-checks
// the references before the file goes (RetentionStore.removeBlob, removeLogObject).
//
// A dry run walks the same selections and deletes nothing: the blobs it counts are those nothing
// names now, and those only the rows it would delete name.

import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { BlobStore } from '../../blobstore/blob-store.js';
import { asPipelineId, type PipelineId } from '../../domain/ids.js';
import { effectiveRule, logsExpired, pipelinesToDelete, type RefFacts, type RetentionDefaults, type RetentionRule } from '../../domain/retention.js';
import type { AuditFor } from '../../store/audit.js';
import type { Project, Store } from '../../store/store.js';
import { NO_COUNTS, type GcClaim, type GcCounts, type GcStartedBy, type GcSummary, type PipelineContents, type PipelineCursor } from '../../store/retention.js';
import { strayBlobSweep } from '../fleet/blob-routes.js';

export const DAY_MS = 86_400_000;
/** A run's lease: renewed as it goes; a run whose instance died is given up this long after. */
export const GC_LEASE_MS = 5 * 60_000;
/** Finished runs are remembered this long (GET /gc shows the last one). */
const RUNS_KEPT_MS = 30 * DAY_MS;
const PAGE = 500;

export interface CollectorLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface CollectorDeps {
  store: Store;
  /** Artifact and cache archives. */
  blobs: BlobStore;
  /** Compacted logs. */
  logObjects: BlobStore;
  defaults: RetentionDefaults;
  /** Audit entries are kept this long (GANTRY_AUDIT_RETENTION_DAYS); null: for ever. */
  auditKeepMs: number | null;
  now: () => number;
  log: CollectorLog;
  /** The length of a retention day (tests shorten it); DAY_MS by default. */
  dayMs?: number;
  /** How long a blob nothing references survives its last upload or HEAD (an upload may be under way). */
  graceMs: number;
}

class Stopped extends Error {}

interface Failures {
  count: number;
  first: unknown;
}

/** What a dry run would let go besides what nothing names already. */
class Going {
  readonly pipelines = new Set<number>();
  /** Attempts whose artifact record goes, and the blobs those records name (with their sizes). */
  readonly artifactAttempts = new Set<number>();
  readonly artifactBlobs = new Map<string, number>();
  /** Attempts whose log goes. */
  readonly logAttempts = new Set<number>();

  add(c: PipelineContents, logsOnly = false): void {
    for (const o of c.logObjects) this.logAttempts.add(o.attemptId);
    if (logsOnly) return;
    for (const a of c.artifacts) this.addArtifact(a.attemptId, a.sha256, a.size);
  }

  addArtifact(attemptId: number, sha256: string, size: number): void {
    this.artifactAttempts.add(attemptId);
    this.artifactBlobs.set(sha256, size);
  }
}

export class GarbageCollector {
  private readonly holder = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly dayMs: number;
  private current: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly deps: CollectorDeps) {
    this.dayMs = deps.dayMs ?? DAY_MS;
  }

  /**
   * Starts a collection in the background unless one is under way on any instance (then that one
   * is the answer), or, with `minIntervalMs` (the schedule), unless one started less than that ago.
   */
  async start(startedBy: GcStartedBy, opts: { minIntervalMs?: number; audit?: AuditFor<GcClaim> } = {}): Promise<GcClaim> {
    const { store, now } = this.deps;
    if (this.stopping) throw new Error('the server is stopping');
    const claim = await store.retention.claimRun(startedBy, this.holder, now(), GC_LEASE_MS, opts.minIntervalMs ?? null, opts.audit);
    if (claim.kind !== 'started') return claim;
    const run = claim.run;
    this.current = this.runToEnd(run.id, run.startedAt).finally(() => (this.current = null));
    return claim;
  }

  /** What a collection now would delete, deleting nothing. */
  async dryRun(): Promise<GcSummary> {
    const startedAt = this.deps.now();
    const counts = await this.collect(true, async () => this.checkStopping());
    return this.summary(counts, true, startedAt);
  }

  /** Waits for this instance's run, which stops at its next batch (closing the server). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.current;
  }

  /** This instance's run, if any (tests wait for it). */
  running(): Promise<void> | null {
    return this.current;
  }

  private async runToEnd(runId: number, startedAt: number): Promise<void> {
    const { store, now, log } = this.deps;
    let renewed = now();
    const keepAlive = async () => {
      this.checkStopping();
      if (now() - renewed < GC_LEASE_MS / 5) return;
      renewed = now();
      if (!(await store.retention.renewRun(runId, renewed + GC_LEASE_MS))) throw new Error('its lease was lost: another instance closed it');
    };
    try {
      const summary = this.summary(await this.collect(false, keepAlive), false, startedAt);
      await store.retention.finishRun(runId, summary.finishedAt, summary, null);
      log.info({ gc: summary }, `garbage collection: ${describeSummary(summary)}`);
    } catch (err) {
      const stopped = err instanceof Stopped;
      const error = stopped ? 'interrupted: the server stopped' : err instanceof Error ? err.message : String(err);
      await store.retention.finishRun(runId, now(), null, error).catch(() => undefined);
      if (!stopped) log.error({ err }, 'garbage collection failed; the next one starts over');
    }
  }

  private checkStopping(): void {
    if (this.stopping) throw new Stopped();
  }

  private summary(counts: GcCounts, dryRun: boolean, startedAt: number): GcSummary {
    const finishedAt = this.deps.now();
    return { ...counts, dryRun, startedAt, finishedAt, durationMs: finishedAt - startedAt };
  }

  private async collect(dry: boolean, keepAlive: () => Promise<void>): Promise<GcCounts> {
    const { store, defaults } = this.deps;
    const at = this.deps.now();
    const counts: GcCounts = { ...NO_COUNTS };
    const going = dry ? new Going() : null;
    // Files whose delete failed (a bucket refusing DeleteObject, a disk error).
    const failures: Failures = { count: 0, first: null };
    for (const project of await store.listProjects()) {
      const rule = effectiveRule(project.retention, defaults);
      if (rule.pipelineDays > 0) counts.pipelines += await this.pipelines(project, rule, at, going, keepAlive);
      if (rule.logDays > 0) counts.logs += await this.logs(project, rule, at, going, keepAlive);
    }
    counts.artifacts = await this.artifacts(at, going, keepAlive);
    const days = (n: number) => at - n * this.dayMs;
    if (defaults.deliveryDays > 0) counts.deliveries = await store.retention.pruneDeliveries(days(defaults.deliveryDays), dry);
    if (defaults.outboxDays > 0) counts.outbox = await store.retention.pruneOutbox(days(defaults.outboxDays), at, dry);
    if (this.deps.auditKeepMs !== null) counts.audit = await store.retention.pruneAudit(at - this.deps.auditKeepMs, dry);
    if (!dry) await store.retention.pruneRuns(at - RUNS_KEPT_MS);
    await keepAlive();
    await this.sweepBlobs(at, going, counts, failures, keepAlive);
    await this.sweepLogObjects(at, going, counts, failures, keepAlive);
    if (failures.count > 0) {
      // The row stays with its file (the transaction rolled back): the next collection tries again.
      this.deps.log.error({ err: failures.first, count: failures.count }, `garbage collection: ${failures.count} files could not be deleted; they stay for the next one`);
    }
    return counts;
  }

  /** Deletes a file inside its sweep's transaction, noting a failure before the transaction rolls back. */
  private deleting(store: BlobStore, failures: Failures): (sha256: string) => Promise<void> {
    return async (sha256) => {
      try {
        await store.delete(sha256);
      } catch (err) {
        failures.count++;
        failures.first ??= err;
        throw err;
      }
    };
  }

  /** A project's old pipelines the rule lets go (src/domain/retention.ts decides). */
  private async pipelines(project: Project, rule: RetentionRule, at: number, going: Going | null, keepAlive: () => Promise<void>): Promise<number> {
    const r = this.deps.store.retention;
    const refs = new Map<string, RefFacts>();
    let after: PipelineCursor | null = null;
    let n = 0;
    for (;;) {
      const page = await r.oldPipelines(project.id, at - rule.pipelineDays * this.dayMs, after, PAGE);
      if (page.length === 0) return n;
      after = page[page.length - 1]!;
      for (const ref of new Set(page.map((p) => p.ref))) if (!refs.has(ref)) refs.set(ref, await r.refFacts(project.id, ref, rule.keepPerRef));
      const ids: PipelineId[] = pipelinesToDelete(page, refs, rule, at, this.dayMs).map(asPipelineId);
      if (going) {
        for (const id of ids) going.pipelines.add(id);
        going.add(await r.pipelineContents(ids));
        n += ids.length;
      } else {
        n += await r.deletePipelines(ids, rule.keepLatestArtifacts);
      }
      await keepAlive();
    }
  }

  /** The logs of a project's pipelines older than its log days; the pipelines stay. */
  private async logs(project: Project, rule: RetentionRule, at: number, going: Going | null, keepAlive: () => Promise<void>): Promise<number> {
    const r = this.deps.store.retention;
    let after: PipelineCursor | null = null;
    let n = 0;
    for (;;) {
      const page = await r.pipelinesWithLogs(project.id, at - rule.logDays * this.dayMs, after, 100);
      if (page.length === 0) return n;
      after = page[page.length - 1]!;
      const ids = page.filter((p) => !p.unfinishedAttempts && logsExpired(p.createdAt, rule, at, this.dayMs)).map((p) => asPipelineId(p.id));
      if (going) {
        const contents = await r.pipelineContents(ids.filter((id) => !going.pipelines.has(id)));
        going.add(contents, true);
        n += contents.logs;
      } else {
        n += await r.expireLogs(ids, at);
      }
      await keepAlive();
    }
  }

  private async artifacts(at: number, going: Going | null, keepAlive: () => Promise<void>): Promise<number> {
    const r = this.deps.store.retention;
    const keepLatest = this.deps.defaults.keepLatestArtifacts;
    let afterId = 0;
    let n = 0;
    for (;;) {
      const page = await r.expiredArtifacts(at, keepLatest, afterId, 100);
      if (page.length === 0) return n;
      afterId = page[page.length - 1]!.id;
      if (going) {
        for (const a of page) {
          if (going.artifactAttempts.has(a.attemptId)) continue;
          going.addArtifact(a.attemptId, a.sha256, a.size);
          n++;
        }
      } else {
        n += await r.expireArtifacts(
          page.map((a) => a.id),
          at,
          keepLatest,
        );
      }
      await keepAlive();
    }
  }

  /**
   * The artifact store's mark and sweep. Files a crash left without a row get one dated by their
   * file (strays), so every candidate is a row; a candidate is a row nothing names that nobody
   * uploaded or asked about within the grace; each goes in a transaction that checks that again.
   */
  private async sweepBlobs(at: number, going: Going | null, counts: GcCounts, failures: Failures, keepAlive: () => Promise<void>): Promise<void> {
    const { store, blobs, logObjects, graceMs } = this.deps;
    const r = store.retention;
    const before = at - graceMs;
    if (going) {
      // Strays: old files without a row.
      let batch: { sha256: string; size: number }[] = [];
      const strays = async () => {
        const rows = await r.blobRows(batch.map((b) => b.sha256));
        for (const b of batch) if (!rows.has(b.sha256)) this.count(counts, 'blobs', b.size);
        batch = [];
      };
      for await (const f of blobs.listOlderThan(before)) {
        batch.push(f);
        if (batch.length >= PAGE) await strays();
      }
      await strays();
    } else {
      await strayBlobSweep(store, blobs, [logObjects], graceMs)(at);
    }
    let afterSha = '';
    for (;;) {
      const page = await r.unreferencedBlobs(before, afterSha, PAGE);
      if (page.length === 0) break;
      afterSha = page[page.length - 1]!.sha256;
      for (const b of page) {
        if (going || (await r.removeBlob(b.sha256, before, this.deleting(blobs, failures)))) this.count(counts, 'blobs', b.size);
      }
      await keepAlive();
    }
    if (!going) return;
    // Blobs only the records a dry run would delete name.
    const shas = [...going.artifactBlobs.keys()];
    for (let i = 0; i < shas.length; i += PAGE) {
      const refs = await r.blobReferences(shas.slice(i, i + PAGE));
      for (const [sha, ref] of refs) {
        if (!ref.cached && ref.attemptIds.length > 0 && ref.attemptIds.every((a) => going.artifactAttempts.has(a))) this.count(counts, 'blobs', going.artifactBlobs.get(sha)!);
      }
    }
  }

  /** The log object store's mark (the attempts that name each object) and sweep. */
  private async sweepLogObjects(at: number, going: Going | null, counts: GcCounts, failures: Failures, keepAlive: () => Promise<void>): Promise<void> {
    const { store, logObjects, graceMs } = this.deps;
    const r = store.retention;
    let batch: { sha256: string; size: number }[] = [];
    const sweep = async () => {
      const names = await r.logObjectNames(batch.map((b) => b.sha256));
      for (const b of batch) {
        const by = names.get(b.sha256) ?? [];
        if (going) {
          if (by.every((a) => going.logAttempts.has(a))) this.count(counts, 'logObjects', b.size);
        } else if (by.length === 0 && (await r.removeLogObject(b.sha256, this.deleting(logObjects, failures)))) {
          this.count(counts, 'logObjects', b.size);
        }
      }
      batch = [];
      await keepAlive();
    };
    for await (const f of logObjects.listOlderThan(at - graceMs)) {
      batch.push(f);
      if (batch.length >= PAGE) await sweep();
    }
    await sweep();
  }

  private count(counts: GcCounts, kind: 'blobs' | 'logObjects', bytes: number): void {
    counts[kind]++;
    if (kind === 'blobs') counts.blobBytes += bytes;
    else counts.logObjectBytes += bytes;
  }
}

/** A summary in words, for the server log. */
export function describeSummary(s: GcSummary): string {
  const parts = (
    [
      ['pipelines', s.pipelines],
      ['logs', s.logs],
      ['artifact records', s.artifacts],
      ['deliveries', s.deliveries],
      ['commit statuses', s.outbox],
      ['audit entries', s.audit],
      ['blobs', s.blobs],
      ['log objects', s.logObjects],
    ] as const
  )
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${n} ${what}`);
  const bytes = s.blobBytes + s.logObjectBytes;
  return `${s.dryRun ? 'would delete' : 'deleted'} ${parts.length ? parts.join(', ') : 'nothing'}; ${bytes} bytes ${s.dryRun ? 'to free' : 'freed'} in ${s.durationMs} ms`;
}
