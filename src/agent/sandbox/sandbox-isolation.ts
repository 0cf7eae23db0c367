// The `sandbox` isolation level (docs/SECURITY.md): each job step runs in bubblewrap as its slot's
// user, in the job's cgroup, seeing the view jobView builds and nothing else.

import fs from 'node:fs';
import path from 'node:path';
import type { JobLimits } from '../../domain/isolation.js';
import { describeLimits, effectiveLimits, type Isolation, type JobIsolation, type JobIsolationRequest, type Owner } from '../isolation.js';
import { procStatOf } from '../process-identity.js';
import { bwrapLaunch } from './bwrap.js';
import { JobCgroup, removeCgroupRoot, removeLeftoverCgroups } from './cgroups.js';
import type { HostSupport } from './host-support.js';
import { sandboxEnvironment } from './job-environment.js';
import { DEFAULT_SYSTEM_PATHS, jobView, type JobView } from './job-view.js';
import { slotUser, writeAccountFiles } from './slot-users.js';

/** $HOME inside the sandbox: the slot's own directory, emptied before each job. */
export const JOB_HOME = '/home/gantry';

export interface SandboxOptions {
  /** The agent's home: the sandbox's own files go under `sandbox/` there. */
  agentHome: string;
  support: HostSupport;
  uidBase: number;
  /** The most a job may use here, and what it gets unless its project asks for less. */
  limits: JobLimits;
  agentEnv: Record<string, string>;
  /** `--sandbox-env NAME`: more of the agent's environment passed to jobs. */
  extraEnv: string[];
  /** `--sandbox-ro PATH`: more host directories shown read-only. */
  extraReadOnly: string[];
  /** `--sandbox-rw PATH`: host directories every job may write (shared between projects). */
  shared: string[];
  /** Paths of the agent and the server never shown, even inside a system directory. */
  hidden: string[];
}

export class SandboxIsolation implements Isolation {
  readonly level = 'sandbox';
  readonly limits: JobLimits;
  private readonly dir: string;
  private readonly accounts: { passwd: string; group: string };
  private seq = 0;

  /** Kills and removes what a previous process of this agent left: `leftovers` is how many job cgroups still had processes. */
  readonly leftovers: number;

  constructor(private readonly o: SandboxOptions) {
    this.limits = o.limits;
    this.dir = path.join(o.agentHome, 'sandbox');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.leftovers = removeLeftoverCgroups(o.support.cgroups);
    fs.rmSync(path.join(this.dir, 'slots'), { recursive: true, force: true });
    this.accounts = writeAccountFiles(path.join(this.dir, 'accounts'), o.uidBase, JOB_HOME);
  }

  close(): void {
    removeCgroupRoot(this.o.support.cgroups);
  }

  forJob(r: JobIsolationRequest): JobIsolation {
    const user = slotUser(this.o.uidBase, r.slot);
    const owner: Owner = { uid: user.uid, gid: user.gid };
    const slotDir = path.join(this.dir, 'slots', String(r.slot));
    const tmp = path.join(slotDir, 'tmp');
    const home = path.join(slotDir, 'home');
    for (const d of [tmp, home]) {
      fs.rmSync(d, { recursive: true, force: true });
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      fs.chownSync(d, owner.uid, owner.gid);
    }
    const o = this.o;
    const support = o.support;
    const limits = effectiveLimits(this.limits, r.limits);
    const cgroup = JobCgroup.create(support.cgroups, `${r.slot}-${process.pid}-${++this.seq}`, limits);
    const view = jobView({
      user,
      slot: { workspace: r.workspace, tmp, home },
      homeInside: JOB_HOME,
      systemPaths: [...DEFAULT_SYSTEM_PATHS, ...o.extraReadOnly],
      shared: o.shared,
      readOnly: r.borrowedObjects ? [{ source: r.borrowedObjects, path: r.borrowedObjects }] : [],
      accounts: this.accounts,
      hidden: o.hidden,
      network: r.network,
    });
    return {
      level: 'sandbox',
      summary: `isolation sandbox (user ${user.name}), network ${r.network === 'none' ? 'none (loopback only)' : 'full'}, ${describeLimits(limits)}`,
      owner,
      // A long script is written into the job's own /tmp: the job reads it there.
      scriptDir: { host: tmp, job: '/tmp' },
      adoptWorkspace: (dir) => adoptTree(dir, owner),
      baseEnv: sandboxEnvironment(o.agentEnv, o.extraEnv, { user: user.name, home: JOB_HOME }),
      step: (c) => {
        unplantMountPoints(view, tmp);
        const b = bwrapLaunch(support, view, c.env, { file: c.file, args: c.args });
        return {
          file: b.file,
          args: b.args,
          cwd: '/',
          env: {},
          outputPath: c.outputPath,
          sandbox: { options: b.options, argsFd: b.argsFd, cgroupEnter: cgroup.procsFiles, cgroupLeave: support.cgroups.home },
        };
      },
      signal: (leader, sig) => signalJob(cgroup, leader, sig),
      oomKills: () => cgroup.oomKills(),
      dispose: () => {
        cgroup.remove();
        // What the job left in /tmp and its home goes now, in the background (a job that filled
        // /tmp does not hold up the next one), under a name the slot's next job does not use.
        for (const d of [tmp, home]) {
          const gone = `${d}.gone-${process.pid}-${++this.seq}`;
          try {
            fs.renameSync(d, gone);
          } catch {
            continue; // already gone
          }
          fs.rm(gone, { recursive: true, force: true }, () => {});
        }
      },
    };
  }
}

/**
 * The job's /tmp lasts from one step of the job to the next, and the mount points below /tmp (a
 * workspace under an agent home in /tmp, a shared directory there) are made inside it. bubblewrap
 * makes them as root, seeing the host's root at /oldroot while it builds the view, and follows
 * symlinks: a step that leaves `/tmp/<dir on the way>` a symlink to `/oldroot/...` would have the
 * next step's bubblewrap create directories on the host, and mount the workspace away from where
 * the job runs. So before each step, anything on the way to such a mount point that is not a
 * directory is removed. Nothing of the job can race this: its processes died with the previous
 * step's PID namespace.
 */
function unplantMountPoints(view: JobView, hostTmp: string): void {
  /** Mount points whose contents come from elsewhere (a host directory, a tmpfs): not the job's /tmp beyond them. */
  const covered: string[] = [];
  for (const m of view.mounts) {
    if (m.path !== '/tmp' && m.path.startsWith('/tmp/')) {
      const parts = m.path.slice('/tmp/'.length).split('/');
      for (let i = 1; i <= parts.length; i++) {
        const inside = `/tmp/${parts.slice(0, i).join('/')}`;
        if (covered.includes(inside)) break;
        const onHost = path.join(hostTmp, ...parts.slice(0, i));
        let st: fs.Stats;
        try {
          st = fs.lstatSync(onHost);
        } catch {
          break; // not there: bubblewrap makes it, and what is below it too
        }
        if (!st.isDirectory()) {
          fs.rmSync(onHost, { force: true });
          break;
        }
      }
    }
    if (m.kind !== 'dir' && m.kind !== 'symlink') covered.push(m.path);
  }
}

/**
 * SIGTERM goes to the job's processes but not to bubblewrap (the leader, and its child that is
 * init of the job's PID namespace): bwrap dying takes the whole namespace down at once, which
 * would cut the grace period short. SIGKILL goes to everything in the job's cgroup.
 */
function signalJob(cgroup: JobCgroup, leader: number, sig: 'SIGTERM' | 'SIGKILL'): void {
  for (const pid of cgroup.pids()) {
    if (sig === 'SIGTERM' && (pid === leader || Number(procStatOf(pid)?.[1]) === leader)) continue;
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  }
  if (sig === 'SIGKILL') {
    try {
      process.kill(-leader, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * Gives every entry of the workspace to the job's user (symlinks themselves, never what they
 * point at): for caches and artifacts just extracted into it (what Snapshot.materialize lays
 * down carries the owner already). A file with several links is left alone: the agent never
 * makes one, so it is not the job's to own.
 */
function adoptTree(dir: string, owner: Owner): void {
  const adopt = (p: string, st: fs.Stats) => {
    if (st.uid === owner.uid && st.gid === owner.gid) return;
    if (st.isFile() && st.nlink > 1) return;
    fs.lchownSync(p, owner.uid, owner.gid);
  };
  adopt(dir, fs.lstatSync(dir));
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      adopt(p, st);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
}
