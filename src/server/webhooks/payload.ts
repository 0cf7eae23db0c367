// What every forge's parser returns, and careful reading of a payload nobody has checked yet:
// a field of the wrong type is a 400 naming the field, never a TypeError.

import { GantryError } from '../../domain/errors.js';
import { splitRef, ZERO_SHA, type GitEvent, type PushEvent } from '../../domain/git-event.js';

export type Parsed = { kind: 'event'; event: GitEvent } | { kind: 'ping' } | { kind: 'ignored'; reason: string };

export const ignored = (reason: string): Parsed => ({ kind: 'ignored', reason });

function at(payload: unknown, path: string): unknown {
  let v: unknown = payload;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function bad(path: string, what: string): never {
  throw new GantryError('GANTRY_E_WEBHOOK_PAYLOAD', `the payload's ${path} must be ${what}`);
}

export function str(payload: unknown, path: string): string {
  const v = at(payload, path);
  return typeof v === 'string' && v.length > 0 ? v : bad(path, 'a non-empty string');
}

export function optStr(payload: unknown, path: string): string | null {
  const v = at(payload, path);
  return typeof v === 'string' && v.length > 0 ? v : null;
}

export function int(payload: unknown, path: string): number {
  const v = at(payload, path);
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : bad(path, 'an integer');
}

export function sha(payload: unknown, path: string): string {
  const v = str(payload, path);
  return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(v) ? v : bad(path, 'a full commit id');
}

/** The raw value, for ids that forges send as numbers in one place and strings in another. */
export function raw(payload: unknown, path: string): unknown {
  return at(payload, path);
}

/** The first of `paths` holding a name, cut to 255 characters: who a forge says acted. */
export function actorOf(payload: unknown, paths: readonly string[]): string | null {
  for (const p of paths) {
    const v = at(payload, p);
    if (typeof v === 'string' && v.trim() !== '') return v.trim().slice(0, 255);
  }
  return null;
}

/**
 * The pusher: GitHub's `pusher.name` is the account's login, Gitea's `pusher` has `login` and
 * `username`, GitLab has `user_username` (and `user_name`, the person's full name).
 */
const PUSHER = ['pusher.login', 'pusher.username', 'user_username', 'pusher.name', 'sender.login', 'user_name'] as const;

/** A push as GitHub, Gitea and GitLab all describe it: `ref`, `before`, `after` (zeros: none). */
export function pushOf(payload: unknown, deleted: boolean): Parsed {
  const ref = str(payload, 'ref');
  const after = str(payload, 'after');
  if (deleted || ZERO_SHA.test(after)) return ignored(`${ref} was deleted`);
  const split = splitRef(ref);
  if (split === null) return ignored(`${ref} is neither a branch nor a tag`);
  const before = optStr(payload, 'before');
  const event: PushEvent = {
    kind: 'push',
    ...split,
    before: before === null || ZERO_SHA.test(before) ? null : sha(payload, 'before'),
    after: sha(payload, 'after'),
    actor: actorOf(payload, PUSHER),
  };
  return { kind: 'event', event };
}

/**
 * A pull request in GitHub's shape, which Gitea and Forgejo share: opened, updated or reopened
 * (`actions`, the forge's own names) starts a pipeline on `refs/pull/N/head`. The head and base
 * repositories' ids (the forge knows where) decide whether it comes from a fork; a fork deleted
 * since has no head repository and is untrusted all the same.
 */
export function githubStylePullRequest(payload: unknown, actions: readonly string[], repoIds: { head: unknown; base: unknown }): Parsed {
  const action = str(payload, 'action');
  if (!actions.includes(action)) return ignored(`pull_request action ${JSON.stringify(action)} does not start pipelines`);
  const number = int(payload, 'number');
  return {
    kind: 'event',
    event: {
      kind: 'merge_request',
      iid: number,
      title: optStr(payload, 'pull_request.title') ?? '',
      sourceBranch: str(payload, 'pull_request.head.ref'),
      targetBranch: str(payload, 'pull_request.base.ref'),
      headSha: sha(payload, 'pull_request.head.sha'),
      headRef: `refs/pull/${number}/head`,
      sourceRepositoryUrl: optStr(payload, 'pull_request.head.repo.clone_url'),
      fromFork: repoIds.head === undefined || repoIds.head === null || repoIds.head !== repoIds.base,
      // The request's author; the sender (who pushed the update) when a payload lacks it.
      actor: actorOf(payload, ['pull_request.user.login', 'pull_request.user.username', 'sender.login']),
    },
  };
}
