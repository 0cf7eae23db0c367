// Creating a pipeline from a trigger: the API's (a ref, source `api`), a push or a pull/merge
// request (from a webhook or a git hook, through the delivery queue). Resolve the commit in the
// project's mirror, read the pipeline file from that commit (never from the default branch),
// work out which files changed for `rules: changes`, compile with the predefined variables, and
// store the pipeline with all its jobs, once per idempotency key. Nothing is stored when any step
// fails. Knows nothing of HTTP beyond the error codes.

import crypto from 'node:crypto';
import { compilePipeline, findPipelineFile } from '../pipeline/index.js';
import { normalizePath } from '../pipeline/files.js';
import type { CompileResult, ProjectFiles } from '../pipeline/types.js';
import type { SchedulerSettings } from '../store/fleet.js';
import type { NewPipeline, PipelineWithJobs, Project, Store } from '../store/store.js';
import type { MergeRequestEvent, PushEvent } from '../domain/git-event.js';
import type { PipelineSource } from '../domain/status.js';
import type { TriggeredBy } from '../domain/triggered-by.js';
import { pipelineVariables, type MergeRequestFacts } from '../variables/predefined.js';
import type { CommitFacts } from './git-mirror.js';
import { ApiError } from './errors.js';
import { isProtectedRef, type PipelineRef } from '../domain/protected-refs.js';
import { PROTECTED_REF_ROLE } from './protected-refs.js';
import type { GitMirrors } from './git-mirror.js';

export interface TriggerRequest {
  ref: string;
  sha?: string;
  variables?: Record<string, string>;
  /** CI_PIPELINE_SOURCE; `api` when absent. Part of the fingerprint only when given. */
  source?: RefTrigger['source'];
}

export type TriggerResult = { replayed: false; pipeline: PipelineWithJobs } | { replayed: true; pipeline: PipelineWithJobs };

/** Keys sorted at every level: two bodies that mean the same request have one fingerprint. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** SHA-256 of the request body in canonical form (key order and whitespace do not matter). */
export function requestFingerprint(body: TriggerRequest): string {
  return crypto.createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export interface TriggerDeps {
  store: Store;
  mirrors: GitMirrors;
  now: () => number;
  settings: SchedulerSettings;
  onCreated?: () => void;
}

/**
 * Hands a new pipeline to the scheduler: its first jobs become pending for the agents. Should the
 * server die between the creation and this, the next start's progression pass does it.
 */
async function started(deps: TriggerDeps, created: PipelineWithJobs): Promise<PipelineWithJobs> {
  deps.onCreated?.();
  await deps.store.fleet.startPipeline(created.pipeline.id, deps.now(), deps.settings);
  return (await deps.store.getPipeline(created.pipeline.id)) ?? created;
}

async function replayOf(deps: TriggerDeps, pipelineId: number, fingerprint: string, stored: string, key: string): Promise<TriggerResult> {
  if (stored !== fingerprint) {
    throw new ApiError('GANTRY_E_IDEMPOTENCY_MISMATCH', `Idempotency-Key ${JSON.stringify(key)} was used with a different request`);
  }
  const original = await deps.store.getPipeline(pipelineId as never);
  if (!original) throw new ApiError('GANTRY_E_NOT_FOUND', `the pipeline of Idempotency-Key ${JSON.stringify(key)} no longer exists`);
  return { replayed: true, pipeline: original };
}

/** A pipeline someone asked for by ref: the API, the UI, a schedule, a trigger token. */
export interface RefTrigger {
  source: Exclude<PipelineSource, 'push' | 'merge_request_event'>;
  ref: string;
  sha?: string;
  variables: Record<string, string>;
}

/** Everything that can start a pipeline. Git events carry no variables: nobody typed any. */
export type PipelineTrigger = RefTrigger | { source: 'push'; event: PushEvent } | { source: 'merge_request_event'; event: MergeRequestEvent };

/** The idempotency key and request fingerprint a creation is guarded by. */
export interface Once {
  key: string;
  fingerprint: string;
}

interface Plan {
  commit: CommitFacts;
  /** The pipeline's ref as stored (auto-cancel and the `ref` filter use it). */
  ref: string;
  /** `CI_COMMIT_REF_NAME`: for a merge request, its source branch. */
  refName: string;
  refKind: 'branch' | 'tag';
  beforeSha: string | null;
  /** null: every `rules: changes` matches (a new ref, as GitLab does; or no base to compare). */
  changedFiles: string[] | null;
  mergeRequest?: MergeRequestFacts;
  variables: Record<string, string>;
  trusted: boolean;
}

async function planOf(deps: TriggerDeps, project: Project, t: PipelineTrigger): Promise<Plan> {
  switch (t.source) {
    case 'push': {
      const e = t.event;
      const commit = await deps.mirrors.resolve(project, e.ref, e.after);
      // A new branch or tag has no range to diff: GitLab then counts every `changes` rule as true.
      const changedFiles = e.before === null ? null : await deps.mirrors.changedFiles(project, e.before, commit.sha);
      return { commit, ref: e.ref, refName: e.ref, refKind: e.refKind, beforeSha: e.before, changedFiles, variables: {}, trusted: true };
    }
    case 'merge_request_event': {
      const e = t.event;
      const commit = await deps.mirrors.resolve(project, e.sourceBranch, e.headSha);
      const base = await deps.mirrors.mergeBase(project, e.targetBranch, commit.sha);
      const changedFiles = base === null ? null : await deps.mirrors.changedFiles(project, base, commit.sha);
      return {
        commit,
        ref: e.headRef,
        refName: e.sourceBranch,
        refKind: 'branch',
        beforeSha: null,
        changedFiles,
        mergeRequest: {
          iid: e.iid,
          title: e.title,
          sourceBranch: e.sourceBranch,
          targetBranch: e.targetBranch,
          refPath: e.headRef,
          diffBaseSha: base,
          sourceProjectUrl: e.sourceRepositoryUrl,
        },
        variables: {},
        trusted: !e.fromFork,
      };
    }
    default: {
      const commit = await deps.mirrors.resolve(project, t.ref, t.sha);
      return { commit, ref: t.ref, refName: t.ref, refKind: commit.refKind, beforeSha: null, changedFiles: null, variables: t.variables, trusted: true };
    }
  }
}

/**
 * Who starts it: whether it may run a protected ref's pipeline (a person needs maintainer: the
 * API's caller, a pushing git hook's token), and how to name them when not. Webhooks, schedules
 * and trigger tokens are no person starting a pipeline, and pass none.
 */
export interface Starter {
  mayRunProtected: boolean;
  name: string;
}

/** The predefined CI_* variables of a pipeline of `plan`'s commit: what its rules and its jobs see. */
function predefinedOf(
  project: Project,
  plan: Pick<Plan, 'commit' | 'refName' | 'refKind' | 'beforeSha' | 'mergeRequest'>,
  source: PipelineSource,
  refProtected: boolean,
): Record<string, string> {
  const { commit } = plan;
  return pipelineVariables({
    projectId: project.id,
    projectName: project.name,
    repositoryUrl: project.gitUrl,
    ref: plan.refName,
    refKind: plan.refKind,
    sha: commit.sha,
    beforeSha: plan.beforeSha,
    commitMessage: commit.commitMessage,
    commitAuthor: commit.commitAuthor,
    commitTimestamp: commit.commitTimestamp,
    defaultBranch: commit.defaultBranch,
    source,
    ...(plan.mergeRequest ? { mergeRequest: plan.mergeRequest } : {}),
    refProtected,
  });
}

/** Resolves, reads, compiles: the pipeline to store, or an ApiError that stores nothing. */
async function compileFor(deps: TriggerDeps, project: Project, t: PipelineTrigger, by: TriggeredBy | null, starter: Starter | null): Promise<NewPipeline> {
  const plan = await planOf(deps, project, t);
  const { commit } = plan;
  // A merge request builds its head (refs/pull/N/head), which no one protects (GitLab's rule).
  const ref: PipelineRef | null = t.source === 'merge_request_event' ? null : { kind: plan.refKind, name: plan.refName };
  const refProtected = isProtectedRef(project.protectedRefs, ref);
  if (refProtected && starter !== null && !starter.mayRunProtected) {
    throw new ApiError(
      'GANTRY_E_PROTECTED_REF',
      `${ref!.kind} ${ref!.name} of project ${project.name} is protected: to start its pipelines needs ${PROTECTED_REF_ROLE}, and ${starter.name} is not one`,
    );
  }
  const files = await deps.mirrors.files(project, commit.sha);
  const file = findPipelineFile(files);
  if (file === null) {
    throw new ApiError('GANTRY_E_PIPELINE_NOT_FOUND', `commit ${commit.sha.slice(0, 12)} has no .gantry.yml or .gitlab-ci.yml at its root`);
  }
  const predefined = predefinedOf(project, plan, t.source, refProtected);
  // Trigger variables win over the file's, predefined ones lose to them (GitLab's precedence).
  // Project variables (secrets) are not rule context here: they are for the jobs that may see them.
  const compiled = compilePipeline(file, { variables: predefined, pipelineVariables: plan.variables, changedFiles: plan.changedFiles, files });
  if (compiled.ok === false) {
    throw new ApiError('GANTRY_E_PIPELINE_INVALID', `${file} at ${commit.sha.slice(0, 12)} is invalid (${compiled.errors.length} error${compiled.errors.length === 1 ? '' : 's'})`, {
      diagnostics: compiled.errors.map((d) => ({
        file: d.location.file,
        line: d.location.line,
        column: d.location.column,
        code: d.code,
        message: d.message,
      })),
    });
  }
  if (compiled.ok === 'filtered') throw new ApiError('GANTRY_E_PIPELINE_FILTERED', compiled.reason);
  return {
    projectId: project.id,
    ref: plan.ref,
    sha: commit.sha,
    source: t.source,
    variables: plan.variables,
    fileVariables: compiled.pipeline.variables,
    pipelineFile: file,
    jobs: compiled.pipeline.jobs,
    createdAt: deps.now(),
    runsOn: 'fleet',
    predefinedVariables: predefined,
    trusted: plan.trusted,
    protectedRef: refProtected,
    triggeredBy: by,
    // A fork's pipeline may have to wait for a maintainer: the store decides as it creates it.
    ...(plan.trusted ? {} : { fork: { author: by?.kind === 'forge_user' ? { provider: by.provider, name: by.name } : null } }),
  };
}

/**
 * Creates and starts the pipeline of a trigger. With `once`, the key is claimed in the same
 * transaction: a key already claimed gives its pipeline back (`replayed`) if the fingerprints
 * match, and a GANTRY_E_IDEMPOTENCY_MISMATCH if they do not. `by` is recorded, not compared: a
 * replay is the first request's pipeline, whoever repeats it.
 */
export async function createTriggeredPipeline(
  deps: TriggerDeps,
  project: Project,
  t: PipelineTrigger,
  once: Once | null,
  by: TriggeredBy | null,
  starter: Starter | null = null,
): Promise<TriggerResult> {
  const input = await compileFor(deps, project, t, by, starter);
  if (once === null) {
    const pipeline = await deps.store.createPipeline(input);
    return { replayed: false, pipeline: await started(deps, pipeline) };
  }
  const r = await deps.store.createPipelineOnce(input, once);
  if (r.created) return { replayed: false, pipeline: await started(deps, r.pipeline) };
  return replayOf(deps, r.existing.pipelineId, once.fingerprint, r.existing.fingerprint, once.key);
}

/**
 * The API's trigger (`POST /projects/:project/pipelines`): source `api` unless the caller says
 * (`web` from the UI, `schedule`, `trigger`); Idempotency-Key optional.
 */
export async function triggerPipeline(
  deps: TriggerDeps,
  project: Project,
  body: TriggerRequest,
  idempotencyKey: string | null,
  by: TriggeredBy | null,
  starter: Starter | null = null,
): Promise<TriggerResult> {
  const fingerprint = requestFingerprint(body);
  if (idempotencyKey !== null) {
    // The cheap answer first: a replay needs no git and no compile.
    const seen = await deps.store.getIdempotencyKey(project.id, idempotencyKey);
    if (seen) return replayOf(deps, seen.pipelineId, fingerprint, seen.fingerprint, idempotencyKey);
  }
  const trigger: RefTrigger = { source: body.source ?? 'api', ref: body.ref, variables: body.variables ?? {}, ...(body.sha === undefined ? {} : { sha: body.sha }) };
  return createTriggeredPipeline(deps, project, trigger, idempotencyKey === null ? null : { key: idempotencyKey, fingerprint }, by, starter);
}

export interface LintRequest {
  /** The pipeline file's text, as pasted or being edited. */
  content: string;
  /** The branch or tag whose files it is read with (its includes, `exists`); default: the default branch. */
  ref: string | null;
  source: PipelineSource;
  variables: Record<string, string>;
}

export interface LintAnswer {
  file: string;
  ref: string;
  sha: string;
  result: CompileResult;
}

/**
 * The pipeline `content` would make for `ref` and `source`, read with that ref's other files, as
 * the trigger would compile it, but nothing is stored (GitLab's CI Lint with "simulate"): the
 * lint page and `POST /projects/:project/lint`.
 */
export async function lintPipeline(deps: TriggerDeps, project: Project, req: LintRequest): Promise<LintAnswer> {
  const ref = req.ref ?? (await deps.mirrors.defaultBranch(project));
  const commit = await deps.mirrors.resolve(project, ref);
  const repoFiles = await deps.mirrors.files(project, commit.sha);
  const file = findPipelineFile(repoFiles) ?? '.gitlab-ci.yml';
  const files: ProjectFiles = {
    read: (p) => (normalizePath(p) === file ? req.content : repoFiles.read(p)),
    list: () => (repoFiles.list().includes(file) ? repoFiles.list() : [...repoFiles.list(), file].sort()),
  };
  const refKind = commit.refKind;
  const plan = { commit, refName: ref, refKind, beforeSha: null };
  const predefined = predefinedOf(project, plan, req.source, isProtectedRef(project.protectedRefs, { kind: refKind, name: ref }));
  return { file, ref, sha: commit.sha, result: compilePipeline(file, { variables: predefined, pipelineVariables: req.variables, changedFiles: null, files }) };
}
