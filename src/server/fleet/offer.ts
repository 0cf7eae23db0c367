// What an agent is given with an offer (PROTOCOL.md §6, "The answer"): the job's definition, the
// repository to check out, and its variables in layers so the agent resolves them exactly as
// `gantry run` does once it has added its own (workspace paths, start time).

import type { TakenOffer } from '../../store/fleet.js';
import type { CompiledJob } from '../../pipeline/types.js';
import { offerIsolation, type OfferIsolation } from '../../domain/isolation.js';
import { variableContext, type SecretBox } from '../secrets.js';
import { isProtectedRef, pipelineRefOf } from '../../domain/protected-refs.js';

export interface OfferVariables {
  /** Predefined pipeline variables (CI_COMMIT_*, CI_PROJECT_*, ...): literal. */
  pipeline: Record<string, string>;
  /** The pipeline file's global variables the job inherits: expanded by the agent. */
  file: Record<string, string>;
  /** Trigger variables over project variables: literal. */
  trigger: Record<string, string>;
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
}

export async function offerJson(
  o: TakenOffer,
  token: string,
  deps: { secrets: SecretBox; killGraceMs: number; leaseMs: number },
): Promise<OfferJson> {
  const { job, pipeline, project, attempt } = o;
  const spec = job.spec;
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
      trigger: { ...projectVars, ...pipeline.variables },
      masked,
    },
    artifactSources: o.artifactSources,
    timeouts: { jobSeconds: spec.timeoutSeconds ?? 3600, afterScriptSeconds: 300, killGraceMs: deps.killGraceMs },
    leaseMs: deps.leaseMs,
    isolation: offerIsolation(project.isolation, pipeline.trusted),
  };
}
