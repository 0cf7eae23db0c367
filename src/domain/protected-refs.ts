// Protected refs (docs/SECURITY.md, "Protected refs and variables"): a project's branch and tag
// globs whose pipelines get its protected variables, and on which only maintainers (and admins)
// may start, retry or play jobs. GitLab's rules, so a project moved over keeps its meaning:
//
// - a glob is a name, or a name with `*` wildcards; `*` matches any run of characters, `/`
//   included (`release/*` protects `release/1.0` and `release/1.0/hotfix`), and nothing else is
//   special (`?`, `[`, `{` are themselves). This is GitLab's protected branch wildcard, and unlike
//   the ref filters (picomatch, where `*` stops at `/`): the two lists answer different questions.
// - a branch is matched against the branch globs only, a tag against the tag globs only;
// - a merge request pipeline is never on a protected ref: it builds the request's head
//   (`refs/pull/N/head`), which nobody protects, whatever its target branch;
// - a pipeline from a fork never gets the project's variables at all, protected or not.

import type { PipelineSource } from './status.js';

export interface ProtectedRefs {
  /** Branch name globs; empty: no branch is protected. */
  branches: string[];
  /** Tag name globs; empty: no tag is protected. */
  tags: string[];
}

export const NO_PROTECTED_REFS: ProtectedRefs = { branches: [], tags: [] };

/** A pipeline's ref as protection sees it. */
export interface PipelineRef {
  kind: 'branch' | 'tag';
  name: string;
}

const compiled = new Map<string, RegExp>();

/** GitLab's wildcard: `*` is any run of characters (`/` included); the rest is literal. */
export function protectedGlobMatches(glob: string, name: string): boolean {
  let re = compiled.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(glob, re);
  }
  return re.test(name);
}

/** Whether `ref` is protected by `refs`; a null ref (a merge request, a detached commit) never is. */
export function isProtectedRef(refs: ProtectedRefs, ref: PipelineRef | null): boolean {
  if (ref === null) return false;
  const globs = ref.kind === 'tag' ? refs.tags : refs.branches;
  return globs.some((g) => protectedGlobMatches(g, ref.name));
}

/**
 * The ref of a stored pipeline, from what its creation recorded: its source and its predefined
 * variables (CI_COMMIT_TAG for a tag, CI_COMMIT_BRANCH for a branch). A merge request pipeline,
 * or one of a detached commit, has none.
 */
export function pipelineRefOf(p: { source: PipelineSource; ref: string; predefinedVariables: Record<string, string> }): PipelineRef | null {
  if (p.source === 'merge_request_event') return null;
  const v = p.predefinedVariables;
  if (v.CI_COMMIT_TAG !== undefined) return { kind: 'tag', name: v.CI_COMMIT_TAG };
  if (v.CI_COMMIT_BRANCH !== undefined) return { kind: 'branch', name: v.CI_COMMIT_BRANCH };
  return null;
}
