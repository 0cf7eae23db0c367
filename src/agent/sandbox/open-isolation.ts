// The agent's isolation level, chosen once at start: `sandbox` where this host can provide it (the
// default), `none` where asked or where it cannot (then with a notice saying why). An agent asked
// for `sandbox` on a host that cannot refuses to start, naming each problem and its fix.

import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { GantryError } from '../../domain/errors.js';
import type { IsolationLevel, JobLimits } from '../../domain/isolation.js';
import { NoIsolation, type Isolation } from '../isolation.js';
import { checkHostSupport, formatProblems, strangersInRange, type HostProblem } from './host-support.js';
import { SandboxIsolation } from './sandbox-isolation.js';
import { defaultUidBase } from './slot-users.js';
import { checkIsolation } from './check-isolation.js';
import type { IsolationCheck } from '../../domain/isolation.js';

export interface IsolationSettings {
  /** `--isolation`; null: the sandbox if this host can, else none. */
  asked: IsolationLevel | null;
  agentHome: string;
  /** The agent's environment (what `none` jobs inherit; the sandbox passes only an allowlist). */
  agentEnv: Record<string, string>;
  /** Limits given on the command line; unset kinds take the defaults below. */
  limits: Partial<JobLimits>;
  extraEnv: string[];
  extraReadOnly: string[];
  shared: string[];
  uidBase: number | null;
  /** Files and directories of the agent and the server that no job may see, wherever they are. */
  hidden: string[];
}

export interface OpenedIsolation {
  isolation: Isolation;
  /** Said once at start: why `none` was taken, what the sandbox cleaned up. */
  notices: string[];
}

/**
 * What a job gets unless the operator says otherwise: at most 90% of the host's memory, so one
 * runaway job meets the OOM killer inside its cgroup and not the agent; 4096 processes, which no
 * build needs and which stops a fork bomb; no CPU quota (jobs share the CPUs).
 */
export function defaultLimits(): JobLimits {
  return { memoryBytes: Math.floor((os.totalmem() * 0.9) / (1 << 20)) * (1 << 20), pids: 4096, cpus: null };
}


/**
 * Call with the agent home locked (home-lock.ts): the sandbox kills what a previous process of
 * this agent home left running, which must not be another live agent's jobs.
 */
export function openIsolation(s: IsolationSettings): OpenedIsolation {
  if (s.asked === 'none') return { isolation: new NoIsolation(s.agentEnv), notices: ['isolation none: jobs run as this agent\'s user and see what it sees (docs/SECURITY.md)'] };
  const uidBase = s.uidBase ?? defaultUidBase(s.agentHome);
  const cgroupName = crypto.createHash('sha256').update(path.resolve(s.agentHome)).digest('hex').slice(0, 12);
  const unavailable = (problems: HostProblem[]): OpenedIsolation => {
    if (s.asked === 'sandbox') {
      throw new GantryError('GANTRY_E_SANDBOX_UNAVAILABLE', `this host cannot run jobs in the sandbox:\n${formatProblems(problems)}\n  (or run with --isolation none: jobs are then not isolated)`);
    }
    return {
      isolation: new NoIsolation(s.agentEnv),
      notices: [`isolation none: this host cannot run jobs in the sandbox, so jobs are NOT isolated:\n${formatProblems(problems)}`],
    };
  };
  const support = checkHostSupport({ pathVar: s.agentEnv.PATH, uidBase, cgroupName });
  if (Array.isArray(support)) return unavailable(support);
  const limits = { ...defaultLimits(), ...s.limits };
  const isolation = new SandboxIsolation({
    agentHome: s.agentHome,
    support,
    uidBase,
    limits,
    agentEnv: s.agentEnv,
    extraEnv: s.extraEnv,
    extraReadOnly: s.extraReadOnly,
    shared: s.shared,
    hidden: s.hidden,
  });
  const strangers = strangersInRange(uidBase);
  if (strangers.length > 0) return unavailable(strangers);
  const notices = [`isolation sandbox: job users ${uidBase}-${uidBase + 127}, cgroup v${support.cgroups.version}, bubblewrap ${support.bwrap}`];
  if (isolation.leftovers > 0) notices.push(`killed the processes of ${isolation.leftovers} job${isolation.leftovers === 1 ? '' : 's'} a previous agent process left running`);
  return { isolation, notices };
}

/**
 * What `gantry agent` and `gantry up` hand the remote agent: the level opened (its notices said
 * through `say`, a warning when jobs are not isolated), and under the sandbox the isolation check
 * it runs once connected.
 */
export function agentIsolation(s: IsolationSettings, say: (line: string, warning: boolean) => void): () => Promise<{ isolation: Isolation; check: (() => Promise<IsolationCheck>) | null }> {
  return async () => {
    const opened = openIsolation(s);
    for (const n of opened.notices) say(n, opened.isolation.level === 'none');
    const check = opened.isolation.level === 'sandbox' ? () => checkIsolation(opened.isolation, { agentHome: s.agentHome, secretFiles: s.hidden }) : null;
    return { isolation: opened.isolation, check };
  };
}
