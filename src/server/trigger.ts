// Creating a pipeline from an API trigger: resolve the ref in the project's mirror, read the
// pipeline file from that commit, compile it with the predefined variables (source `api`), and
// store the pipeline with all its jobs, once per Idempotency-Key. Nothing is stored when any step
// fails. Knows nothing of HTTP beyond the error codes.

import crypto from 'node:crypto';
import { compilePipeline, findPipelineFile } from '../pipeline/index.js';
import type { PipelineSource } from '../domain/status.js';
import type { SchedulerSettings } from '../store/fleet.js';
import type { PipelineWithJobs, Project, Store } from '../store/store.js';
import { pipelineVariables } from '../variables/predefined.js';
import { ApiError } from './errors.js';
import type { GitMirrors } from './git-mirror.js';

export interface TriggerRequest {
  ref: string;
  sha?: string;
  variables?: Record<string, string>;
  /** CI_PIPELINE_SOURCE; `api` when absent. Part of the fingerprint only when given. */
  source?: Extract<PipelineSource, 'api' | 'web' | 'schedule' | 'trigger'>;
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

export async function triggerPipeline(
  deps: TriggerDeps,
  project: Project,
  body: TriggerRequest,
  idempotencyKey: string | null,
): Promise<TriggerResult> {
  const fingerprint = requestFingerprint(body);
  if (idempotencyKey !== null) {
    // The cheap answer first: a replay needs no git and no compile.
    const seen = await deps.store.getIdempotencyKey(project.id, idempotencyKey);
    if (seen) return replayOf(deps, seen.pipelineId, fingerprint, seen.fingerprint, idempotencyKey);
  }
  const commit = await deps.mirrors.resolve(project, body.ref, body.sha);
  const files = await deps.mirrors.files(project, commit.sha);
  const file = findPipelineFile(files);
  if (file === null) {
    throw new ApiError('GANTRY_E_PIPELINE_NOT_FOUND', `commit ${commit.sha.slice(0, 12)} has no .gantry.yml or .gitlab-ci.yml at its root`);
  }
  const variables = body.variables ?? {};
  const predefined = pipelineVariables({
    projectId: project.id,
    projectName: project.name,
    repositoryUrl: project.gitUrl,
    ref: body.ref,
    refKind: commit.refKind,
    sha: commit.sha,
    beforeSha: null,
    commitMessage: commit.commitMessage,
    commitAuthor: commit.commitAuthor,
    commitTimestamp: commit.commitTimestamp,
    defaultBranch: commit.defaultBranch,
    source: body.source ?? 'api',
  });
  // Trigger variables override predefined ones for rules, as in `gantry run --var`. Project
  // variables (secrets) are not rule context here: they are for the jobs that may see them.
  const compiled = compilePipeline(file, { variables: { ...predefined, ...variables }, changedFiles: null, files });
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
  const input = {
    projectId: project.id,
    ref: body.ref,
    sha: commit.sha,
    source: body.source ?? 'api',
    variables,
    fileVariables: compiled.pipeline.variables,
    pipelineFile: file,
    jobs: compiled.pipeline.jobs,
    createdAt: deps.now(),
    runsOn: 'fleet' as const,
    predefinedVariables: predefined,
  };
  if (idempotencyKey === null) {
    const pipeline = await deps.store.createPipeline(input);
    return { replayed: false, pipeline: await started(deps, pipeline) };
  }
  const once = await deps.store.createPipelineOnce(input, { key: idempotencyKey, fingerprint });
  if (once.created) return { replayed: false, pipeline: await started(deps, once.pipeline) };
  return replayOf(deps, once.existing.pipelineId, fingerprint, once.existing.fingerprint, idempotencyKey);
}
