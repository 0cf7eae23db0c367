// A job's view (job-view.ts) as a bubblewrap invocation.
//
// bwrap runs as root and builds the job's mount, PID, IPC, UTS (and, for network `none`, network)
// namespaces; the last thing it runs is setpriv, which becomes the slot's user with no capability,
// an empty bounding set and no_new_privs before it executes the step's bash. The job is thus a
// plain unprivileged process of a uid that owns nothing but its workspace, /tmp and home.
// (bwrap as an unprivileged user would need a user namespace, and needs to reach every bound
// directory as that user: the agent's home is rarely reachable by others.)
//
// Options travel through a pipe (--args), not the command line: the environment holds the job's
// secrets, and every user of the host can read every process's command line.

import type { JobView } from './job-view.js';

/** What the launcher needs to start the sandboxed command (launcher/protocol.ts SandboxSpawn). */
export interface BwrapLaunch {
  file: string;
  /** bwrap's command line: `--args FD`, then setpriv and the command. Nothing secret. */
  args: string[];
  /** Read into bwrap through a pipe at fd `argsFd`. */
  options: string[];
  argsFd: number;
}

/** The pipe bwrap reads its options from: the first descriptor after stdin, stdout and stderr. */
export const ARGS_FD = 3;

/** One step of a job: its view, the step's environment (the job's variables), its command. */
export function bwrapLaunch(tools: { bwrap: string; setpriv: string }, view: JobView, env: Record<string, string>, command: { file: string; args: string[] }): BwrapLaunch {
  const o: string[] = [
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(view.network === 'none' ? ['--unshare-net'] : []),
    // The job's processes die with bwrap, and bwrap with the launcher that started it.
    '--die-with-parent',
    '--clearenv',
  ];
  for (const [k, v] of Object.entries(env)) o.push('--setenv', k, v);
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
    }
  }
  o.push('--chdir', view.cwd);
  const id = String(view.user.uid);
  const gid = String(view.user.gid);
  return {
    file: tools.bwrap,
    args: [
      '--args',
      String(ARGS_FD),
      '--',
      tools.setpriv,
      `--reuid=${id}`,
      `--regid=${gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
      command.file,
      ...command.args,
    ],
    options: o,
    argsFd: ARGS_FD,
  };
}
