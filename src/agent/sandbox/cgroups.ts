// Resource limits for jobs: one control group per job, under the agent's own, with a memory, a
// process and a CPU limit. cgroup v2 where the host has its controllers on the unified hierarchy;
// v1 where it has only that (one hierarchy per controller, as on these machines).
//
// A job's processes are born in its cgroup: the launcher steps into the job's cgroup, forks the
// job, and steps back (JobCgroup.enter / leave, in the launcher). Moving a job in after it started
// would race with its first forks; a wrapper process that moves itself first would cost one more
// exec on every step of every job.

import fs from 'node:fs';
import path from 'node:path';
import type { JobLimits } from '../../domain/isolation.js';

export type CgroupVersion = 1 | 2;

/** The controllers the sandbox needs: memory, pids and cpu. */
const CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
type Controller = (typeof CONTROLLERS)[number];

export interface CgroupProblem {
  problem: string;
  fix: string;
}

/** Where the agent keeps its jobs' cgroups. */
export interface CgroupRoot {
  readonly version: CgroupVersion;
  /** Per controller (v1) or once (v2): the directory holding this agent's job cgroups. */
  readonly dirs: string[];
  /** The cgroup.procs files of the cgroups the agent and its launcher live in: where the launcher steps back to. */
  readonly home: string[];
}

interface Mounts {
  v1: Map<Controller, string>;
  v2: string | null;
}

function readMounts(): Mounts {
  const v1 = new Map<Controller, string>();
  let v2: string | null = null;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory"
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4]!;
    const [fstype, , superOptions] = right.split(' ');
    if (fstype === 'cgroup2') v2 ??= mountPoint;
    else if (fstype === 'cgroup') {
      const opts = (superOptions ?? '').split(',');
      for (const c of CONTROLLERS) if (opts.includes(c) && !v1.has(c)) v1.set(c, mountPoint);
    }
  }
  return { v1, v2 };
}

/** This process's cgroup path per v1 controller, and on the unified hierarchy ("0::/path"). */
function readOwnPaths(): { v1: Map<Controller, string>; v2: string | null } {
  const v1 = new Map<Controller, string>();
  let v2: string | null = null;
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') v2 = m[3]!;
    else for (const c of m[2]!.split(',')) if ((CONTROLLERS as readonly string[]).includes(c)) v1.set(c as Controller, m[3]!);
  }
  return { v1, v2 };
}

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds where this agent may create job cgroups, and creates its directory there (`name`: one per
 * agent home, so two agents on one host never share one). Problems come back in words with a fix.
 */
export function openCgroupRoot(name: string): CgroupRoot | CgroupProblem[] {
  let mounts: Mounts;
  let own: ReturnType<typeof readOwnPaths>;
  try {
    mounts = readMounts();
    own = readOwnPaths();
  } catch (e) {
    return [{ problem: `cannot read this process's cgroups (${(e as Error).message})`, fix: 'run the agent on Linux with /proc mounted' }];
  }
  const v2Controllers = mounts.v2 && own.v2 !== null ? controllersOf(path.join(mounts.v2, own.v2)) : [];
  if (mounts.v2 && own.v2 !== null && CONTROLLERS.every((c) => v2Controllers.includes(c))) return openV2(path.join(mounts.v2, own.v2), name);
  const missing = CONTROLLERS.filter((c) => !mounts.v1.has(c) || !own.v1.has(c));
  if (missing.length > 0) {
    return [
      {
        problem: `the ${missing.join(', ')} cgroup controller${missing.length > 1 ? 's are' : ' is'} not mounted (neither cgroup v2 with them enabled nor v1)`,
        fix: 'mount cgroup v2 at /sys/fs/cgroup with the memory, pids and cpu controllers enabled for the agent (systemd: Delegate=yes), or mount the v1 hierarchies',
      },
    ];
  }
  const dirs: string[] = [];
  const home: string[] = [];
  const problems: CgroupProblem[] = [];
  for (const c of CONTROLLERS) {
    const ownDir = path.join(mounts.v1.get(c)!, own.v1.get(c)!);
    const dir = path.join(ownDir, 'gantry-jobs', name);
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      problems.push({ problem: `cannot create ${dir} (${(e as NodeJS.ErrnoException).code})`, fix: 'run the agent as root, or give it a delegated cgroup it may write' });
      continue;
    }
    dirs.push(dir);
    home.push(path.join(ownDir, 'cgroup.procs'));
  }
  return problems.length > 0 ? problems : { version: 1, dirs, home };
}

function controllersOf(dir: string): string[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}

/**
 * cgroup v2 allows processes only in leaves once controllers are enabled below a cgroup: the
 * agent's own processes move to a leaf (`agent`) beside the jobs' subtree (`jobs`), as a systemd
 * service with Delegate=yes is expected to do. If anything else lives in the agent's cgroup, that
 * is refused with how to fix it.
 */
function openV2(ownDir: string, name: string): CgroupRoot | CgroupProblem[] {
  const fix = 'run the agent in a cgroup of its own that it may write (systemd: a service with Delegate=yes), as root';
  if (!writable(ownDir)) return [{ problem: `the agent's cgroup ${ownDir} is not writable`, fix }];
  const leaf = path.join(ownDir, 'agent');
  const jobs = path.join(ownDir, 'jobs');
  try {
    fs.mkdirSync(leaf, { recursive: true });
    const procs = fs.readFileSync(path.join(ownDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    for (const pid of procs) fs.writeFileSync(path.join(leaf, 'cgroup.procs'), pid);
    fs.writeFileSync(path.join(ownDir, 'cgroup.subtree_control'), CONTROLLERS.map((c) => `+${c}`).join(' '));
    fs.mkdirSync(jobs, { recursive: true });
    fs.writeFileSync(path.join(jobs, 'cgroup.subtree_control'), CONTROLLERS.map((c) => `+${c}`).join(' '));
    const dir = path.join(jobs, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), CONTROLLERS.map((c) => `+${c}`).join(' '));
    return { version: 2, dirs: [dir], home: [path.join(leaf, 'cgroup.procs')] };
  } catch (e) {
    return [{ problem: `cannot set up job cgroups under ${ownDir} (${(e as Error).message})`, fix }];
  }
}

/** One job's cgroup (one directory per v1 controller, or one on v2). */
export class JobCgroup {
  private constructor(
    readonly version: CgroupVersion,
    readonly dirs: string[],
  ) {}

  /** Creates the job's cgroup with its limits (a null limit: none of that kind). */
  static create(root: CgroupRoot, name: string, limits: JobLimits): JobCgroup {
    const dirs = root.dirs.map((d) => path.join(d, name));
    for (const d of dirs) {
      // A leftover of the same name (a crashed agent's) is emptied and removed first.
      if (fs.existsSync(d)) removeCgroup(d);
      fs.mkdirSync(d);
    }
    const cg = new JobCgroup(root.version, dirs);
    cg.apply(limits);
    return cg;
  }

  /** The cgroup.procs files a process writes its pid to, to enter the job's cgroup. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d, 'cgroup.procs'));
  }

  private file(controller: Controller, name: string): string {
    if (this.version === 2) return path.join(this.dirs[0]!, name);
    return path.join(this.dirs[CONTROLLERS.indexOf(controller)]!, name);
  }

  private apply(l: JobLimits): void {
    const period = 100_000;
    if (this.version === 1) {
      if (l.memoryBytes !== null) {
        fs.writeFileSync(this.file('memory', 'memory.limit_in_bytes'), String(l.memoryBytes));
        // Swap counts too, where the kernel accounts it: the limit is memory, not memory + swap.
        const memsw = this.file('memory', 'memory.memsw.limit_in_bytes');
        if (fs.existsSync(memsw)) fs.writeFileSync(memsw, String(l.memoryBytes));
      }
      if (l.pids !== null) fs.writeFileSync(this.file('pids', 'pids.max'), String(l.pids));
      if (l.cpus !== null) {
        fs.writeFileSync(this.file('cpu', 'cpu.cfs_period_us'), String(period));
        fs.writeFileSync(this.file('cpu', 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(l.cpus * period))));
      }
    } else {
      if (l.memoryBytes !== null) {
        fs.writeFileSync(this.file('memory', 'memory.max'), String(l.memoryBytes));
        const swap = this.file('memory', 'memory.swap.max');
        if (fs.existsSync(swap)) fs.writeFileSync(swap, '0');
      }
      if (l.pids !== null) fs.writeFileSync(this.file('pids', 'pids.max'), String(l.pids));
      if (l.cpus !== null) fs.writeFileSync(this.file('cpu', 'cpu.max'), `${Math.max(1000, Math.round(l.cpus * period))} ${period}`);
    }
  }

  /** Processes the kernel's OOM killer ended in this cgroup so far. */
  oomKills(): number {
    try {
      const text = fs.readFileSync(this.file('memory', this.version === 1 ? 'memory.oom_control' : 'memory.events'), 'utf8');
      const m = /^oom_kill (\d+)$/m.exec(text);
      if (m) return Number(m[1]);
      // Kernels before 4.13 do not count kills in v1: a hit limit is the best sign left.
      if (this.version === 1) return Number(fs.readFileSync(this.file('memory', 'memory.failcnt'), 'utf8').trim()) > 0 ? 1 : 0;
    } catch {
      // gone already
    }
    return 0;
  }

  /** The pids of every process in the job's cgroup now. */
  pids(): number[] {
    return pidsOf(this.dirs[0]!);
  }

  /** SIGKILLs every process of the job but `spare` (the sandbox's launcher, should it be there to fork), until none is left. */
  killAll(spare = 0): void {
    for (let round = 0; round < 200; round++) {
      const pids = this.pids().filter((p) => p !== spare);
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, round === 0 ? 1 : 5);
    }
  }

  /**
   * SIGKILLs every process of the job and removes its cgroup. The usual job has left nothing (what
   * each step left was killed when it ended): then the directories go without waiting, off the path of
   * the slot's next job.
   */
  remove(): void {
    if (this.pids().length > 0) {
      for (const d of this.dirs) removeCgroup(d);
      return;
    }
    for (const d of this.dirs) fs.rmdir(d, (err) => err && removeCgroup(d));
  }
}

function pidsOf(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Kills whatever is left in a cgroup (and its children, a job may not make any: it cannot write
 * there) and removes it. Bounded: a process that will not die (stuck in the kernel) leaves the
 * directory behind rather than hanging the agent; it is tried again when the agent next starts.
 */
export function removeCgroup(dir: string): void {
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroup(path.join(dir, e.name));
  const kill = path.join(dir, 'cgroup.kill');
  if (fs.existsSync(kill)) {
    try {
      fs.writeFileSync(kill, '1');
    } catch {
      // fall back to one process at a time
    }
  }
  for (let round = 0; round < 200; round++) {
    const pids = pidsOf(dir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (round > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // still busy: left for the next start
  }
}

/** Removes the agent's own directory of job cgroups, when it stops (what is in it is killed). */
export function removeCgroupRoot(root: CgroupRoot): void {
  for (const d of root.dirs) removeCgroup(d);
}

/** Removes every job cgroup a previous agent process left (its jobs killed with them). */
export function removeLeftoverCgroups(root: CgroupRoot): number {
  let n = 0;
  for (const d of root.dirs) {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (pidsOf(path.join(d, e.name)).length > 0) n++;
      removeCgroup(path.join(d, e.name));
    }
  }
  return n;
}
