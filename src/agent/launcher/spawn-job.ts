// Starts one job process the way both launchers must: the leader of a new process group, stdout
// and stderr appended to one output file (so the two keep their order), stdin closed; when the
// leader exits, the rest of its group is killed, so nothing a job started outlives it.

import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface JobProcess {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  outputPath: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Returns the pid (or throws if the output file cannot be opened); `onError` if exec fails. */
export function spawnJob(p: JobProcess, onExit: (exit: Exit) => void, onError: (e: Error) => void): number | undefined {
  const fd = fs.openSync(p.outputPath, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_TRUNC);
  try {
    const child = spawn(p.file, p.args, { cwd: p.cwd, env: p.env, detached: true, stdio: ['ignore', fd, fd] });
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
