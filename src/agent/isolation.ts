// How an agent runs a job's processes: the isolation level, one object per job. `none` starts
// bash as the agent's user in a process group of its own (what `gantry run` does by default);
// `sandbox` (sandbox/sandbox-isolation.ts) starts it in bubblewrap as the slot's user, in a cgroup
// with limits. The job runner asks this object and knows nothing of namespaces.

import { NO_LIMITS, type IsolationLevel, type JobLimits, type NetworkPolicy } from '../domain/isolation.js';
import type { Launched, Launcher } from './launcher/launcher.js';

export interface StepCommand {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  outputPath: string;
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface JobIsolation {
  readonly level: IsolationLevel;
  /** For the job's log header: "isolation sandbox, network none, memory 2 GiB, ...". */
  readonly summary: string;
  /** The environment the job starts from, before its variables. */
  readonly baseEnv: Record<string, string>;
  /** Who must own the workspace's files (null: whoever the agent is). */
  readonly owner: Owner | null;
  /** Where a script too long for the command line is written (host) and read (by the job). */
  readonly scriptDir: { host: string; job: string };
  /** Makes everything in the workspace the job's own: after caches or artifacts were extracted into it. */
  adoptWorkspace(dir: string): void;
  /**
   * Where the steps' output is spooled, when it cannot be where the runner would put it (the
   * sandbox's launcher writes only into its own directory); null: the runner's path.
   */
  readonly spoolPath: string | null;
  /** Starts one step (before_script + script, or after_script); `launcher` is the agent's. */
  start(cmd: StepCommand, launcher: Launcher): Promise<Launched>;
  /**
   * Signals every process of a running step (`leader`: the pid the launcher reported). SIGTERM
   * gives them the grace period; SIGKILL ends everything the step started.
   */
  signal(leader: number, sig: 'SIGTERM' | 'SIGKILL'): void;
  /** Processes ended by the OOM killer so far in this job. */
  oomKills(): number;
  /**
   * After the job: anything left is killed, the job's private places emptied. `last`: no job
   * follows in this slot soon (what is kept for the slot's next job can go now).
   */
  dispose(o?: { last?: boolean }): void;
}

export interface JobIsolationRequest {
  slot: number;
  workspace: string;
  /** The repository objects the workspace's .git borrows (its `alternates`), shown read-only. */
  borrowedObjects: string | null;
  network: NetworkPolicy;
  /** The project's limits; the agent's own cap them. */
  limits: JobLimits;
  /** Where a long script goes in `none` mode. */
  scriptDir: string;
  /**
   * False for a pipeline from a fork: its jobs never share a standing sandbox (and what a job
   * can leave in one: SysV IPC objects) with the project's own.
   */
  trusted: boolean;
}

export interface Isolation {
  readonly level: IsolationLevel;
  /** The most a job may use on this agent (all null under `none`: nothing is enforced). */
  readonly limits: JobLimits;
  forJob(r: JobIsolationRequest): JobIsolation;
  /** The agent stops: what it made for jobs on the host (cgroups) goes. */
  close(): void;
}

/** `none`: the agent's user, the agent's view of the machine, a process group to stop. */
export class NoIsolation implements Isolation {
  readonly level = 'none';
  readonly limits: JobLimits = NO_LIMITS;

  constructor(private readonly agentEnv: Record<string, string>) {}

  close(): void {}

  forJob(r: JobIsolationRequest): JobIsolation {
    return {
      level: 'none',
      summary: `isolation none (jobs are not isolated), network ${r.network === 'none' ? 'none was asked but is not enforced' : 'the host\'s'}`,
      baseEnv: this.agentEnv,
      owner: null,
      scriptDir: { host: r.scriptDir, job: r.scriptDir },
      adoptWorkspace: () => {},
      spoolPath: null,
      start: (c, launcher) => launcher.launch({ file: c.file, args: c.args, cwd: c.cwd, env: c.env, outputPath: c.outputPath }),
      signal: (leader, sig) => {
        try {
          process.kill(-leader, sig);
        } catch {
          // the group is already gone
        }
      },
      oomKills: () => 0,
      dispose: () => {},
    };
  }
}

/** The smaller of an agent's limit and a project's, kind by kind (null: no limit of that kind). */
export function effectiveLimits(agent: JobLimits, project: JobLimits): JobLimits {
  const min = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  return { memoryBytes: min(agent.memoryBytes, project.memoryBytes), pids: min(agent.pids, project.pids), cpus: min(agent.cpus, project.cpus) };
}

export function describeLimits(l: JobLimits): string {
  const parts: string[] = [];
  if (l.memoryBytes !== null) parts.push(`memory ${formatBytes(l.memoryBytes)}`);
  if (l.pids !== null) parts.push(`${l.pids} processes`);
  if (l.cpus !== null) parts.push(`${l.cpus} CPU${l.cpus === 1 ? '' : 's'}`);
  return parts.length > 0 ? parts.join(', ') : 'no limits';
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  return `${Math.round(n / (1 << 20))} MiB`;
}
