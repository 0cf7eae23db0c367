// The server's side of trigger jobs (docs/PIPELINE.md, "Parent-child pipelines"): on every
// instance, a worker that makes the child pipeline of each trigger job that became ready, as
// GitLab creates a child when its bridge becomes pending, and ends each `strategy: depend`
// trigger job whose child ended. It reads the child's files from the project's mirror at the
// parent's commit and compiles them (src/pipeline/child.ts) with no lock held; the store then
// decides under the parent's lock (src/store/sql/fleet/downstream.ts), so two instances that
// compile the same child make one. Woken by any pipeline's move (here, or another instance's
// through NOTIFY) and every second, so a crash between two steps is picked up by the next pass.

import { childFailureMessage, childPredefined, compileChildPipeline, downstreamVariables } from '../../pipeline/child.js';
import type { JobId, PipelineId } from '../../domain/ids.js';
import type { ChildOutcome } from '../../store/sql/fleet/downstream.js';
import type { Store } from '../../store/store.js';
import type { GitMirrors } from '../git-mirror.js';
import { PipelineWokenPass } from '../pipeline-woken-pass.js';

export interface DownstreamLog {
  warn(obj: object, msg: string): void;
}

export interface DownstreamDeps {
  store: Store;
  mirrors: GitMirrors;
  now: () => number;
  log: DownstreamLog;
  onCreated?: () => void;
}

const BATCH = 20;
/**
 * A child that cannot be read (the repository unreachable, the git runner failing) is tried again
 * 2, 4 .. 60 s apart, each trigger job on its own clock, and after this many tries (about six
 * minutes) its trigger job fails with the reason, instead of waiting for ever.
 */
export const MAX_READ_TRIES = 10;
const backoffMs = (tries: number) => Math.min(60_000, 1_000 * 2 ** tries);

export class DownstreamRunner {
  private readonly worker: PipelineWokenPass;
  /** Trigger jobs whose child could not be read: tries so far and when to try next. */
  private readonly failing = new Map<JobId, { tries: number; nextAt: number }>();

  constructor(
    private readonly deps: DownstreamDeps,
    everyMs = 1_000,
  ) {
    this.worker = new PipelineWokenPass(deps.store, () => this.pass(), deps.log, 'downstream pass', everyMs);
  }

  start(): void {
    this.worker.start();
  }

  stop(): Promise<void> {
    return this.worker.stop();
  }

  /** One pass over the trigger jobs waiting for a child and the depend ones whose child ended; one at a time. */
  drain(): Promise<void> {
    return this.worker.drain();
  }

  private async pass(): Promise<boolean> {
    const pending = await this.deps.store.fleet.pendingBridges(BATCH);
    // One trigger job's failure is its own: the others and the settling below go on.
    for (const b of pending) await this.makeOrBackOff(b.jobId, b.pipelineId);
    const settle = await this.deps.store.fleet.bridgesToSettle(BATCH);
    for (const jobId of settle) await this.deps.store.fleet.settleBridge(jobId, this.deps.now());
    return pending.length === BATCH || settle.length === BATCH;
  }

  private async makeOrBackOff(jobId: JobId, pipelineId: PipelineId): Promise<void> {
    const f = this.failing.get(jobId);
    if (f && f.nextAt > this.deps.now()) return;
    try {
      await this.make(jobId, pipelineId);
      this.failing.delete(jobId);
    } catch (err) {
      const tries = (f?.tries ?? 0) + 1;
      if (tries < MAX_READ_TRIES) {
        this.failing.set(jobId, { tries, nextAt: this.deps.now() + backoffMs(tries) });
        this.deps.log.warn({ err, jobId, tries }, 'a child pipeline could not be read; trying again later');
        return;
      }
      this.failing.delete(jobId);
      const why = err instanceof Error ? err.message : String(err);
      const outcome: ChildOutcome = { kind: 'failed', reason: 'downstream_pipeline_creation_failed', message: `the child pipeline's files could not be read after ${tries} tries: ${why}` };
      await this.deps.store.fleet.createChildPipeline(jobId, outcome, this.deps.now()).catch((e: unknown) => this.deps.log.warn({ err: e, jobId }, 'a trigger job could not be failed; the next pass tries again'));
    }
  }

  /** Compiles the child of one trigger job and hands the outcome to the store. */
  private async make(jobId: JobId, pipelineId: PipelineId): Promise<void> {
    const { store } = this.deps;
    const parent = await store.getPipeline(pipelineId);
    const job = parent?.jobs.find((j) => j.id === jobId);
    const project = parent ? await store.getProject(parent.pipeline.projectId) : null;
    if (!parent || !job?.spec.trigger || !project) return;
    const p = parent.pipeline;
    // A git failure may pass (a fetch, the git runner): makeOrBackOff tries again, then gives up.
    const files = await this.deps.mirrors.files(project, p.sha);
    const predefined = childPredefined(p.predefinedVariables);
    const variables = downstreamVariables(job.spec, { predefined: p.predefinedVariables, fileVariables: p.fileVariables, pipelineVariables: p.variables });
    const { file, result } = compileChildPipeline(job.spec.trigger, { variables: predefined, pipelineVariables: variables, changedFiles: null, files });
    const message = childFailureMessage(result);
    const outcome: ChildOutcome =
      message !== null || result.ok !== true
        ? { kind: 'failed', reason: 'downstream_pipeline_creation_failed', message: message ?? 'the child pipeline could not be compiled' }
        : {
            kind: 'child',
            pipeline: {
              projectId: p.projectId,
              ref: p.ref,
              sha: p.sha,
              source: 'parent_pipeline',
              variables,
              fileVariables: result.pipeline.variables,
              pipelineFile: file,
              jobs: result.pipeline.jobs,
              createdAt: this.deps.now(),
              runsOn: 'fleet',
              predefinedVariables: predefined,
              // The child is the parent's: its trust, its ref's protection, who started it. A fork's
              // parent was approved already; its child does not wait again.
              trusted: p.trusted,
              protectedRef: p.protectedRef,
              triggeredBy: p.triggeredBy,
            },
          };
    const made = await store.fleet.createChildPipeline(jobId, outcome, this.deps.now());
    if (made.kind === 'created') this.deps.onCreated?.();
  }
}
