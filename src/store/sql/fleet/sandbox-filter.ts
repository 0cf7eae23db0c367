// Which of a project's pipelines an agent may run jobs of, by trust: the take's use of
// sandboxRequirement(). The rule is the shared one (src/domain/isolation.ts); this only turns it
// into what a query can filter on, since a project's jobs differ only by their pipeline's trust.

import { jobSandboxRequirement, type ProjectIsolation } from '../../../domain/isolation.js';

/** `all`: any job of the project; `trusted` / `untrusted`: only jobs of pipelines of that trust; `none`: no job. */
export type Trusts = 'all' | 'trusted' | 'untrusted' | 'none';

export function trustsFor(project: Omit<ProjectIsolation, 'jobLimits'>, sandboxReady: boolean): Trusts {
  if (sandboxReady) return 'all';
  const trusted = jobSandboxRequirement(project, true) === null;
  const untrusted = jobSandboxRequirement(project, false) === null;
  return trusted && untrusted ? 'all' : trusted ? 'trusted' : untrusted ? 'untrusted' : 'none';
}
