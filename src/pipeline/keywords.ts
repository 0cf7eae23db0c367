// Which keywords exist where. Kept in one place so the docs, the errors and the checks agree.

export const GLOBAL_KEYWORDS = ['stages', 'types', 'variables', 'default', 'workflow', 'include', 'image', 'services', 'cache', 'before_script', 'after_script'] as const;

export const JOB_KEYWORDS = [
  'script', 'before_script', 'after_script', 'stage', 'needs', 'dependencies', 'variables', 'rules', 'only', 'except',
  'when', 'start_in', 'allow_failure', 'retry', 'timeout', 'tags', 'parallel', 'extends', 'artifacts', 'cache', 'resource_group',
  'interruptible', 'environment', 'coverage', 'priority', 'image', 'services', 'inherit', 'type', 'id_tokens', 'trigger',
] as const;

/**
 * The keywords a trigger job may have: GitLab's Bridge entry (`trigger`, `parallel`) and its
 * Processable keys (lib/gitlab/ci/config/entry/{bridge,processable}.rb), with `environment`.
 * Any other is an error, as GitLab's "config contains unknown keys".
 */
export const TRIGGER_JOB_KEYWORDS = [
  'trigger', 'parallel', 'extends', 'stage', 'only', 'except', 'rules', 'variables', 'inherit', 'allow_failure', 'when', 'needs',
  'resource_group', 'environment',
] as const;

/** Keywords GitLab has and Gantry does not run; named in the error instead of a bare "unknown". */
export const UNSUPPORTED_JOB_KEYWORDS: Record<string, string> = {
  release: 'releases need a GitLab instance',
  secrets: 'external secrets are not supported; use variables',
  pages: 'GitLab Pages needs a GitLab instance',
  hooks: 'runner hooks are not supported; put the commands in before_script',
  dast_configuration: 'DAST needs a GitLab instance',
  identity: 'cloud identities need a GitLab instance',
  manual_confirmation: 'manual confirmation messages are not supported',
  run: 'CI steps (run) are not supported; use script',
};

export const DEFAULT_KEYWORDS = ['before_script', 'after_script', 'timeout', 'retry', 'tags', 'interruptible', 'artifacts', 'cache', 'image', 'services', 'id_tokens'] as const;

/** Keywords accepted and ignored: they need containers or GitLab's UI. */
export const IGNORED_KEYWORDS: Record<string, string> = {
  image: 'Gantry runs jobs in a shell, not in containers',
  services: 'Gantry runs jobs in a shell, not in containers',
};

export const DEFAULT_STAGES = ['.pre', 'build', 'test', 'deploy', '.post'];
