// `gantry run`: one pipeline on this machine, through the same parts the server and remote agents
// use: the compiler makes the DAG, the store records every move, the scheduler core decides what
// is ready and what starts, the agent's job runner executes, the log store keeps every byte.
//
// All state changes happen in one serial loop (`tick`): job completions are queued as events and
// applied in order, so no two moves of the same pipeline race.

import crypto from 'node:crypto';
import path from 'node:path';
import { runJob, type JobOutcome } from '../agent/job-runner.js';
import { agentLine } from '../agent/script.js';
import { ProcessLauncher, type Launcher } from '../agent/launcher/launcher.js';
import type { Isolation, JobIsolation } from '../agent/isolation.js';
import { NO_LIMITS } from '../domain/isolation.js';
import { makeSnapshot, NO_COMMIT_SHA, type SourceSnapshot } from '../agent/workspace.js';
import { GantryError } from '../domain/errors.js';
import type { JobId } from '../domain/ids.js';
import { isFinishedJob, type JobStatus, type PipelineSource, type PipelineStatus } from '../domain/status.js';
import type { LogStore, LogWriter } from '../logstore/log-store.js';
import { compilePipeline, dirProjectFiles, expandVariables, findPipelineFile } from '../pipeline/index.js';
import type { Diagnostic } from '../pipeline/types.js';
import { pickToStart, type Runnable } from '../scheduler/dispatch.js';
import { decide, finalStatus, type JobView } from '../scheduler/readiness.js';
import { shouldRetry } from '../scheduler/retry.js';
import type { Attempt, Job, PipelineWithJobs, Store } from '../store/store.js';
import { jobVariables, pipelineVariables, resolveJobVariables, type PipelineFacts } from '../variables/predefined.js';
import { DirArtifacts, DirCache } from './dir-transports.js';
import { readRepoFacts } from './repo-facts.js';
import { discard } from './trash.js';
import { claimPipeline } from './orphans.js';
import { CoverageScanner } from '../agent/coverage.js';
import { mergeDotenv } from '../domain/dotenv.js';

/** Stops every job of this process's pipelines at once (SIGKILL), for a `gantry run` that must exit now. */
export { killJobsNow } from '../agent/process-group.js';

export interface RunObserver {
  pipelineCreated?(p: PipelineWithJobs): void;
  jobChanged?(job: Job): void;
  output?(job: Job, attempt: number, chunk: Buffer): void;
  /** Something the person running the pipeline should know that no job log can hold. */
  notice?(job: Job, message: string): void;
}

export interface LocalRunOptions {
  cwd: string;
  /** Pipeline file relative to the repository root; default .gantry.yml, then .gitlab-ci.yml. */
  pipelineFile?: string;
  concurrency: number;
  variables: Record<string, string>;
  /** Manual jobs to play when they become playable (full or base names). */
  manual: string[];
  /** Run HEAD as committed instead of the working tree. */
  useCommit: boolean;
  /** The event the run stands for (CI_PIPELINE_SOURCE): `push` unless asked otherwise. */
  source?: PipelineSource;
  /** The account running it, recorded as who triggered the pipeline. */
  user?: string;
  home: string;
  store: Store;
  logs: LogStore;
  observer: RunObserver;
  signal: AbortSignal;
  /** How jobs run: as this user (`none`, the default of `gantry run`) or in the sandbox. */
  isolation: Isolation;
  graceMs: number;
  defaultTimeoutSeconds?: number;
  keepWorkspaces?: boolean;
  now?: () => number;
}

export type LocalRunResult =
  | { kind: 'invalid'; file: string; errors: Diagnostic[]; warnings: Diagnostic[] }
  | { kind: 'filtered'; reason: string; warnings: Diagnostic[] }
  | { kind: 'ran'; pipeline: PipelineWithJobs; warnings: Diagnostic[] };

class QueuedAttempt implements Runnable {
  /** The attempt's log, created ahead of its start (see prepareLogs). */
  log?: Promise<LogWriter>;

  constructor(
    readonly job: Job,
    readonly attempt: Attempt,
  ) {}

  // What the dispatcher ranks by, read from the job itself.
  get key(): number {
    return this.job.id;
  }
  get priority(): number {
    return this.job.spec.priority;
  }
  get resourceGroup(): string | null {
    return this.job.spec.resourceGroup;
  }
}

interface Running {
  slot: number;
  job: Job;
  attempt: Attempt;
  controller: AbortController;
}

type MovePatch = { exitCode?: number | null; failureReason?: Job['failureReason'] };

type Event =
  | { kind: 'finished'; run: Running; outcome: JobOutcome; logBytes: number; coverage: number | null }
  // A delayed job's `start_in` has passed.
  | { kind: 'due'; job: Job };

export async function runLocalPipeline(opts: LocalRunOptions): Promise<LocalRunResult> {
  const now = opts.now ?? Date.now;
  // Started first: it is ready by the time the first job is.
  const launcher = new ProcessLauncher();
  try {
    return await prepareAndRun(opts, now, launcher);
  } finally {
    launcher.close();
  }
}

async function prepareAndRun(opts: LocalRunOptions, now: () => number, launcher: Launcher): Promise<LocalRunResult> {
  const repo = await readRepoFacts(opts.cwd);
  const sha = repo.sha ?? NO_COMMIT_SHA;
  if (opts.useCommit && !repo.sha) throw new GantryError('GANTRY_E_USAGE', '--commit needs a commit, and this repository has none');

  const snapshotDir = path.join(opts.home, 'snapshots', crypto.randomUUID());
  const snapshot = await makeSnapshot({
    repoRoot: repo.root,
    gitDir: repo.gitDir,
    commonGitDir: repo.commonGitDir,
    sha: repo.sha,
    includeWorkingTree: !opts.useCommit,
    dest: snapshotDir,
  });
  try {
    const files = dirProjectFiles(snapshot.dir);
    const file = opts.pipelineFile ? path.relative(repo.root, path.resolve(opts.cwd, opts.pipelineFile)) : findPipelineFile(files);
    if (!file || files.read(file) === null) {
      throw new GantryError(
        'GANTRY_E_PIPELINE_NOT_FOUND',
        opts.pipelineFile ? `no pipeline file ${opts.pipelineFile}` : `no .gantry.yml or .gitlab-ci.yml at the root of ${repo.root}`,
      );
    }
    const project = await ensureLocalProject(opts.store, repo.name, repo.root, now());
    const facts: PipelineFacts = {
      projectId: project.id,
      projectName: project.name,
      repositoryUrl: repo.root,
      ref: repo.ref,
      refKind: repo.refKind,
      sha,
      beforeSha: null,
      commitMessage: repo.commitMessage,
      commitAuthor: repo.commitAuthor,
      commitTimestamp: repo.commitTimestamp,
      defaultBranch: repo.defaultBranch,
      source: opts.source ?? 'push',
    };
    const predefined = pipelineVariables(facts);
    const compiled = compilePipeline(file, {
      variables: predefined,
      pipelineVariables: opts.variables,
      changedFiles: null,
      files,
    });
    if (compiled.ok === false) return { kind: 'invalid', file, errors: compiled.errors, warnings: compiled.warnings };
    if (compiled.ok === 'filtered') return { kind: 'filtered', reason: compiled.reason, warnings: compiled.warnings };
    const pipeline = compiled.pipeline;

    const created = await opts.store.createPipeline({
      projectId: project.id,
      ref: repo.ref,
      sha,
      source: opts.source ?? 'push',
      variables: opts.variables,
      fileVariables: pipeline.variables,
      pipelineFile: file,
      jobs: pipeline.jobs,
      createdAt: now(),
      triggeredBy: opts.user ? { kind: 'local_user', name: opts.user } : null,
    });
    const release = claimPipeline(opts.home, created.pipeline.id);
    try {
      opts.observer.pipelineCreated?.(created);
      const run = new PipelineRun(opts, created, snapshot, predefined, project.name, now, launcher);
      const finished = await run.execute();
      return { kind: 'ran', pipeline: finished, warnings: pipeline.warnings };
    } finally {
      release();
    }
  } finally {
    discard(opts.home, [snapshotDir], launcher);
  }
}

async function ensureLocalProject(store: Store, name: string, root: string, at: number) {
  const all = await store.listProjects();
  const same = all.find((p) => p.gitUrl === root);
  if (same) return same;
  // Two repositories with one directory name get name, name-2, ...
  let candidate = name;
  for (let i = 2; all.some((p) => p.name === candidate); i++) candidate = `${name}-${i}`;
  return store.ensureProject(candidate, root, at);
}

class PipelineRun {
  private readonly jobs = new Map<JobId, Job>();
  private readonly byName = new Map<string, Job>();
  /** Who needs whom (reverse edges), and the waiting jobs whose dependencies moved. */
  private readonly dependents = new Map<string, Job[]>();
  private readonly dirty = new Set<Job>();
  private readonly queue: QueuedAttempt[] = [];
  private readonly running = new Map<JobId, Running>();
  private readonly events: Event[] = [];
  private readonly artifacts: DirArtifacts;
  private readonly cache: DirCache;
  private readonly buildsDir: string;
  /** Job slots (0 .. concurrency-1): each has its workspace, reset between its jobs. */
  private readonly freeSlots: number[];
  private readonly logSync = new GroupSync();
  /** The timers of the delayed jobs waiting `scheduled`: each posts a `due` event. */
  private readonly delays = new Map<JobId, NodeJS.Timeout>();
  private canceled = false;
  private ticking = false;
  private again = false;
  private done: ((p: PipelineWithJobs) => void) | null = null;
  private failed: ((e: unknown) => void) | null = null;

  constructor(
    private readonly opts: LocalRunOptions,
    private readonly initial: PipelineWithJobs,
    private readonly source: SourceSnapshot,
    private readonly predefined: Record<string, string>,
    private readonly projectName: string,
    private readonly now: () => number,
    private readonly launcher: Launcher,
  ) {
    for (const j of initial.jobs) {
      this.jobs.set(j.id, j);
      this.byName.set(j.name, j);
      if (j.status === 'created') this.dirty.add(j);
    }
    for (const j of initial.jobs) {
      for (const need of j.spec.needs) {
        const list = this.dependents.get(need.job);
        if (list) list.push(j);
        else this.dependents.set(need.job, [j]);
      }
    }
    this.artifacts = new DirArtifacts(path.join(opts.home, 'artifacts'), now);
    this.cache = new DirCache(path.join(opts.home, 'cache', String(initial.pipeline.projectId)));
    this.buildsDir = path.join(opts.home, 'builds', String(initial.pipeline.id));
    this.freeSlots = Array.from({ length: opts.concurrency }, (_, i) => opts.concurrency - 1 - i);
  }

  execute(): Promise<PipelineWithJobs> {
    return new Promise((resolve, reject) => {
      this.done = resolve;
      this.failed = reject;
      const onAbort = () => {
        this.canceled = true;
        this.kick();
      };
      if (this.opts.signal.aborted) this.canceled = true;
      else this.opts.signal.addEventListener('abort', onAbort, { once: true });
      this.artifacts.purgeExpired();
      this.logSync.start();
      void this.opts.store.movePipeline(this.initial.pipeline.id, 'running', this.now()).then(() => this.kick(), reject);
    });
  }

  /** Runs the loop now, or once more after the current pass if one is under way. */
  private kick(): void {
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    void this.tick()
      .catch((err) => {
        void this.logSync.close();
        this.abortAll();
        this.failed?.(err);
      })
      .finally(() => {
        this.ticking = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async tick(): Promise<void> {
    do {
      this.again = false;
      while (this.events.length > 0) await this.apply(this.events.shift()!);
      if (this.canceled) await this.cancelWaiting();
      else {
        await this.advance();
        await this.dispatch();
      }
      if (await this.finishIfDone()) return;
    } while (this.again || this.events.length > 0);
  }

  private async move(job: Job, to: JobStatus, patch: MovePatch = {}): Promise<void> {
    const at = this.now();
    if (!(await this.opts.store.moveJob(job.id, to, { at, ...patch }))) return;
    this.moved(job, to, at, patch);
  }

  /**
   * A move the store made: the loop is the pipeline's only writer, so its copy follows the store's
   * row by the same rules (src/store/sql/sql-store.ts) instead of reading it back after every
   * move. Called once the move is committed, so whatever it shows is on disk.
   */
  private moved(job: Job, to: JobStatus, at: number, patch: MovePatch = {}): void {
    job.status = to;
    if (to === 'running' && job.startedAt === null) job.startedAt = at;
    if (isFinishedJob(to)) job.finishedAt = at;
    if (patch.exitCode !== undefined) job.exitCode = patch.exitCode;
    if (patch.failureReason !== undefined) job.failureReason = patch.failureReason;
    this.opts.observer.jobChanged?.(job);
    for (const d of this.dependents.get(job.name) ?? []) if (d.status === 'created') this.dirty.add(d);
  }

  private views(): JobView[] {
    return [...this.jobs.values()].map((j) => ({ name: j.name, status: j.status, exitCode: j.exitCode, spec: j.spec }));
  }

  private wantsPlay(job: Job): boolean {
    return this.opts.manual.includes(job.name) || this.opts.manual.includes(job.spec.baseName);
  }

  /**
   * A trigger job makes a child pipeline, which only a server runs today (docs/PIPELINE.md,
   * "Parent-child pipelines"): under `gantry run` it fails at once, saying so, rather than pass
   * without running what it stands for. Any other job is queued.
   */
  private async enqueueOrRefuse(job: Job): Promise<void> {
    if (!job.spec.trigger) return this.enqueue(job);
    this.opts.observer.notice?.(
      job,
      `gantry run does not run child pipelines: trigger job ${job.name} (${job.spec.trigger.include.join(', ')}) fails; run the pipeline on a Gantry server (gantry up) for it`,
    );
    await this.move(job, 'running');
    await this.move(job, 'failed', { failureReason: 'downstream_pipeline_creation_failed' });
  }

  private async enqueue(job: Job): Promise<void> {
    const attempt = await this.opts.store.createAttempt(job.id, this.now());
    job.attemptCount = attempt.number;
    this.queue.push(new QueuedAttempt(job, attempt));
  }

  /**
   * Decides the waiting jobs whose dependencies changed since the last pass (`decide` of the
   * scheduler core, job by job), in pipeline order; a decision marks its own dependents in turn.
   * Looking only at those keeps a pass cheap in a pipeline of thousands of jobs.
   */
  private async advance(): Promise<void> {
    while (this.dirty.size > 0) {
      const batch = [...this.dirty].sort((a, b) => a.id - b.id);
      this.dirty.clear();
      // Decided job by job in pipeline order, as before, each seeing the decisions made before it
      // (a job's status is set as planned); written in one transaction, then shown.
      const plans: { job: Job; moves: JobStatus[]; queue: boolean; refuse: boolean; attempt?: Attempt; done?: number }[] = [];
      const delayed: Job[] = [];
      for (const job of batch) {
        if (job.status !== 'created') continue;
        const d = decide(job, this.byName);
        if (!d) continue;
        // A delayed job starts its wait on its own (schedule(): its own move and timer).
        if (d.to === 'scheduled') {
          delayed.push(job);
          continue;
        }
        const moves: JobStatus[] = [d.to];
        if (d.to === 'manual' && this.wantsPlay(job)) moves.push('pending');
        job.status = moves[moves.length - 1]!;
        const pending = job.status === 'pending';
        plans.push({ job, moves, queue: pending && !job.spec.trigger, refuse: pending && Boolean(job.spec.trigger) });
      }
      for (const job of delayed) await this.schedule(job);
      if (plans.length === 0) continue;
      const at = this.now();
      await this.opts.store.inOneTransaction(async (m) => {
        for (const p of plans) {
          p.done = 0;
          p.attempt = undefined;
          for (const to of p.moves) {
            if (!(await m.moveJob(p.job.id, to, { at }))) break;
            p.done++;
          }
          if (p.queue && p.done === p.moves.length) p.attempt = await m.createAttempt(p.job.id, at);
        }
      });
      for (const p of plans) {
        p.job.status = 'created';
        for (const to of p.moves.slice(0, p.done)) this.moved(p.job, to, at);
        if (p.attempt) {
          p.job.attemptCount = p.attempt.number;
          this.queue.push(new QueuedAttempt(p.job, p.attempt));
        } else if (p.refuse && p.done === p.moves.length) await this.enqueueOrRefuse(p.job);
      }
    }
  }

  /**
   * A delayed job whose turn came waits `start_in`, `scheduled`, then is queued as any other
   * (docs/PIPELINE.md, "Delayed jobs"); `--manual NAME` runs it at once, as GitLab's "Run now".
   */
  private async schedule(job: Job): Promise<void> {
    if (this.wantsPlay(job)) {
      await this.move(job, 'pending');
      return this.enqueueOrRefuse(job);
    }
    const delayMs = (job.spec.startInSeconds ?? 0) * 1000;
    const scheduledAt = this.now() + delayMs;
    job.scheduledAt = scheduledAt;
    await this.opts.store.moveJob(job.id, 'scheduled', { at: this.now(), scheduledAt });
    job.status = 'scheduled';
    this.opts.observer.jobChanged?.(job);
    this.delays.set(
      job.id,
      setTimeout(() => {
        this.delays.delete(job.id);
        this.events.push({ kind: 'due', job });
        this.kick();
      }, delayMs),
    );
  }

  private async dispatch(): Promise<void> {
    // Most passes follow a job's end with every slot still taken: nothing to choose then.
    if (this.freeSlots.length === 0 || this.queue.length === 0) return;
    const busy = new Set<string>();
    for (const r of this.running.values()) if (r.job.spec.resourceGroup) busy.add(r.job.spec.resourceGroup);
    const picked = new Set(pickToStart(this.queue, busy, this.freeSlots.length));
    for (let i = 0; i < this.queue.length; ) {
      if (picked.has(this.queue[i]!)) this.queue.splice(i, 1);
      else i++;
    }
    for (const q of picked) await this.start(q);
    this.prepareLogs();
  }

  /**
   * Creates the log files of the next attempts in line before they start: creating a file costs
   * about half a millisecond on a slow disk, and it is cheaper done ahead, off the loop, than on
   * each job's way to its process. Only a few ahead, so a long queue holds no more open files.
   */
  private prepareLogs(): void {
    const ahead = Math.min(this.queue.length, 2 * this.opts.concurrency);
    for (let i = 0; i < ahead; i++) {
      const q = this.queue[i]!;
      q.log ??= this.openLog(q);
    }
  }

  private openLog({ job, attempt }: QueuedAttempt): Promise<LogWriter> {
    const log = this.opts.logs.openWriterAsync({ pipelineId: job.pipelineId, jobId: job.id, attempt: attempt.number });
    log.catch(() => {}); // reported when the attempt starts
    return log;
  }

  private async start(queued: QueuedAttempt): Promise<void> {
    const { job, attempt } = queued;
    const at = this.now();
    const timeoutSeconds = job.spec.timeoutSeconds ?? this.opts.defaultTimeoutSeconds ?? 3600;
    // The attempt and its job become running in one commit, before the job's process starts.
    const toRunning = job.status === 'pending';
    const jobMoved = await this.opts.store.inOneTransaction(async (m) => {
      await m.startAttempt(attempt.id, 'local', at, at + timeoutSeconds * 1000 + 60_000);
      return toRunning && (await m.moveJob(job.id, 'running', { at }));
    });
    attempt.status = 'running';
    attempt.startedAt = at;
    if (jobMoved) this.moved(job, 'running', at);
    const slot = this.freeSlots.pop()!;
    const run: Running = { slot, job, attempt, controller: new AbortController() };
    this.running.set(job.id, run);

    // GitLab's layout: <builds>/<concurrent id>/<project>.
    const workspaceDir = path.join(this.buildsDir, String(slot), this.projectName);
    const p = this.initial.pipeline;
    const artifactSources = job.spec.artifactSources.flatMap((name) => {
      const src = this.byName.get(name);
      return src ? [{ jobId: src.id as number, name }] : [];
    });
    // Dotenv variables travel as artifacts do: from the same jobs, their newest attempts.
    // (Asked only when one of those jobs has a dotenv report to give.)
    const dotenvSources = artifactSources.filter((s) => (this.byName.get(s.name)?.spec.artifacts?.reports?.dotenv?.length ?? 0) > 0);
    const dotenv = dotenvSources.length ? mergeDotenv(await this.opts.store.dotenv.ofNewestAttempts(dotenvSources.map((s) => s.jobId as JobId))) : {};
    const variables = resolveJobVariables(
      {
        pipeline: this.predefined,
        // `inherit: variables: false | [names]` limits which global variables the job sees.
        file: job.spec.inheritedVariables
          ? Object.fromEntries(Object.entries(p.fileVariables).filter(([k]) => job.spec.inheritedVariables!.includes(k)))
          : p.fileVariables,
        job: job.spec.variables,
        dotenv,
        trigger: p.variables,
        predefinedJob: jobVariables({
          pipelineId: p.id,
          pipelineCreatedAt: p.createdAt,
          jobId: job.id,
          job: job.spec,
          startedAt: at,
          projectDir: workspaceDir,
          buildsDir: this.buildsDir,
          agentName: 'local',
          timeoutSeconds,
        }),
      },
      expandVariables,
    );
    // The log file is created off the loop; the job starts once it exists.
    let writer: LogWriter | null = null;
    const coverage = job.spec.coverage ? new CoverageScanner(job.spec.coverage) : null;
    const onOutput = (chunk: Buffer) => {
      writer!.append(chunk);
      coverage?.push(chunk);
      this.opts.observer.output?.(job, attempt.number, chunk);
    };
    const finished = (outcome: JobOutcome) => {
      if (!writer) return { outcome, logBytes: 0, coverage: null };
      this.logSync.add(writer);
      return { outcome, logBytes: writer.size, coverage: coverage?.value() ?? null };
    };
    const execute = (w: LogWriter) => {
      writer = w;
      let isolation: JobIsolation;
      try {
        isolation = this.opts.isolation.forJob({
          slot,
          workspace: workspaceDir,
          borrowedObjects: this.source.borrowedObjects,
          network: 'full',
          limits: NO_LIMITS,
          scriptDir: path.join(this.buildsDir, 'scripts'),
          trusted: true,
        });
      } catch (err) {
        onOutput(Buffer.from(`ERROR: the job's sandbox could not be prepared: ${(err as Error).message}\n`));
        return Promise.resolve<JobOutcome>({ status: 'failed', exitCode: null, failureReason: 'runner_system_failure' });
      }
      if (job.spec.idTokens) {
        // A token signed by a key on this machine would be trusted by no cloud provider (they fetch
        // the issuer's keys over the internet); one that fails there later is worse than none now.
        const names = Object.keys(job.spec.idTokens).join(', ');
        onOutput(agentLine(`WARNING: id_tokens: gantry run has no server to sign identity tokens, so ${names} ${names.includes(',') ? 'are' : 'is'} not set; run the pipeline on a Gantry server for them`, 'yellow'));
      }
      return runJob(
        {
          jobId: job.id,
          attempt: attempt.number,
          job: job.spec,
          variables,
          artifactSources,
          workspaceDir,
          spoolPath: path.join(this.buildsDir, String(slot), 'output.spool'),
          timeoutSeconds,
          afterScriptTimeoutSeconds: 300,
          graceMs: this.opts.graceMs,
          agentName: 'local',
        },
        {
          source: this.source,
          artifacts: this.artifacts,
          cache: this.cache,
          reports: { store: (report) => this.opts.store.testReports.record(attempt.id, report, this.now()) },
          dotenv: { keep: (vars) => this.opts.store.dotenv.record(attempt.id, vars) },
          launcher: this.launcher,
          isolation,
        },
        onOutput,
        run.controller.signal,
      )
        .catch((err: unknown): JobOutcome => {
          onOutput(Buffer.from(`\nERROR: the agent failed: ${(err as Error).message}\n`));
          return { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
        })
        .finally(() => isolation.dispose());
    };
    (queued.log ?? this.openLog(queued))
      .then(execute, (err: unknown): JobOutcome => {
        this.opts.observer.notice?.(job, `ERROR: the job's log cannot be written, so the job did not run: ${(err as Error).message}`);
        return { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
      })
      .then((outcome) => {
        // The slot is free once the process is gone: the next job need not wait for this log's sync.
        this.freeSlots.push(slot);
        this.kick();
        return finished(outcome);
      })
      .then(({ outcome, logBytes, coverage }) => {
        this.events.push({ kind: 'finished', run, outcome, logBytes, coverage });
        this.kick();
      });
  }

  private async apply(ev: Event): Promise<void> {
    if (ev.kind === 'due') {
      if (ev.job.status !== 'scheduled' || this.canceled) return;
      ev.job.scheduledAt = null;
      await this.move(ev.job, 'pending');
      return this.enqueueOrRefuse(ev.job);
    }
    const { run, outcome, logBytes, coverage } = ev;
    const { job, attempt } = run;
    this.running.delete(job.id);
    const at = this.now();
    const retry =
      (outcome.status === 'failed' || outcome.status === 'timed_out') &&
      !this.canceled &&
      shouldRetry(job.spec.retry, attempt.number, outcome.failureReason, outcome.exitCode);
    const patch = { exitCode: outcome.exitCode, failureReason: outcome.failureReason };
    // The attempt's end and the job's (or its next attempt) in one commit.
    const next = await this.opts.store.inOneTransaction(async (m) => {
      await m.finishAttempt(attempt.id, { status: outcome.status, at, exitCode: outcome.exitCode, failureReason: outcome.failureReason, logBytes, coverage });
      if (retry) return m.createAttempt(job.id, at);
      return m.moveJob(job.id, outcome.status, { at, ...patch });
    });
    attempt.status = outcome.status;
    attempt.coverage = coverage;
    if (typeof next === 'object') {
      job.exitCode = outcome.exitCode;
      job.failureReason = outcome.failureReason;
      job.attemptCount = next.number;
      this.queue.push(new QueuedAttempt(job, next));
      this.opts.observer.jobChanged?.(job);
    } else if (next) this.moved(job, outcome.status, at, patch);
  }

  private abortAll(): void {
    for (const r of this.running.values()) r.controller.abort();
  }

  private async cancelWaiting(): Promise<void> {
    this.abortAll();
    for (const q of this.queue.splice(0)) {
      if (q.log) this.logSync.add(await q.log.catch(() => null));
      await this.opts.store.finishAttempt(q.attempt.id, { status: 'canceled', at: this.now(), exitCode: null, failureReason: 'canceled', logBytes: 0 });
      await this.move(q.job, 'canceled', { failureReason: 'canceled' });
    }
    for (const t of this.delays.values()) clearTimeout(t);
    this.delays.clear();
    for (const job of this.jobs.values()) {
      if (job.status === 'created' || job.status === 'manual' || job.status === 'scheduled' || job.status === 'pending') {
        job.scheduledAt = null;
        await this.move(job, 'canceled', { failureReason: 'canceled' });
      }
    }
  }

  private async finishIfDone(): Promise<boolean> {
    if (this.running.size > 0 || this.queue.length > 0 || this.events.length > 0) return false;
    const status: PipelineStatus | null = this.canceled ? 'canceled' : finalStatus(this.views());
    if (status === null) return false;
    // Every log is on disk before the pipeline is reported finished.
    await this.logSync.close();
    if (!(await this.opts.store.movePipeline(this.initial.pipeline.id, status, this.now()))) {
      // The loop is the pipeline's only writer: a refused final move is a bug, never to be hidden.
      throw new GantryError('GANTRY_E_ILLEGAL_TRANSITION', `pipeline #${this.initial.pipeline.id} could not be moved to ${status}`);
    }
    if (!this.opts.keepWorkspaces) discard(this.opts.home, [this.buildsDir], this.launcher);
    const final = await this.opts.store.getPipeline(this.initial.pipeline.id);
    this.done?.(final!);
    this.done = null;
    return true;
  }
}

/**
 * Syncs finished attempts' logs to disk in groups, every second and at the end of the pipeline,
 * instead of one fdatasync per attempt as it ends: on ext4 each sync commits the journal, and
 * commits interleaved with the next jobs' file creations slow those down several times. Until
 * its group is synced a finished log is in the OS cache: it survives a crash of Gantry, not a
 * crash of the machine.
 */
class GroupSync {
  private pending: LogWriter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  start(): void {
    this.timer = setInterval(() => void this.flush(), 1000);
    this.timer.unref();
  }

  add(w: LogWriter | null): void {
    if (w) this.pending.push(w);
  }

  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.flushing.then(() => Promise.all(batch.map((w) => w.closeAsync().catch(() => 0))).then(() => undefined));
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
