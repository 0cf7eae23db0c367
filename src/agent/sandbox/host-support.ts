// Whether this host can run jobs in the sandbox, and if not, why and how to fix it. An agent
// asked for `sandbox` refuses to start on a host that cannot; one left to choose takes `none` and
// says why.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { findExecutable } from '../find-executable.js';
import { openCgroupRoot, type CgroupProblem, type CgroupRoot } from './cgroups.js';
import { processesInRange, usersOfRange } from './slot-users.js';

export interface HostSupport {
  bwrap: string;
  /** util-linux's setpriv: the step becomes the slot's user with it. */
  setpriv: string;
  cgroups: CgroupRoot;
}

export type HostProblem = CgroupProblem;

/**
 * Processes running as the job users (checked once this agent's own leftovers are killed): another
 * agent's jobs, which a job of ours could then signal or trace.
 */
export function strangersInRange(uidBase: number): HostProblem[] {
  const strangers = processesInRange(uidBase);
  if (strangers.length === 0) return [];
  return [
    {
      problem: `processes ${strangers.slice(0, 5).join(', ')} run as the job users' ids ${uidBase}-${uidBase + 127} (another agent's jobs?)`,
      fix: 'give each agent on this host its own GANTRY_AGENT_HOME (ranges follow it) or --sandbox-uid-base',
    },
  ];
}

export interface HostCheckInputs {
  /** The agent's PATH, to find bwrap. */
  pathVar: string | undefined;
  uidBase: number;
  /** Names this agent's job cgroups (one per agent home). */
  cgroupName: string;
}

export function checkHostSupport(i: HostCheckInputs): HostSupport | HostProblem[] {
  const problems: HostProblem[] = [];
  if (process.platform !== 'linux') return [{ problem: `the sandbox needs Linux namespaces and cgroups; this is ${process.platform}`, fix: 'run jobs on a Linux agent, or use --isolation none (jobs are not isolated)' }];
  if (process.getuid?.() !== 0) {
    problems.push({
      problem: 'the agent does not run as root: each job slot runs as a user of its own, which only root can switch to; namespaces and job cgroups need root too',
      fix: 'run `gantry agent` as root (a system service), or use --isolation none (jobs run as the agent\'s user and are not isolated)',
    });
  }
  const bwrap = findExecutable('bwrap', i.pathVar);
  if (!bwrap) problems.push({ problem: 'bubblewrap (bwrap) is not installed', fix: 'apt-get install bubblewrap (Fedora, RHEL: dnf install bubblewrap; Alpine: apk add bubblewrap)' });
  const setpriv = findExecutable('setpriv', i.pathVar);
  if (!setpriv) problems.push({ problem: "util-linux's setpriv is not installed", fix: 'apt-get install util-linux (Fedora, RHEL: dnf install util-linux; Alpine: apk add setpriv)' });
  if (problems.length > 0) return problems;

  for (const used of usersOfRange(i.uidBase)) problems.push({ problem: `the job users' ids ${i.uidBase}-${i.uidBase + 127} are taken (${used})`, fix: 'give this agent another range with --sandbox-uid-base N' });
  // The real thing, once: the namespaces a job gets, and the switch to a job user.
  const probe = spawnSync(
    bwrap!,
    ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--', setpriv!, `--reuid=${i.uidBase}`, `--regid=${i.uidBase}`, '--clear-groups', '--', '/bin/sh', '-c', 'exit 0'],
    { cwd: '/', env: {}, encoding: 'utf8', timeout: 10_000 },
  );
  if (probe.status !== 0) {
    const said = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim().split('\n')[0];
    problems.push({
      problem: `bubblewrap cannot make a job's namespaces here (${said})`,
      fix: 'run the agent on the host or in a VM, not in an unprivileged container (bubblewrap needs CAP_SYS_ADMIN to make mount and PID namespaces)',
    });
  }
  const cgroups = openCgroupRoot(i.cgroupName);
  if (Array.isArray(cgroups)) problems.push(...cgroups);
  return problems.length > 0 || Array.isArray(cgroups) ? problems : { bwrap: bwrap!, setpriv: setpriv!, cgroups };
}

/** Why this host cannot run the sandbox, in words (null: it can). For tests and benchmarks. */
export function sandboxUnavailableReason(pathVar: string | undefined): string | null {
  const r = checkHostSupport({ pathVar, uidBase: 2_147_000_000, cgroupName: `probe-${process.pid}` });
  if (!Array.isArray(r)) {
    for (const d of r.cgroups.dirs) fs.rmdirSync(d);
    return null;
  }
  return formatProblems(r);
}

export function formatProblems(problems: HostProblem[]): string {
  return problems.map((p) => `  - ${p.problem}\n    fix: ${p.fix}`).join('\n');
}
