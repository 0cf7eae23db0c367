// The job's view of the machine, as data: what is mounted where, read-only or writable, which
// namespaces, which user. Built once per standing sandbox, in one place (jobView) so a test or
// `--check-isolation` can print it and check it; turned into a bubblewrap invocation in one
// place (bwrap.ts). Nothing else in Gantry mounts or unshares.

import fs from 'node:fs';
import path from 'node:path';
import type { NetworkPolicy } from '../../domain/isolation.js';
import type { SlotUser } from './slot-users.js';

export type Mount =
  /** A host system directory at the same path, read-only. */
  | { kind: 'system'; path: string }
  /** A host directory the operator shares with every job, writable (`--sandbox-rw`). */
  | { kind: 'shared'; path: string }
  /** A symlink, for hosts where /bin, /lib, ... are links into /usr. */
  | { kind: 'symlink'; path: string; target: string }
  /** An empty directory: a parent of a mount point. */
  | { kind: 'dir'; path: string }
  /** An empty tmpfs over a directory inside a system one that must not be seen (the agent's home). */
  | { kind: 'hide-dir'; path: string }
  /** The empty file over a file inside a system one that must not be seen (a token file). */
  | { kind: 'hide-file'; path: string }
  /** The job's own procfs (its PID namespace) and a minimal /dev. */
  | { kind: 'proc'; path: string }
  | { kind: 'dev'; path: string }
  /** A host path of the job's own (its workspace, /tmp, home) or lent read-only (repository objects). */
  | { kind: 'private'; source: string; path: string; writable: boolean }
  /**
   * Gantry's launcher (in-sandbox-launcher.ts): a directory of root's alone holding the Node
   * binary, the launcher's script, setpriv and its control directory (where step output files
   * are made).
   */
  | { kind: 'launcher'; path: string; control: string; node: string; script: string; setpriv: string };

/** The launcher's directory inside the sandbox. */
export const LAUNCHER_DIR = '/.gantry';

export interface JobView {
  user: SlotUser;
  mounts: Mount[];
  network: NetworkPolicy;
}

/** Where the job's own writable places are on the host (per slot, emptied before each job). */
export interface SlotPaths {
  workspace: string;
  tmp: string;
  home: string;
}

export interface ViewInputs {
  user: SlotUser;
  slot: SlotPaths;
  /** Inside the sandbox: $HOME. */
  homeInside: string;
  /** The host's system directories to show read-only (and the operator's additions). */
  systemPaths: string[];
  /** Host directories the operator shares, writable, with every job (`--sandbox-rw`). */
  shared: string[];
  /** Read-only extras: the repository objects the workspace's .git borrows. */
  readOnly: { source: string; path: string }[];
  /** Files replacing /etc/passwd and /etc/group (with the slot users in them). */
  accounts: { passwd: string; group: string };
  /** Paths of the agent and the server that must not show even where a system directory holds them. */
  hidden: string[];
  network: NetworkPolicy;
  /** The launcher's files on the host: its control directory, the Node binary, its script, setpriv. */
  launcher: { control: string; node: string; script: string; setpriv: string };
}

/** The system directories a job sees by default: programs, libraries and configuration. */
export const DEFAULT_SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];

function inside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export function jobView(i: ViewInputs): JobView {
  const mounts: Mount[] = [];
  /** Host directories shown as they are (system ones read-only, the operator's shared ones writable). */
  const bound: string[] = [];
  const hiddenDirs: string[] = [];
  const made = new Set<string>(['/']);
  /** Empty directories for a mount point's missing parents (bwrap would make them root-only). */
  const parents = (p: string) => {
    const missing: string[] = [];
    for (let d = path.dirname(p); !made.has(d); d = path.dirname(d)) missing.unshift(d);
    for (const d of missing) {
      // Exists, in a bound directory (unless a hidden directory's empty tmpfs holds it).
      if (bound.some((s) => inside(d, s)) && !hiddenDirs.some((h) => inside(d, h) && d !== h)) continue;
      mounts.push({ kind: 'dir', path: d });
      made.add(d);
    }
  };
  // /tmp first: mount points below it (a workspace or a shared directory under /tmp) are made in
  // the job's own /tmp, not hidden by it.
  mounts.push({ kind: 'private', source: i.slot.tmp, path: '/tmp', writable: true });
  made.add('/tmp');
  const hostDirs: { path: string; writable: boolean }[] = [...i.systemPaths.map((p) => ({ path: p, writable: false })), ...i.shared.map((p) => ({ path: p, writable: true }))];
  for (const h of hostDirs) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(h.path);
    } catch {
      continue; // this host has none (/lib32 on most)
    }
    if (st.isSymbolicLink() && !h.writable) mounts.push({ kind: 'symlink', path: h.path, target: fs.readlinkSync(h.path) });
    else if (st.isDirectory() || st.isSymbolicLink()) {
      parents(h.path);
      mounts.push(h.writable ? { kind: 'shared', path: h.path } : { kind: 'system', path: h.path });
      bound.push(h.path);
      made.add(h.path);
    }
  }
  for (const h of i.hidden) {
    if (!bound.some((s) => inside(h, s))) continue;
    let st: fs.Stats;
    try {
      st = fs.statSync(h);
    } catch {
      continue;
    }
    mounts.push(st.isDirectory() ? { kind: 'hide-dir', path: h } : { kind: 'hide-file', path: h });
    if (st.isDirectory()) hiddenDirs.push(h);
  }
  mounts.push({ kind: 'proc', path: '/proc' }, { kind: 'dev', path: '/dev' });
  mounts.push({ kind: 'private', source: i.accounts.passwd, path: '/etc/passwd', writable: false });
  mounts.push({ kind: 'private', source: i.accounts.group, path: '/etc/group', writable: false });
  for (const m of [
    { source: i.slot.home, path: i.homeInside, writable: true },
    { source: i.slot.workspace, path: i.slot.workspace, writable: true },
    ...i.readOnly.map((r) => ({ ...r, writable: false })),
  ]) {
    parents(m.path);
    mounts.push({ kind: 'private', ...m });
    made.add(m.path);
  }
  mounts.push({ kind: 'launcher', path: LAUNCHER_DIR, ...i.launcher });
  return { user: i.user, mounts, network: i.network };
}

/** The view in words, one mount a line: for `--check-isolation` and for tests. */
export function describeView(v: JobView): string[] {
  const lines = [`user ${v.user.name} (uid ${v.user.uid}), own PID, IPC, UTS and cgroup namespaces; network ${v.network === 'none' ? 'none (loopback only)' : 'the host\'s'}`];
  for (const m of v.mounts) {
    if (m.kind === 'system') lines.push(`${m.path}  read-only (host)`);
    else if (m.kind === 'shared') lines.push(`${m.path}  writable, shared with every job (host)`);
    else if (m.kind === 'symlink') lines.push(`${m.path} -> ${m.target}`);
    else if (m.kind === 'dir') lines.push(`${m.path}  empty directory`);
    else if (m.kind === 'hide-dir' || m.kind === 'hide-file') lines.push(`${m.path}  hidden`);
    else if (m.kind === 'proc') lines.push(`${m.path}  the job's own processes`);
    else if (m.kind === 'dev') lines.push(`${m.path}  null, zero, full, random, urandom, tty, shm`);
    else if (m.kind === 'launcher') lines.push(`${m.path}  Gantry's launcher, root's alone`);
    else lines.push(`${m.path}  ${m.writable ? 'writable' : 'read-only'} (${m.source})`);
  }
  return lines;
}
