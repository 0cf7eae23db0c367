// A git event that may start a pipeline, in the one shape every source is reduced to: a webhook
// of any forge, or a push reported by a plain git server's post-receive hook. The forges'
// payloads stop at the parsers (src/server/webhooks/); the rest of Gantry sees only this.

/** Where a delivery came from: a forge's webhook, or `gantry hook post-receive`. */
export const DELIVERY_PROVIDERS = ['github', 'gitea', 'gitlab', 'git'] as const;
export type DeliveryProvider = (typeof DELIVERY_PROVIDERS)[number];
/** The providers that sign their webhooks with a per-project secret. */
export const WEBHOOK_PROVIDERS = ['github', 'gitea', 'gitlab'] as const;
export type WebhookProvider = (typeof WEBHOOK_PROVIDERS)[number];

/** A branch or a tag moved to `after` (a deleted ref never becomes an event). */
export interface PushEvent {
  kind: 'push';
  /** The short name: `main`, `v1.2.0`. */
  ref: string;
  refKind: 'branch' | 'tag';
  /** The commit the ref pointed at before; null for a new ref. */
  before: string | null;
  after: string;
  /** Who pushed, as the forge names them; absent when the report names no one (git hooks, older deliveries). */
  actor?: string | null;
}

/** A pull/merge request opened, updated with new commits, or reopened. */
export interface MergeRequestEvent {
  kind: 'merge_request';
  /** The request's number in its repository (GitHub and Gitea `number`, GitLab `iid`). */
  iid: number;
  title: string;
  sourceBranch: string;
  targetBranch: string;
  /** The commit to build: the head of the source branch. */
  headSha: string;
  /** Where the head commit can be fetched in the target repository (`refs/pull/7/head`). */
  headRef: string;
  /** The clone URL of the repository the source branch lives in. */
  sourceRepositoryUrl: string | null;
  /**
   * From another repository (a fork): its jobs get no project secrets and their own cache
   * namespace, since anyone who can open a pull request controls the code they run.
   */
  fromFork: boolean;
  /** Who opened the request (GitLab: who acted on it), as the forge names them. */
  actor?: string | null;
}

export type GitEvent = PushEvent | MergeRequestEvent;

export const ZERO_SHA = /^0+$/;

/** `refs/heads/x` → branch x, `refs/tags/v1` → tag v1, anything else: null (not a pipeline ref). */
export function splitRef(ref: string): { ref: string; refKind: 'branch' | 'tag' } | null {
  if (ref.startsWith('refs/heads/') && ref.length > 11) return { ref: ref.slice(11), refKind: 'branch' };
  if (ref.startsWith('refs/tags/') && ref.length > 10) return { ref: ref.slice(10), refKind: 'tag' };
  return null;
}
