// GitLab's predefined CI_* variables, so scripts written for GitLab run unchanged. Pipeline-level
// ones are known before the pipeline exists (rules need them); job-level ones when it runs.

import type { PipelineSource } from '../domain/status.js';
import type { CompiledJob } from '../pipeline/types.js';

export interface PipelineFacts {
  projectId: number;
  projectName: string;
  repositoryUrl: string;
  ref: string;
  /** A detached HEAD (a local run of a bare commit) has neither CI_COMMIT_BRANCH nor CI_COMMIT_TAG. */
  refKind: 'branch' | 'tag' | 'detached';
  sha: string;
  beforeSha: string | null;
  commitMessage: string;
  commitAuthor: string;
  commitTimestamp: string | null;
  defaultBranch: string;
  source: PipelineSource;
  /** The pull/merge request of a `merge_request_event` pipeline, when a forge said which. */
  mergeRequest?: MergeRequestFacts;
  /**
   * The ref is one of the project's protected refs (the server's; `gantry run` has none, so
   * false there): CI_COMMIT_REF_PROTECTED.
   */
  refProtected?: boolean;
}

export interface MergeRequestFacts {
  iid: number;
  title: string;
  sourceBranch: string;
  targetBranch: string;
  /** The ref the forge keeps the request's head under (`refs/pull/7/head`). */
  refPath: string;
  /** The merge base of the target branch and the head: what `rules: changes` compares with. */
  diffBaseSha: string | null;
  sourceProjectUrl: string | null;
}

/** GitLab's slug: lowercase, [a-z0-9] kept, anything else `-`, at most 63 chars, no `-` at the ends. */
export function slugify(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
}

export function pipelineVariables(f: PipelineFacts): Record<string, string> {
  const v: Record<string, string> = {
    CI: 'true',
    GANTRY: 'true',
    CI_SERVER: 'yes',
    CI_SERVER_NAME: 'Gantry',
    CI_PROJECT_ID: String(f.projectId),
    CI_PROJECT_NAME: f.projectName,
    CI_PROJECT_PATH: f.projectName,
    CI_PROJECT_PATH_SLUG: slugify(f.projectName),
    CI_REPOSITORY_URL: f.repositoryUrl,
    CI_DEFAULT_BRANCH: f.defaultBranch,
    CI_COMMIT_SHA: f.sha,
    CI_COMMIT_SHORT_SHA: f.sha.slice(0, 8),
    CI_COMMIT_BEFORE_SHA: f.beforeSha ?? '0000000000000000000000000000000000000000',
    CI_COMMIT_REF_NAME: f.ref,
    CI_COMMIT_REF_SLUG: slugify(f.ref),
    CI_COMMIT_MESSAGE: f.commitMessage,
    CI_COMMIT_TITLE: f.commitMessage.split('\n')[0] ?? '',
    CI_COMMIT_DESCRIPTION: f.commitMessage.split('\n').slice(1).join('\n').replace(/^\n+/, ''),
    CI_COMMIT_AUTHOR: f.commitAuthor,
    CI_PIPELINE_SOURCE: f.source,
    CI_COMMIT_REF_PROTECTED: f.refProtected === true ? 'true' : 'false',
  };
  if (f.commitTimestamp) v.CI_COMMIT_TIMESTAMP = f.commitTimestamp;
  if (f.source === 'merge_request_event' && f.mergeRequest) {
    const mr = f.mergeRequest;
    v.CI_MERGE_REQUEST_IID = String(mr.iid);
    v.CI_MERGE_REQUEST_ID = String(mr.iid);
    v.CI_MERGE_REQUEST_TITLE = mr.title;
    v.CI_MERGE_REQUEST_SOURCE_BRANCH_NAME = mr.sourceBranch;
    v.CI_MERGE_REQUEST_SOURCE_BRANCH_SHA = f.sha;
    v.CI_MERGE_REQUEST_TARGET_BRANCH_NAME = mr.targetBranch;
    v.CI_MERGE_REQUEST_REF_PATH = mr.refPath;
    v.CI_MERGE_REQUEST_PROJECT_URL = f.repositoryUrl;
    if (mr.sourceProjectUrl) v.CI_MERGE_REQUEST_SOURCE_PROJECT_URL = mr.sourceProjectUrl;
    if (mr.diffBaseSha) v.CI_MERGE_REQUEST_DIFF_BASE_SHA = mr.diffBaseSha;
    // Gantry builds the request's head as it is (GitLab's "detached" pipelines), not a merge result.
    v.CI_MERGE_REQUEST_EVENT_TYPE = 'detached';
  } else if (f.source === 'merge_request_event') {
    // GitLab's merge request pipelines name the source and target branches, not a commit branch.
    v.CI_MERGE_REQUEST_SOURCE_BRANCH_NAME = f.ref;
    v.CI_MERGE_REQUEST_TARGET_BRANCH_NAME = f.defaultBranch;
    v.CI_MERGE_REQUEST_IID = '1';
    v.CI_MERGE_REQUEST_EVENT_TYPE = 'detached';
  } else if (f.refKind === 'branch') v.CI_COMMIT_BRANCH = f.ref;
  if (f.refKind === 'tag') v.CI_COMMIT_TAG = f.ref;
  return v;
}

export interface JobFacts {
  pipelineId: number;
  pipelineCreatedAt: number;
  jobId: number;
  job: CompiledJob;
  startedAt: number;
  projectDir: string;
  buildsDir: string;
  agentName: string;
  timeoutSeconds: number;
}

export function jobVariables(j: JobFacts): Record<string, string> {
  const v: Record<string, string> = {
    CI_PIPELINE_ID: String(j.pipelineId),
    CI_PIPELINE_IID: String(j.pipelineId),
    CI_PIPELINE_CREATED_AT: new Date(j.pipelineCreatedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    CI_JOB_ID: String(j.jobId),
    CI_JOB_NAME: j.job.name,
    CI_JOB_NAME_SLUG: slugify(j.job.name),
    CI_JOB_STAGE: j.job.stage,
    CI_JOB_STARTED_AT: new Date(j.startedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    CI_JOB_TIMEOUT: String(j.timeoutSeconds),
    CI_JOB_MANUAL: j.job.when === 'manual' ? 'true' : '',
    CI_PROJECT_DIR: j.projectDir,
    CI_BUILDS_DIR: j.buildsDir,
    CI_RUNNER_DESCRIPTION: j.agentName,
    CI_RUNNER_TAGS: JSON.stringify(j.job.tags),
    CI_NODE_TOTAL: String(j.job.parallel?.total ?? 1),
  };
  if (j.job.parallel) v.CI_NODE_INDEX = String(j.job.parallel.index);
  if (j.job.environment) {
    // GitLab's deployment variables: known once the environment's name is expanded (compile.ts).
    v.CI_ENVIRONMENT_NAME = j.job.environment;
    const d = j.job.environmentDetails;
    if (d) {
      v.CI_ENVIRONMENT_SLUG = d.slug;
      v.CI_ENVIRONMENT_ACTION = d.action;
      v.CI_ENVIRONMENT_TIER = d.tier;
      if (d.url !== null) v.CI_ENVIRONMENT_URL = d.url;
    }
  }
  if (!v.CI_JOB_MANUAL) delete v.CI_JOB_MANUAL;
  return v;
}

/**
 * All of a job's variables by GitLab's documented "CI/CD variable precedence", lowest first:
 * predefined variables (pipeline and job ones), deployment variables (CI_ENVIRONMENT_*, in
 * predefinedJob here), the file's global variables, the job's variables, the dotenv variables of
 * the jobs it takes artifacts from, the trigger's variables (project variables under pipeline ones).
 * Dotenv values are expanded like the file's (GitLab stores them with `raw: false`).
 * A file's variable may override a predefined one, as in GitLab. Values from the pipeline file may refer to other variables
 * ($VAR, ${VAR}), also through further references; they are expanded against the whole set
 * (a cycle stops at the variable that closes it). Predefined and trigger values are data, taken
 * literally: a `$` in a commit message or a --var value stays a `$`.
 */
export function resolveJobVariables(
  layers: {
    pipeline: Record<string, string>;
    file: Record<string, string>;
    job: Record<string, string>;
    trigger: Record<string, string>;
    predefinedJob: Record<string, string>;
    /** `artifacts:reports:dotenv` of the jobs this one takes artifacts from (src/domain/dotenv.ts, mergeDotenv). */
    dotenv?: Record<string, string>;
  },
  expand: (value: string, vars: Record<string, string>) => string,
): Record<string, string> {
  const dotenv = layers.dotenv ?? {};
  const raw = { ...layers.pipeline, ...layers.predefinedJob, ...layers.file, ...layers.job, ...dotenv, ...layers.trigger };
  const fromFile = (k: string) => !(k in layers.trigger) && (k in dotenv || k in layers.job || k in layers.file);
  const out: Record<string, string> = {};
  const busy = new Set<string>();
  const get = (k: string): string => {
    if (k in out) return out[k]!;
    const value = raw[k]!;
    if (!fromFile(k) || !value.includes('$') || busy.has(k)) return value;
    busy.add(k);
    const deps: Record<string, string> = {};
    for (const m of value.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
      const name = m[1]!;
      if (Object.prototype.hasOwnProperty.call(raw, name)) deps[name] = get(name);
    }
    busy.delete(k);
    return (out[k] = expand(value, deps));
  };
  for (const k of Object.keys(raw)) out[k] = get(k);
  return out;
}
