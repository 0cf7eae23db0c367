// Who may act on pipelines of protected refs (docs/SECURITY.md, "Protected refs and variables").
// A protected ref's pipelines get the project's protected variables, so starting one, retrying
// one of its jobs or playing one of its manual jobs runs code with them: GitLab asks for the right
// to merge into the ref, which is a maintainer's by default; here, maintainer (or admin). A
// developer may still cancel (that runs nothing), read, and run every other ref.
//
// Pipelines nobody started by hand take no role: a webhook's push (the forge decided who may
// push), a schedule and a trigger token (both made by a maintainer). A push reported by
// `gantry hook post-receive` comes with a person's token, so it is checked like a trigger.

import { isProtectedRef, pipelineRefOf, type PipelineRef } from '../domain/protected-refs.js';
import type { Pipeline, Project } from '../store/store.js';
import { ApiError } from './errors.js';
import { describePrincipal, may, type Principal } from './policy.js';

/** The role a person needs to start, retry or play pipelines of a protected ref. */
export const PROTECTED_REF_ROLE = 'maintainer' as const;

export function mayRunProtected(principal: Principal, project: Project): boolean {
  return may(principal, { kind: 'project', projectId: project.id, role: PROTECTED_REF_ROLE });
}

const refusal = (principal: Principal, project: Project, ref: PipelineRef, verb: string) =>
  new ApiError(
    'GANTRY_E_PROTECTED_REF',
    `${ref.kind} ${ref.name} of project ${project.name} is protected: to ${verb} its pipelines needs ${PROTECTED_REF_ROLE}, and ${describePrincipal(principal)} is not one`,
  );

/** Refuses (403 GANTRY_E_PROTECTED_REF) a caller below maintainer `verb`ing on a protected ref. */
export function refuseOnProtectedRef(principal: Principal, project: Project, ref: PipelineRef | null, verb: string): void {
  if (ref === null || !isProtectedRef(project.protectedRefs, ref) || mayRunProtected(principal, project)) return;
  throw refusal(principal, project, ref, verb);
}

/**
 * Refuses a caller below maintainer `verb`ing (retry, play) on a pipeline of a ref that is
 * protected now, or was when the pipeline was made (its jobs may still get its protected variables).
 */
export function refuseOnProtectedPipeline(principal: Principal, project: Project, pipeline: Pipeline, verb: string): void {
  const ref = pipelineRefOf(pipeline);
  if (mayRunProtected(principal, project)) return;
  if (pipeline.protectedRef || isProtectedRef(project.protectedRefs, ref)) {
    throw refusal(principal, project, ref ?? { kind: 'branch', name: pipeline.ref }, verb);
  }
}
