// The isolation flags `gantry agent`, `gantry up` and `gantry run` share, read into the settings
// src/agent/sandbox/open-isolation.ts chooses a level from.

import path from 'node:path';
import type { Command } from 'commander';
import { GantryError } from '../domain/errors.js';
import type { IsolationLevel, JobLimits } from '../domain/isolation.js';
import type { IsolationSettings } from '../agent/sandbox/open-isolation.js';
import { collectList } from './options.js';
import type { CliContext } from './context.js';

export interface IsolationFlags {
  isolation?: string;
  memory?: string;
  pids?: string;
  cpus?: string;
  sandboxRo?: string[];
  sandboxRw?: string[];
  sandboxEnv?: string[];
  sandboxUidBase?: string;
}

/** What an agent's --isolation defaults to, in its help. */
export const AGENT_DEFAULT = 'sandbox where this host can (Linux, root, bubblewrap, cgroups), else none';

export function addIsolationOptions(cmd: Command, defaultWords: string): Command {
  return cmd
    .option('--isolation <level>', `none (jobs run as this user and see what it sees) or sandbox (docs/SECURITY.md); default ${defaultWords}`)
    .option('--memory <size>', "a job's memory limit in the sandbox, e.g. 2G or 512M (default: 90% of this host's memory); projects may ask for less")
    .option('--pids <n>', "a job's process limit in the sandbox (default 4096)")
    .option('--cpus <n>', "a job's CPU limit in the sandbox, in CPUs, e.g. 1.5 (default: none)")
    .option('--sandbox-ro <path>', 'a host directory jobs see read-only besides /usr, /etc, /bin, /lib (repeatable)', collectList)
    .option('--sandbox-rw <path>', 'a host directory every sandboxed job may write, shared by all projects (a tool cache you trust them all with; repeatable)', collectList)
    .option('--sandbox-env <name>', "an environment variable of this process that sandboxed jobs get (repeatable)", collectList)
    .option('--sandbox-uid-base <uid>', 'the first of the 128 user ids jobs run as (default: derived from the agent home)');
}

/** "2G", "512M", "1.5GiB", "1048576": bytes. */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new GantryError('GANTRY_E_USAGE', `${flag} expects a size such as 2G, 512M or a number of bytes, got ${JSON.stringify(s)}`);
  const unit = { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30, T: 2 ** 40 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  const n = Math.floor(Number(m[1]) * unit);
  if (n < 16 << 20) throw new GantryError('GANTRY_E_USAGE', `${flag}: at least 16M (a shell and a few tools need that much)`);
  return n;
}

function parseLevel(s: string | undefined): IsolationLevel | null {
  if (s === undefined) return null;
  if (s === 'none' || s === 'sandbox') return s;
  throw new GantryError('GANTRY_E_USAGE', `--isolation expects none or sandbox, got ${JSON.stringify(s)}`);
}

export function isolationSettings(
  flags: IsolationFlags,
  ctx: CliContext,
  o: { agentHome: string; fallback: IsolationLevel | null; hidden: string[] },
): IsolationSettings {
  const limits: Partial<JobLimits> = {};
  if (flags.memory !== undefined) limits.memoryBytes = parseSize(flags.memory, '--memory');
  if (flags.pids !== undefined) {
    const n = Number(flags.pids);
    if (!Number.isInteger(n) || n < 16) throw new GantryError('GANTRY_E_USAGE', `--pids expects a whole number of at least 16, got ${JSON.stringify(flags.pids)}`);
    limits.pids = n;
  }
  if (flags.cpus !== undefined) {
    const n = Number(flags.cpus);
    if (!Number.isFinite(n) || n <= 0 || n > 1024) throw new GantryError('GANTRY_E_USAGE', `--cpus expects a number of CPUs above 0, got ${JSON.stringify(flags.cpus)}`);
    limits.cpus = n;
  }
  let uidBase: number | null = null;
  if (flags.sandboxUidBase !== undefined) {
    uidBase = Number(flags.sandboxUidBase);
    if (!Number.isInteger(uidBase) || uidBase < 1000 || uidBase > 2 ** 31 - 200) throw new GantryError('GANTRY_E_USAGE', `--sandbox-uid-base expects a user id from 1000 to ${2 ** 31 - 200}`);
  }
  for (const p of flags.sandboxRo ?? []) if (!path.isAbsolute(p)) throw new GantryError('GANTRY_E_USAGE', `--sandbox-ro expects an absolute path, got ${JSON.stringify(p)}`);
  for (const p of flags.sandboxRw ?? []) if (!path.isAbsolute(p)) throw new GantryError('GANTRY_E_USAGE', `--sandbox-rw expects an absolute path, got ${JSON.stringify(p)}`);
  return {
    asked: parseLevel(flags.isolation) ?? ctx.config.agent.isolation ?? o.fallback,
    agentHome: o.agentHome,
    agentEnv: ctx.config.env,
    limits,
    extraEnv: flags.sandboxEnv ?? [],
    extraReadOnly: (flags.sandboxRo ?? []).map((p) => path.resolve(p)),
    shared: (flags.sandboxRw ?? []).map((p) => path.resolve(p)),
    uidBase,
    hidden: [...new Set([o.agentHome, ctx.config.home, ...o.hidden].map((p) => path.resolve(p)))],
  };
}
