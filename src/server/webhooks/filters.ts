// A project's branch and tag filters: which git events start pipelines. Pushes are matched by
// the pushed branch or tag; pull requests by their target branch, as GitHub Actions'
// `on.pull_request.branches` does (a request into `main` is what a filter on `main` cares about).

import picomatch from 'picomatch';
import type { GitEvent } from '../../domain/git-event.js';
import type { RefFilters } from '../../store/store.js';

const matchers = new Map<string, (s: string) => boolean>();

function matches(globs: string[], name: string): boolean {
  return globs.some((g) => {
    let m = matchers.get(g);
    if (!m) {
      // `*` stops at `/` as in git's own ref globs; `**` crosses it (`release/**`).
      m = picomatch(g, { dot: true });
      if (matchers.size > 10_000) matchers.clear();
      matchers.set(g, m);
    }
    return m(name);
  });
}

/** Why the project's filters drop `e`, or null when it passes. */
export function filteredOut(filters: RefFilters, e: GitEvent): string | null {
  const [kind, name, globs] =
    e.kind === 'merge_request'
      ? (['branch', e.targetBranch, filters.branches] as const)
      : e.refKind === 'tag'
        ? (['tag', e.ref, filters.tags] as const)
        : (['branch', e.ref, filters.branches] as const);
  if (globs === null || matches(globs, name)) return null;
  const what = e.kind === 'merge_request' ? `the target branch ${JSON.stringify(name)}` : `${kind} ${JSON.stringify(name)}`;
  return `${what} matches none of the project's ${kind} filters (${globs.map((g) => JSON.stringify(g)).join(', ') || 'an empty list'})`;
}
