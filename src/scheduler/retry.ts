// Whether a failed attempt earns another, by GitLab's `retry` semantics.

import type { FailureReason } from '../domain/status.js';
import type { RetryPolicy, RetryWhen } from '../pipeline/types.js';

/** Which `retry:when` values cover each of Gantry's failure reasons. */
const REASON_MATCHES: Record<FailureReason, readonly RetryWhen[]> = {
  script_failure: ['script_failure'],
  // GitLab has no reason of its own for it: there, a job its container's OOM killer ends is a script failure.
  out_of_memory: ['script_failure'],
  timeout: ['stuck_or_timeout_failure', 'job_execution_timeout'],
  agent_lost: ['runner_system_failure', 'stuck_or_timeout_failure'],
  runner_system_failure: ['runner_system_failure'],
  missing_dependency_failure: ['unmet_prerequisites', 'data_integrity_failure'],
  unknown_failure: ['unknown_failure'],
  canceled: [],
  // A person said no: no retry brings the job back.
  deployment_rejected: [],
  // A retry would only wait for minutes the project does not have (GitLab does not retry it either).
  quota_exceeded: [],
  // Trigger jobs have no `retry:` (GitLab's Bridge entry has no such key).
  downstream_pipeline_creation_failed: [],
  reached_max_descendant_pipelines_depth: [],
  downstream_pipeline_failed: [],
};

export function shouldRetry(
  policy: RetryPolicy,
  attemptsMade: number,
  reason: FailureReason,
  exitCode: number | null,
): boolean {
  if (reason === 'canceled' || reason === 'quota_exceeded') return false;
  if (attemptsMade > policy.max) return false;
  const whenOk = policy.when.includes('always') || REASON_MATCHES[reason].some((w) => policy.when.includes(w));
  if (!whenOk) return false;
  if (policy.exitCodes && reason === 'script_failure') return exitCode !== null && policy.exitCodes.includes(exitCode);
  return true;
}
