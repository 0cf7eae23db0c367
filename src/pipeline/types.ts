// The compiler's output: one normalized DAG that the scheduler and the agent consume.
// Nothing downstream of the compiler ever sees YAML; everything here is resolved.

import type { SourceLocation } from '../domain/errors.js';
import type { ErrorCode } from '../domain/errors.js';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  code: ErrorCode | 'GANTRY_W_IGNORED_KEYWORD' | 'GANTRY_W_DEPRECATED';
  message: string;
  location: SourceLocation;
}

export type When = 'on_success' | 'on_failure' | 'always' | 'manual' | 'delayed' | 'never';

/** GitLab's retry:when reasons; `always` means any failure. */
export type RetryWhen =
  | 'always'
  | 'unknown_failure'
  | 'script_failure'
  | 'api_failure'
  | 'stuck_or_timeout_failure'
  | 'runner_system_failure'
  | 'runner_unsupported'
  | 'stale_schedule'
  | 'job_execution_timeout'
  | 'archived_failure'
  | 'unmet_prerequisites'
  | 'scheduler_failure'
  | 'data_integrity_failure';

export interface RetryPolicy {
  max: 0 | 1 | 2;
  when: RetryWhen[]; // ['always'] when not given
  exitCodes: number[] | null; // retry:exit_codes; null = any
}

/** `false`, `true` (any failure allowed) or only some exit codes. */
export type AllowFailure = boolean | { exitCodes: number[] };

export interface NeedEdge {
  job: string; // full name of the needed (expanded) job
  artifacts: boolean;
  optional: boolean;
}

export interface ArtifactsSpec {
  paths: string[];
  exclude: string[];
  untracked: boolean;
  when: 'on_success' | 'on_failure' | 'always';
  expireInSeconds: number | null; // null = never expires
  /**
   * True when the job gave no `expire_in`: expireInSeconds is then GitLab's default, and a server
   * gives the job its project's or instance's default instead (src/server/fleet/offer.ts).
   * Absent from specs compiled before it existed: their expireInSeconds stands.
   */
  expireInDefault?: boolean;
  name: string | null;
  /**
   * `artifacts:reports`: the JUnit files (globs, variables unexpanded) the runner reads after the
   * job whatever its result (docs/PIPELINE.md, "Test reports"), and the dotenv files whose
   * variables later jobs receive ("Passing variables to later jobs"; absent when none is named).
   * Absent when the job names no report (and from specs compiled before reports were read).
   */
  reports?: { junit: string[]; dotenv?: string[] };
}

export interface CacheSpec {
  /** A literal (variables unexpanded: the runner expands them), or derived from files (`key: files`). */
  key: { kind: 'literal'; value: string } | { kind: 'files'; files: string[]; prefix: string | null };
  paths: string[];
  untracked: boolean;
  policy: 'pull-push' | 'pull' | 'push';
  /**
   * `policy` as written when it names variables (`policy: $CACHE_POLICY`): the runner expands it,
   * as GitLab Runner does, and `policy` is then unused. Absent otherwise.
   */
  policyUnexpanded?: string;
  when: 'on_success' | 'on_failure' | 'always';
  /** Unexpanded, like `key` and `paths`: the runner expands them with the job's variables. */
  fallbackKeys: string[];
}

export type EnvironmentAction = 'start' | 'prepare' | 'stop' | 'verify' | 'access';
export type EnvironmentTier = 'production' | 'staging' | 'testing' | 'development' | 'other';

/** What a job's `environment:` resolves to, variables expanded as GitLab expands them (server side). */
export interface EnvironmentDetails {
  slug: string;
  url: string | null;
  action: EnvironmentAction;
  tier: EnvironmentTier;
}

/** A `/source/flags` regex as written, checked to compile (src/pipeline/expression-eval.ts, compileRegex). */
export interface CoverageRegex {
  source: string;
  flags: string;
}

/** One `id_tokens:` entry: the audience its JWT is for. */
export interface IdTokenSpec {
  aud: string | string[];
}

export interface CompiledJob {
  /** Full name after parallel expansion: `build`, `test 2/3`, `deploy: [linux, x64]`. */
  name: string;
  /** The name as written in the file, before parallel expansion. */
  baseName: string;
  stage: string;
  stageIndex: number;
  beforeScript: string[];
  script: string[];
  afterScript: string[];
  /**
   * Job-level variables: from `variables:` (after extends/default merging), parallel:matrix values
   * and the variables of the matching rule. Global variables are NOT merged in: they live on the
   * pipeline so one can see where a value came from. Values are unexpanded strings.
   */
  variables: Record<string, string>;
  when: Exclude<When, 'never'>;
  /**
   * `start_in` of a `when: delayed` job (its own, or its matching rule's), in seconds, at most a
   * week: how long the job waits, `scheduled`, once it would have started. Absent otherwise.
   */
  startInSeconds?: number;
  allowFailure: AllowFailure;
  retry: RetryPolicy;
  timeoutSeconds: number | null; // null = the runner's default
  tags: string[];
  /**
   * The jobs this one waits for. `needsMode: 'stage'` means no `needs:` was written and these
   * are all jobs of earlier stages; `'dag'` means they come from `needs:` (possibly empty).
   */
  needs: NeedEdge[];
  needsMode: 'stage' | 'dag';
  /** Jobs whose artifacts are copied into this job's workspace before it starts. */
  artifactSources: string[];
  artifacts: ArtifactsSpec | null;
  cache: CacheSpec[];
  resourceGroup: string | null;
  interruptible: boolean;
  /** `environment:name`, variables expanded (without CI_ENVIRONMENT_* and persisted ones, as GitLab). */
  environment: string | null;
  /** Absent when there is no environment (and in specs compiled before it existed). */
  environmentDetails?: EnvironmentDetails;
  /** Beyond GitLab: higher runs first among ready jobs; default 0. */
  priority: number;
  /**
   * `inherit:variables`: the names of the pipeline's global variables this job sees. Absent means
   * all of them (the default); `[]` means none (`inherit: variables: false`).
   */
  inheritedVariables?: string[];
  /**
   * `id_tokens:` (docs/API.md, "Job identity tokens"): variable name -> the token's audience, one
   * string or a list as written (the JWT's `aud` is a string or an array alike), variables
   * expanded. Absent when the job asks for none (and in specs compiled before it existed).
   */
  idTokens?: Record<string, IdTokenSpec>;
  /**
   * `coverage: '/regex/'`: the pattern the runner matches against each line of the job's masked
   * log (docs/PIPELINE.md, "Coverage"), RE2 spelled as for `rules:if`. Absent when not written.
   */
  coverage?: CoverageRegex;
  /** Set when the job came from `parallel`; `CI_NODE_INDEX`/`CI_NODE_TOTAL`. */
  parallel: { index: number; total: number } | null;
  location: SourceLocation; // where the job's key is written
  /**
   * `trigger:` (docs/PIPELINE.md, "Parent-child pipelines"): the job is a trigger job (GitLab's
   * "bridge"). It has no script and never goes to an agent: the server (or `gantry run`) creates
   * the child pipeline from these files when the job becomes ready. Absent for every other job.
   */
  trigger?: TriggerSpec;
}

/** What a trigger job starts: a child pipeline of the same project and commit. */
export interface TriggerSpec {
  /** The child's files (`include: local`), relative to the project root; merged like a top-level include. */
  include: string[];
  /** `strategy: depend`: the trigger job ends as the child ends; otherwise it succeeds once the child exists. */
  depend: boolean;
  /** `forward:` with GitLab's defaults (yaml_variables true, pipeline_variables false). */
  forward: { yamlVariables: boolean; pipelineVariables: boolean };
}

export interface CompiledPipeline {
  /** The pipeline file, relative to the project root. */
  file: string;
  stages: string[];
  /** Global variables (top-level `variables:` plus `workflow:rules` variables). Unexpanded. */
  variables: Record<string, string>;
  workflowName: string | null;
  /** Jobs in file order after expansion, rules applied: excluded jobs are absent. */
  jobs: CompiledJob[];
  /** The jobs rules (or only/except) left out of this pipeline, in file order, each with why. */
  left: { name: string; reason: string }[];
  warnings: Diagnostic[];
}

/** What rules need to know about the pipeline being created. */
export interface CompileContext {
  /**
   * Predefined pipeline variables (CI_COMMIT_BRANCH, ...): the lowest precedence, below the file's
   * variables, as in GitLab's "CI/CD variable precedence".
   */
  variables: Record<string, string>;
  /** Variables given with the trigger (`--var`, the API): they win over the file's. */
  pipelineVariables?: Record<string, string>;
  /**
   * Files changed by the triggering event, relative to the project root. `null` means "unknown"
   * (web, api, a new branch): then `rules:changes` is true, as GitLab does.
   */
  changedFiles: string[] | null;
  /** Reads project files for `include:local` and answers `exists` globs. */
  files: ProjectFiles;
}

export interface ProjectFiles {
  /** Returns the file's text, or null if it does not exist. Path relative to the project root. */
  read(path: string): string | null;
  /** All regular files, relative to the project root, for `exists` and `include` globs. */
  list(): string[];
}

export type CompileResult =
  | { ok: true; pipeline: CompiledPipeline }
  | { ok: false; errors: Diagnostic[]; warnings: Diagnostic[] }
  /** `workflow:rules` decided no pipeline runs: not an error. */
  | { ok: 'filtered'; reason: string; warnings: Diagnostic[]; left?: { name: string; reason: string }[] };
