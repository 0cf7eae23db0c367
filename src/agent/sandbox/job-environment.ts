// The environment a sandboxed job starts from: an allowlist of the agent's own (the search path
// and the locale) and the operator's additions, then who the job is. Everything else of the
// agent's environment (tokens, database URLs, cloud keys) stays out; the job's variables go on top.

/** Passed from the agent's environment when set. */
const PASSED = ['PATH', 'LANG', 'LANGUAGE', 'TZ'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function sandboxEnvironment(
  agentEnv: Record<string, string>,
  /** `--sandbox-env NAME`: more of the agent's variables the operator passes on. */
  extra: string[],
  who: { user: string; home: string },
): Record<string, string> {
  const env: Record<string, string> = { PATH: DEFAULT_PATH };
  for (const [k, v] of Object.entries(agentEnv)) {
    if (PASSED.includes(k) || k.startsWith('LC_') || extra.includes(k)) env[k] = v;
  }
  return { ...env, HOME: who.home, USER: who.user, LOGNAME: who.user, SHELL: '/bin/bash', TMPDIR: '/tmp' };
}
