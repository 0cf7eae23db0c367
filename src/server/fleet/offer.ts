// What an agent is given with an offer (PROTOCOL.md §6, "The answer"): the job's definition, the
// repository to check out, and its variables in layers so the agent resolves them exactly as
// `gantry run` does once it has added its own (workspace paths, start time).

import type { GateStore } from '../../store/gates.js';
import type { TakenOffer } from '../../store/fleet.js';
import type { CompiledJob } from '../../pipeline/types.js';
import { offerIsolation, type OfferIsolation } from '../../domain/isolation.js';
import { variableContext, type SecretBox } from '../secrets.js';
import { isProtectedRef, pipelineRefOf } from '../../domain/protected-refs.js';
import type { IdTokenIssuer, JobClaims } from '../id-tokens.js';
import { effectiveRule, type RetentionDefaults } from '../../domain/retention.js';

export interface OfferVariables {
  /** Predefined pipeline variables (CI_COMMIT_*, CI_PROJECT_*, ...): literal. */
  pipeline: Record<string, string>;
  /** The pipeline file's global variables the job inherits: expanded by the agent. */
  file: Record<string, string>;
  /** Trigger variables over project variables: literal. */
  trigger: Record<string, string>;
  /**
   * The dotenv variables of the jobs this one takes artifacts from (`artifacts:reports:dotenv`):
   * above the file's, below the trigger's; expanded by the agent as the file's are. Older agents
   * ignore it.
   */
  dotenv: Record<string, string>;
  /** Values the agent must mask in the log. */
  masked: string[];
}

export interface OfferJson {
  attemptId: number;
  attemptToken: string;
  offerExpiresAt: string;
  attempt: number;
  job: { id: number; name: string; stage: string; pipelineId: number; pipelineCreatedAt: number };
  project: { id: number; name: string };
  repository: { url: string; sha: string; ref: string };
  spec: CompiledJob;
  variables: OfferVariables;
  artifactSources: { jobId: number; name: string }[];
  timeouts: { jobSeconds: number; afterScriptSeconds: number; killGraceMs: number };
  leaseMs: number;
  /**
   * The job's network and limits by the project's settings as they are at the take, and the
   * pipeline's trust. An agent reads a missing field (a server older than isolation) as
   * {network: 'full', limits: all null, trusted: true}.
   */
  isolation: OfferIsolation;
  /** Lines the agent writes at the top of the job's log (why an identity token was not given). Older agents ignore it. */
  notices?: string[];
}

export async function offerJson(
  o: TakenOffer,
  token: string,
  deps: { secrets: SecretBox; killGraceMs: number; leaseMs: number; idTokens?: IdTokenIssuer; gates?: Pick<GateStore, 'getEnvironment'>; retention?: RetentionDefaults },
): Promise<OfferJson> {
  const { job, pipeline, project, attempt } = o;
  const spec = withDefaultExpireIn(job.spec, o, deps.retention);
  // A pull request from a fork runs code its author controls: project variables (the secrets)
  // are never decrypted for it, so no script of it can print, send or mask-dodge one.
  // Protected variables go only to a pipeline whose ref was protected when it was made and still
  // is now (the project as read by this take): unprotecting a ref takes them from jobs not yet
  // started, and protecting one gives none to pipelines made before, whose code nobody vetted as such.
  const refProtected = pipeline.protectedRef && isProtectedRef(project.protectedRefs, pipelineRefOf(pipeline));
  const stored = pipeline.trusted ? o.projectVariables.filter((v) => !v.protected || refProtected) : [];
  const projectVars: Record<string, string> = {};
  const masked: string[] = [];
  // Decrypted here and only here, for the agent that will run the job.
  for (const v of stored) {
    const value = deps.secrets.open({ ciphertext: v.ciphertext, nonce: v.nonce }, variableContext(project.id, v.key));
    projectVars[v.key] = value;
    if (v.masked && value.length > 0) masked.push(value);
  }
  const jobSeconds = spec.timeoutSeconds ?? 3600;
  // Identity tokens are minted now, when the agent is given the job, so `exp` counts from its start;
  // they are never stored. A fork's job gets none unless the project allows it, and then never as
  // a protected ref's.
  const idTokens: Record<string, string> = {};
  const notices: string[] = [];
  const wanted = spec.idTokens ?? {};
  const names = Object.keys(wanted);
  if (names.length > 0) {
    if (!pipeline.trusted && !project.forkIdTokens) {
      notices.push(`WARNING: id_tokens: this pipeline comes from a fork and project ${project.name} gives forks no identity tokens (forkIdTokens), so ${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} not set`);
    } else if (deps.idTokens) {
      const audiences = Object.fromEntries(names.map((n) => [n, wanted[n]!.aud]));
      // Protected: the environment needs approvals now (the job could only reach an agent through them).
      const env = spec.environment && deps.gates ? await deps.gates.getEnvironment(project.id, spec.environment) : null;
      const envProtected = env !== null && env.requiredApprovals > 0;
      Object.assign(idTokens, await deps.idTokens.mint(jobClaims(o, refProtected && pipeline.trusted, envProtected), audiences, jobSeconds));
      masked.push(...Object.values(idTokens));
    }
  }
  const file = spec.inheritedVariables
    ? Object.fromEntries(Object.entries(pipeline.fileVariables).filter(([k]) => spec.inheritedVariables!.includes(k)))
    : pipeline.fileVariables;
  return {
    attemptId: attempt.id,
    attemptToken: token,
    offerExpiresAt: new Date(o.offeredUntil).toISOString(),
    attempt: attempt.number,
    job: { id: job.id, name: job.name, stage: job.stage, pipelineId: pipeline.id, pipelineCreatedAt: pipeline.createdAt },
    project: { id: project.id, name: project.name },
    repository: { url: project.gitUrl, sha: pipeline.sha, ref: pipeline.ref },
    spec,
    variables: {
      // What the job got, whatever the pipeline's creation said (and for pipelines made before it existed).
      pipeline: { ...pipeline.predefinedVariables, CI_COMMIT_REF_PROTECTED: refProtected ? 'true' : 'false' },
      file,
      // Tokens last: no variable of the trigger or the project stands in for one.
      trigger: { ...projectVars, ...pipeline.variables, ...idTokens },
      dotenv: o.dotenv,
      masked,
    },
    artifactSources: o.artifactSources,
    timeouts: { jobSeconds, afterScriptSeconds: 300, killGraceMs: deps.killGraceMs },
    leaseMs: deps.leaseMs,
    isolation: offerIsolation(project.isolation, pipeline.trusted),
    ...(notices.length > 0 ? { notices } : {}),
  };
}

/**
 * A job that gave no `expire_in` gets its project's default, else the instance's, as the agent
 * will send it back with the archive (GitLab's instance setting, per project here). The spec in
 * the store keeps GitLab's default and the mark; only the offer carries the default in force.
 */
function withDefaultExpireIn(spec: CompiledJob, o: TakenOffer, defaults: RetentionDefaults | undefined): CompiledJob {
  if (!defaults || !spec.artifacts?.expireInDefault) return spec;
  const expireInSeconds = effectiveRule(o.project.retention, defaults).artifactsExpireInSeconds;
  return { ...spec, artifacts: { ...spec.artifacts, expireInSeconds } };
}

/**
 * GitLab's claims for a job's identity tokens. `ref` is the branch or tag; a merge request
 * pipeline's is its source branch (never protected), as in GitLab.
 */
export function jobClaims(o: TakenOffer, refProtected: boolean, environmentProtected = false): JobClaims {
  const { job, pipeline, project } = o;
  const v = pipeline.predefinedVariables;
  const isTag = pipeline.source !== 'merge_request_event' && v.CI_COMMIT_TAG !== undefined;
  const ref = isTag ? v.CI_COMMIT_TAG! : (v.CI_MERGE_REQUEST_SOURCE_BRANCH_NAME ?? v.CI_COMMIT_BRANCH ?? v.CI_COMMIT_REF_NAME ?? pipeline.ref);
  const refType = isTag ? 'tag' : 'branch';
  const by = pipeline.triggeredBy;
  // A person's login when a person started it; a token, a schedule or a trigger token is nobody's.
  const userLogin = by && (by.kind === 'user' || by.kind === 'forge_user' || by.kind === 'local_user') ? by.name : undefined;
  const environment = job.spec.environment;
  return {
    sub: `project_path:${project.name}:ref_type:${refType}:ref:${ref}`,
    project_id: String(project.id),
    project_path: project.name,
    ref,
    ref_type: refType,
    ref_path: `refs/${isTag ? 'tags' : 'heads'}/${ref}`,
    ref_protected: refProtected ? 'true' : 'false',
    pipeline_id: String(pipeline.id),
    pipeline_source: pipeline.source,
    job_id: String(job.id),
    sha: pipeline.sha,
    ...(userLogin !== undefined ? { user_login: userLogin } : {}),
    // "true" when the environment is protected (API.md, "Protected environments"), as GitLab.
    ...(environment ? { environment, environment_protected: environmentProtected ? ('true' as const) : ('false' as const) } : {}),
    runner_environment: 'self-hosted',
  };
}
