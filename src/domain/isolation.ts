// What isolation means between the agent and the control plane: the level an agent runs jobs at,
// the limits it enforces, the result of its isolation check, and what an offer asks of the
// sandbox. Shared by the agent (which enforces it), the server (which stores it, shows it and
// decides which agent may take which job) and the web UI (types only). docs/SECURITY.md is the
// threat model these promise.

/** `none`: jobs run as the agent's user, seeing what it sees. `sandbox`: docs/SECURITY.md. */
export const ISOLATION_LEVELS = ['none', 'sandbox'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/** `full`: the host's network as it is. `none`: a network namespace with loopback only. */
export const NETWORK_POLICIES = ['full', 'none'] as const;
export type NetworkPolicy = (typeof NETWORK_POLICIES)[number];

/** Resource limits of one job; null: no limit of this kind (or, in a project's override, the agent's). */
export interface JobLimits {
  /** Memory of all the job's processes together (cgroup memory limit), bytes. */
  memoryBytes: number | null;
  /** Processes and threads of the job at once (cgroup pids limit). */
  pids: number | null;
  /** CPU time per wall-clock second, in CPUs (cgroup CPU quota): 1.5 = one and a half cores. */
  cpus: number | null;
}

export const NO_LIMITS: JobLimits = { memoryBytes: null, pids: null, cpus: null };

/** One hostile probe of `gantry agent --check-isolation`: what a job tried and what happened. */
export interface IsolationProbe {
  area: 'files' | 'processes' | 'environment' | 'network' | 'limits';
  /** What the probe tries, in words ("read the agent's identity file"). */
  probe: string;
  /** What the threat model says must happen ("denied"). */
  expected: string;
  /** What happened ("denied: No such file or directory"). */
  observed: string;
  ok: boolean;
}

/** The result of an agent's isolation check, as it reports it at registration and each session. */
export interface IsolationCheck {
  passed: boolean;
  /** ISO 8601. */
  checkedAt: string;
  probes: IsolationProbe[];
}

/** What an agent says of its isolation when it registers and when it opens a session. */
export interface AgentIsolationFacts {
  isolation: IsolationLevel;
  /** The most a job may use here (and what it gets unless its project asks for less). */
  limits: JobLimits;
  /** The last check on this host; null when none ran (`none` agents skip it). */
  check: IsolationCheck | null;
}

/** What an offer asks of the agent for one job (OfferJson.isolation). */
export interface OfferIsolation {
  /** The job's network: the project's policy for its trust level. */
  network: NetworkPolicy;
  /** The project's limits; each applies only below the agent's own maximum. */
  limits: JobLimits;
  /** False for a pipeline from a fork: no secrets, sandboxed agents only. */
  trusted: boolean;
}

/**
 * Why a job may only run on a sandboxed agent whose check passed, or null if any agent will do.
 * One rule, applied by the take (which agent gets it) and by the queue (why it waits).
 */
export type SandboxRequirement = 'untrusted' | 'project' | 'network' | null;

export function sandboxRequirement(o: { trusted: boolean; projectRequiresSandbox: boolean; network: NetworkPolicy }): SandboxRequirement {
  if (!o.trusted) return 'untrusted';
  if (o.projectRequiresSandbox) return 'project';
  // `none` is enforced by the sandbox's network namespace: an agent without one cannot keep it.
  if (o.network === 'none') return 'network';
  return null;
}

/** Whether an agent may take jobs that need the sandbox. */
export function agentIsSandboxReady(a: { isolation: IsolationLevel; check: IsolationCheck | null }): boolean {
  return a.isolation === 'sandbox' && a.check !== null && a.check.passed;
}

/** What an agent that says nothing of isolation (one older than it) is taken to run at. */
export const NO_ISOLATION: AgentIsolationFacts = { isolation: 'none', limits: NO_LIMITS, check: null };

/** A project's isolation settings: who may run its jobs, with which network and limits. */
export interface ProjectIsolation {
  /** Every job of the project needs a sandboxed agent whose check passed. */
  requireSandbox: boolean;
  /** The network of trusted pipelines' jobs. */
  network: NetworkPolicy;
  /** The network of jobs of pipelines from forks (`trusted` false). */
  forkNetwork: NetworkPolicy;
  /** What each job may use; a null field: the agent's own limit. */
  jobLimits: JobLimits;
}

export const DEFAULT_PROJECT_ISOLATION: ProjectIsolation = { requireSandbox: false, network: 'full', forkNetwork: 'full', jobLimits: NO_LIMITS };

/** The network a job of a pipeline of this trust gets in this project. */
export function networkFor(p: Pick<ProjectIsolation, 'network' | 'forkNetwork'>, trusted: boolean): NetworkPolicy {
  return trusted ? p.network : p.forkNetwork;
}

/** sandboxRequirement() of a job of a pipeline of this trust in a project with these settings. */
export function jobSandboxRequirement(p: Omit<ProjectIsolation, 'jobLimits'>, trusted: boolean): SandboxRequirement {
  return sandboxRequirement({ trusted, projectRequiresSandbox: p.requireSandbox, network: networkFor(p, trusted) });
}

/** What an offer of a job of a pipeline of this trust asks of the agent. */
export function offerIsolation(p: ProjectIsolation, trusted: boolean): OfferIsolation {
  return { network: networkFor(p, trusted), limits: p.jobLimits, trusted };
}
