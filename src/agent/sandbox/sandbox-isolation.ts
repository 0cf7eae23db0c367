// The `sandbox` isolation level (docs/SECURITY.md): each job step runs in bubblewrap as its slot's
// user, in the job's cgroup, seeing the view jobView builds and nothing else. The bubblewrap is
// the slot's standing sandbox (standing-sandbox.ts), kept from job to job while they need the
// same view; what a job leaves in it (processes, /tmp, home) is removed when the job ends.

import fs from 'node:fs';
import path from 'node:path';
import type { JobLimits } from '../../domain/isolation.js';
import { describeLimits, effectiveLimits, type Isolation, type JobIsolation, type JobIsolationRequest, type Owner } from '../isolation.js';
import { JobCgroup, removeCgroupRoot, removeLeftoverCgroups } from './cgroups.js';
import type { HostSupport } from './host-support.js';
import { sandboxEnvironment } from './job-environment.js';
import { DEFAULT_SYSTEM_PATHS, jobView, LAUNCHER_DIR, type JobView } from './job-view.js';
import { IN_SANDBOX_LAUNCHER, StandingSandbox } from './standing-sandbox.js';
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

/** A slot's standing sandbox is closed after this long without a job. */
const IDLE_MS = 60_000;

export class SandboxIsolation implements Isolation {
  readonly level = 'sandbox';
  readonly limits: JobLimits;
  private readonly dir: string;
  private readonly accounts: { passwd: string; group: string };
  private seq = 0;
  /** Per slot: its standing sandbox, or the closing of the last one (then its /tmp is emptied). */
  private readonly slots = new Map<number, { sandbox: StandingSandbox | null; closing: Promise<void>; idle: NodeJS.Timeout | null }>();

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
    for (const s of this.slots.values()) {
      if (s.idle) clearTimeout(s.idle);
      s.sandbox?.close();
    }
    this.slots.clear();
    removeCgroupRoot(this.o.support.cgroups);
  }

  forJob(r: JobIsolationRequest): JobIsolation {
    const user = slotUser(this.o.uidBase, r.slot);
    const owner: Owner = { uid: user.uid, gid: user.gid };
    const slotDir = path.join(this.dir, 'slots', String(r.slot));
    const paths = { tmp: path.join(slotDir, 'tmp'), home: path.join(slotDir, 'home'), control: path.join(slotDir, 'ctl') };
    fs.mkdirSync(paths.control, { recursive: true, mode: 0o700 });
    for (const d of [paths.tmp, paths.home]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      // The job may have changed its own directories' modes: each job starts from these.
      fs.chmodSync(d, 0o700);
      fs.chownSync(d, owner.uid, owner.gid);
    }
    const o = this.o;
    const support = o.support;
    const slot = this.slotState(r.slot);
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = null;
    // Two jobs share a sandbox only when it shows them the same: the same workspace (so the same
    // project), the same borrowed objects, the same network, the same trust.
    const key = JSON.stringify([r.workspace, r.borrowedObjects, r.network, r.trusted]);
    if (slot.sandbox && (!slot.sandbox.alive || slot.sandbox.key !== key || !mountPointsIntact(slot.sandbox.view, paths.tmp))) this.closeSandbox(r.slot, paths);
    const limits = effectiveLimits(this.limits, r.limits);
    const cgroup = JobCgroup.create(support.cgroups, `${r.slot}-${process.pid}-${++this.seq}`, limits);
    /** Whether this job has started a step yet: only its first is checked for what an earlier job left. */
    let started = false;
    const sandboxFor = async (): Promise<StandingSandbox> => {
      await slot.closing;
      const standing = slot.sandbox;
      if (standing?.alive) {
        // A job's first step in a sandbox an earlier job used: SysV IPC objects that job left
        // would outlive it there; then this job gets a new sandbox.
        if (started || !standing.used || !(await standing.holdsIpcObjects())) return standing;
        this.closeSandbox(r.slot, paths, { emptyTmp: false });
        await slot.closing;
      }
      const view = jobView({
        user,
        slot: { workspace: r.workspace, tmp: paths.tmp, home: paths.home },
        homeInside: JOB_HOME,
        systemPaths: [...DEFAULT_SYSTEM_PATHS, ...o.extraReadOnly],
        shared: o.shared,
        readOnly: r.borrowedObjects ? [{ source: r.borrowedObjects, path: r.borrowedObjects }] : [],
        accounts: this.accounts,
        hidden: o.hidden,
        network: r.network,
        launcher: { control: paths.control, node: process.execPath, script: IN_SANDBOX_LAUNCHER, setpriv: support.setpriv },
      });
      unplantMountPoints(view, paths.tmp);
      slot.sandbox = new StandingSandbox(support.bwrap, view, key);
      return slot.sandbox;
    };
    const spare = () => slot.sandbox?.launcher ?? 0;
    return {
      level: 'sandbox',
      summary: `isolation sandbox (user ${user.name}), network ${r.network === 'none' ? 'none (loopback only)' : 'full'}, ${describeLimits(limits)}`,
      owner,
      // A long script is written into the job's own /tmp: the job reads it there.
      scriptDir: { host: paths.tmp, job: '/tmp' },
      spoolPath: path.join(paths.control, SPOOL_NAME),
      adoptWorkspace: (dir) => adoptTree(dir, owner),
      baseEnv: sandboxEnvironment(o.agentEnv, o.extraEnv, { user: user.name, home: JOB_HOME }),
      start: async (c) => {
        // A step may have moved the directories on the way to a mount point in its /tmp: the
        // next one gets a new sandbox rather than a workspace out of its sight.
        if (slot.sandbox && !mountPointsIntact(slot.sandbox.view, paths.tmp)) this.closeSandbox(r.slot, paths, { emptyTmp: false });
        const sandbox = await sandboxFor();
        started = true;
        const launched = await sandbox.run(
          { file: c.file, args: c.args, cwd: c.cwd, env: c.env, uid: user.uid, gid: user.gid, output: `${LAUNCHER_DIR}/ctl/${SPOOL_NAME}` },
          { enter: cgroup.procsFiles, leave: support.cgroups.home },
        );
        // What the step started dies with it, as under `none` (its process group) and as GitLab's
        // shell executor does: nothing of one step runs into the next, or past the job.
        return { pid: launched.pid, exited: launched.exited.then((exit) => (cgroup.killAll(spare()), exit)) };
      },
      signal: (_leader, sig) => signalJob(cgroup, sig, spare()),
      oomKills: () => cgroup.oomKills(),
      dispose: (d) => {
        cgroup.remove();
        // What the job left in /tmp and its home goes now; the mount points the sandbox made in
        // /tmp stay (they are root's, the job cannot write in them) while the sandbox stands.
        this.empty(paths.tmp, slot.sandbox ? mountPointRoots(slot.sandbox.view) : new Set(), slotDir);
        this.empty(paths.home, new Set(), slotDir);
        if (d?.last) this.closeSandbox(r.slot, paths);
        else {
          slot.idle = setTimeout(() => this.closeSandbox(r.slot, paths), IDLE_MS);
          slot.idle.unref();
        }
      },
    };
  }

  private slotState(n: number) {
    let s = this.slots.get(n);
    if (!s) this.slots.set(n, (s = { sandbox: null, closing: Promise.resolve(), idle: null }));
    return s;
  }

  /** Ends a slot's standing sandbox; once it is gone, its /tmp is emptied of everything, mount points included (unless in the middle of a job). */
  private closeSandbox(n: number, paths: { tmp: string }, o = { emptyTmp: true }): void {
    const s = this.slotState(n);
    if (s.idle) clearTimeout(s.idle);
    s.idle = null;
    const sandbox = s.sandbox;
    if (!sandbox) return;
    s.sandbox = null;
    s.closing = sandbox.close().then(() => {
      if (o.emptyTmp) this.empty(paths.tmp, new Set(), path.dirname(paths.tmp));
    });
  }

  /**
   * Empties a directory of the job's in place (the sandbox holds the directory itself, so it
   * cannot be swapped for a new one): each entry is renamed into a trash directory, at once
   * however large, and the trash removed in the background.
   */
  private empty(dir: string, keep: Set<string>, slotDir: string): void {
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => !keep.has(n));
    } catch {
      return;
    }
    if (names.length === 0) return;
    const trash = path.join(slotDir, `trash-${process.pid}-${++this.seq}`);
    fs.mkdirSync(trash, { mode: 0o700 });
    for (const n of names) {
      try {
        fs.renameSync(path.join(dir, n), path.join(trash, n));
      } catch {
        fs.rmSync(path.join(dir, n), { recursive: true, force: true });
      }
    }
    fs.rm(trash, { recursive: true, force: true }, () => {});
  }
}

/** The step output file's name, in the slot's control directory (the launcher's own). */
const SPOOL_NAME = 'output.spool';

/** The names in /tmp under which the sandbox made mount points (a workspace or shared directory under /tmp). */
function mountPointRoots(view: JobView): Set<string> {
  const roots = new Set<string>();
  for (const m of view.mounts) if (m.path.startsWith('/tmp/')) roots.add(m.path.split('/')[2]!);
  return roots;
}

/**
 * Whether the directories on the way to the mount points under /tmp are still where the sandbox
 * made them: a job may rename one (it is its /tmp), which would leave the next job's workspace
 * out of its sight. Then the slot gets a new sandbox.
 */
function mountPointsIntact(view: JobView, hostTmp: string): boolean {
  for (const m of view.mounts) {
    if (!m.path.startsWith('/tmp/')) continue;
    try {
      if (!fs.lstatSync(path.join(hostTmp, m.path.slice('/tmp/'.length))).isDirectory()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * The job's /tmp lasts from one job of the slot to the next while its sandbox stands, and the
 * mount points below /tmp (a workspace under an agent home in /tmp, a shared directory there) are
 * made inside it. bubblewrap makes them as root, seeing the host's root at /oldroot while it
 * builds the view, and follows symlinks: a job that leaves `/tmp/<dir on the way>` a symlink to
 * `/oldroot/...` would have the next sandbox's bubblewrap create directories on the host, and
 * mount the workspace away from where the job runs. So before a sandbox starts, anything on the
 * way to such a mount point that is not a directory is removed. Nothing of a job can race this:
 * it runs when the slot's last job has ended and its processes were killed.
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
 * Signals every process of the job: they are all in its cgroup, and nothing else is but, for the
 * moment of a fork, the sandbox's launcher (`spare`), which must not be signalled.
 */
function signalJob(cgroup: JobCgroup, sig: 'SIGTERM' | 'SIGKILL', spare: number): void {
  for (const pid of cgroup.pids()) {
    if (pid === spare) continue;
    try {
      process.kill(pid, sig);
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
