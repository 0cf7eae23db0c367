// A job's view (job-view.ts) as a bubblewrap invocation.
//
// bwrap runs as root and builds the sandbox's mount, PID, IPC, UTS (and, for network `none`,
// network) namespaces once per standing sandbox (standing-sandbox.ts). What it runs there is
// setpriv, which leaves root's bounding set with only the three capabilities Gantry's launcher
// needs and clears the inheritable set, then the launcher (in-sandbox-launcher.ts), which starts
// each step as the slot's user: a setuid from root that leaves the step no capability (none
// permitted, effective, inheritable or ambient), under the no_new_privs bubblewrap always sets. The
// job is thus a plain unprivileged process of a uid that owns nothing but its workspace, /tmp and
// home. (bwrap as an unprivileged user would need a user namespace, and needs to reach every bound
// directory as that user: the agent's home is rarely reachable by others.)
//
// Options travel through a pipe (--args), not the command line: every user of the host can read
// every process's command line.

import { LAUNCHER_DIR, type JobView } from './job-view.js';

/** How to start bubblewrap for a standing sandbox. */
export interface BwrapLaunch {
  file: string;
  /** bwrap's command line: `--args FD`, then the launcher's command. Nothing secret. */
  args: string[];
  /** Read into bwrap through a pipe at fd `argsFd`. */
  options: string[];
  argsFd: number;
}

/** The pipe bwrap reads its options from: the first descriptor after stdin, stdout and stderr. */
export const ARGS_FD = 3;

/** The sandbox of a view, running Gantry's launcher (in-sandbox-launcher.ts) as root with only what setpriv needs. */
export function bwrapLaunch(bwrap: string, view: JobView): BwrapLaunch {
  const o: string[] = [
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(view.network === 'none' ? ['--unshare-net'] : []),
    // The sandbox dies with the agent that started it, and its processes with it.
    '--die-with-parent',
    '--clearenv',
    '--cap-drop',
    'ALL',
    '--cap-add',
    'CAP_SETUID',
    '--cap-add',
    'CAP_SETGID',
    // What the launcher keeps (LAUNCHER_CAPS), and SETPCAP for setpriv to drop the rest from the bounding set.
    ...LAUNCHER_CAPS.flatMap((c) => ['--cap-add', `CAP_${c.toUpperCase()}`]),
    '--cap-add',
    'CAP_SETPCAP',
  ];
  for (const m of view.mounts) {
    switch (m.kind) {
      case 'system':
        o.push('--ro-bind', m.path, m.path);
        break;
      case 'shared':
        o.push('--bind', m.path, m.path);
        break;
      case 'symlink':
        o.push('--symlink', m.target, m.path);
        break;
      case 'dir':
        o.push('--perms', '0755', '--dir', m.path);
        break;
      case 'hide-dir':
        o.push('--perms', '0755', '--tmpfs', m.path);
        break;
      case 'hide-file':
        o.push('--ro-bind', '/dev/null', m.path);
        break;
      case 'proc':
        o.push('--proc', m.path);
        break;
      case 'dev':
        o.push('--dev', m.path);
        break;
      case 'private':
        o.push(m.writable ? '--bind' : '--ro-bind', m.source, m.path);
        break;
      case 'launcher':
        o.push('--perms', '0700', '--dir', m.path);
        o.push('--bind', m.control, `${m.path}/ctl`, '--ro-bind', m.node, `${m.path}/node`, '--ro-bind', m.script, `${m.path}/launcher.mjs`, '--ro-bind', m.setpriv, `${m.path}/setpriv`);
        break;
    }
  }
  o.push('--chdir', '/');
  const launcher = [`${LAUNCHER_DIR}/setpriv`, `--bounding-set=-all,${LAUNCHER_CAPS.map((c) => `+${c}`).join(',')}`, '--inh-caps=-all', '--', `${LAUNCHER_DIR}/node`, `${LAUNCHER_DIR}/launcher.mjs`];
  return { file: bwrap, args: ['--args', String(ARGS_FD), '--', ...launcher], options: o, argsFd: ARGS_FD };
}

/**
 * The launcher's capabilities, and all a step's bounding set holds: to become the slot's user
 * (setuid, setgid) and to start a step in its workspace, which is that user's and may be closed
 * to others (dac_read_search).
 */
const LAUNCHER_CAPS = ['setuid', 'setgid', 'dac_read_search'];
