// Starts one job process the way both launchers must: the leader of a new process group, stdout
// and stderr appended to one output file (so the two keep their order), stdin closed; when the
// leader exits, the rest of its group is killed, so nothing a job started outlives it.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { SandboxSpawn } from './protocol.js';

export interface JobProcess {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  outputPath: string;
  sandbox?: SandboxSpawn;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Returns the pid (or throws if the output file cannot be opened); `onError` if exec fails. */
export function spawnJob(p: JobProcess, onExit: (exit: Exit) => void, onError: (e: Error) => void): number | undefined {
  const fd = fs.openSync(p.outputPath, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_TRUNC);
  try {
    const child = p.sandbox ? spawnSandboxed(p, p.sandbox, fd) : spawn(p.file, p.args, { cwd: p.cwd, env: p.env, detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', onError);
    const pid = child.pid;
    if (pid === undefined) return undefined; // 'error' follows
    child.on('exit', (code, signal) => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // the group went with its leader
      }
      onExit({ code, signal });
    });
    return pid;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Starts bubblewrap born in the job's cgroup: this process steps into the cgroup, forks, and
 * steps back (a fork inherits its parent's cgroup; nothing else of this process runs meanwhile,
 * spawn being synchronous).
 */
function spawnSandboxed(p: JobProcess, s: SandboxSpawn, out: number): ChildProcess {
  for (const f of s.cgroupEnter) fs.writeFileSync(f, String(process.pid));
  let child: ChildProcess;
  try {
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', out, out];
    while (stdio.length < s.argsFd) stdio.push('ignore');
    stdio.push('pipe');
    // bwrap needs no environment of its own: the job's is in its options (--clearenv, --setenv).
    child = spawn(p.file, p.args, { cwd: '/', env: {}, detached: true, stdio });
  } finally {
    for (const f of s.cgroupLeave) fs.writeFileSync(f, String(process.pid));
  }
  const options = child.stdio[s.argsFd] as NodeJS.WritableStream | null;
  if (options) {
    options.on('error', () => {}); // bwrap gone before reading: its exit says why
    options.end(`${s.options.join('\0')}\0`);
  }
  return child;
}
