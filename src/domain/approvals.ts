// The gates of issue 17 as pure rules: when a pipeline from a fork waits for a maintainer, and when
// a deployment to a protected environment has enough approvals. The store applies them inside the
// transaction that creates the pipeline or moves the job (src/store/sql/approvals.ts); the routes
// decide who may approve (src/server/routes/approvals.ts).

/**
 * A project's rule for pipelines from forks (`forkApproval`):
 * - `all`: every fork pipeline waits, unless its author is approved "always" on the project;
 * - `first-time`: only an author with no earlier approved pipeline on the project waits;
 * - `none`: fork pipelines run at once (they are still untrusted: no secrets, a sandbox).
 */
export const FORK_APPROVALS = ['all', 'first-time', 'none'] as const;
export type ForkApproval = (typeof FORK_APPROVALS)[number];

/**
 * `all`, because one approved pull request does not make its author's next push safe: the known
 * attack is a harmless first pull request, then a push that mines or probes the agents. A
 * maintainer who trusts an author says so once (`scope: "always"`).
 */
export const DEFAULT_FORK_APPROVAL: ForkApproval = 'all';

/** What the project knows of a fork pipeline's author when the pipeline is made. */
export interface ForkAuthorStanding {
  /** As the forge names them (`provider`: github, gitea, gitlab); null when the payload named no one. */
  author: { provider: string; name: string } | null;
  /** A maintainer approved this author "always" on the project. */
  approvedAlways: boolean;
  /** An earlier pipeline of this author on the project was approved. */
  hasApprovedPipeline: boolean;
}

/** Why a new fork pipeline waits for approval, or null: it runs at once. */
export function forkApprovalReason(rule: ForkApproval, s: ForkAuthorStanding): string | null {
  if (rule === 'none') return null;
  if (s.author === null) return 'a pull request from a fork whose author the forge did not name: a maintainer must approve it';
  if (s.approvedAlways) return null;
  const who = `${s.author.name} (${s.author.provider})`;
  if (rule === 'first-time') {
    return s.hasApprovedPipeline ? null : `a first pull request from a fork by ${who}: a maintainer must approve it (forkApproval: first-time)`;
  }
  return `a pull request from a fork by ${who}: a maintainer must approve each push (forkApproval: all)`;
}

/** A protected environment: its approvals needed before a job deploys to it. */
export interface ProtectedEnvironment {
  name: string;
  /** 0 protects nothing (the environment is listed, jobs deploy at once). */
  requiredApprovals: number;
  /** Usernames who may approve besides the project's maintainers (developers of the project). */
  deployers: string[];
}
