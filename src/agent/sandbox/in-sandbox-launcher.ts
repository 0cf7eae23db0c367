// The launcher inside a standing sandbox (standing-sandbox.ts): the first process bubblewrap
// starts, it stays for as long as its slot runs jobs of one project, and starts each step there.
//
// Why a process inside: making the namespaces, the mounts and the pivot for every step, and
// tearing them down after it, cost more than the step of a small job itself. Here a step costs
// one fork and exec, as under `none`.
//
// Why Node: it sets the step's user between fork and exec (libuv), where a shell would need an
// exec of setpriv per step (a bash launcher measured 1.50x the wide pipeline under `none`
// against 1.24x here). The price is Node's start, about 60 ms on the bench machine, paid each
// time a slot gets a new sandbox (a new project for the slot), and about 40 MB per busy slot.
//
// It runs as root in the sandbox's namespaces with three capabilities, and nothing more in its
// bounding set (bwrap.ts): SETUID and SETGID to start each step as the slot's user, which leaves
// the step none at all, and DAC_READ_SEARCH to start it in a workspace closed to others. It sees
// only the job's view; its directory (/.gantry) is root's alone. The agent moves it into the job's
// cgroup before each spawn and out after, so a step is born in its cgroup.
//
// It imports nothing but Node's own modules: it is bound into the sandbox as this one file.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';

interface Spawn {
  op: 'spawn';
  id: number;
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** The slot's user: never root. */
  uid: number;
  gid: number;
  /** stdout and stderr go to this file (inside the sandbox), appended, emptied first. */
  output: string;
}

/** Asks whether the sandbox's IPC namespace holds SysV objects (a job's leftovers outlive its processes). */
interface IpcQuery {
  op: 'ipc';
  id: number;
}

const send = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);

/** Whether a SysV shared memory segment, message queue or semaphore set exists here (each file has a header line). */
function holdsIpcObjects(): boolean {
  for (const kind of ['shm', 'msg', 'sem']) {
    try {
      if (fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').length > 1) return true;
    } catch {
      // no SysV IPC in this kernel
    }
  }
  return false;
}

function start(r: Spawn): void {
  if (!(Number.isInteger(r.uid) && r.uid > 0 && Number.isInteger(r.gid) && r.gid > 0)) {
    send({ op: 'failed', id: r.id, message: `a step runs as the slot's user, not uid ${r.uid}` });
    return;
  }
  let fd: number;
  try {
    fd = fs.openSync(r.output, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    send({ op: 'failed', id: r.id, message: (e as Error).message });
    return;
  }
  try {
    // libuv drops the supplementary groups, then sets the gid and the uid, in the child before exec.
    const child = spawn(r.file, r.args, { cwd: r.cwd, env: r.env, uid: r.uid, gid: r.gid, detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', (e) => send({ op: 'failed', id: r.id, message: e.message }));
    if (child.pid === undefined) return; // 'error' follows
    send({ op: 'started', id: r.id, pid: child.pid });
    child.on('exit', (code, signal) => send({ op: 'exit', id: r.id, code, signal }));
  } finally {
    fs.closeSync(fd);
  }
}

// The agent stops steps through their cgroup; a signal that reaches this process by mistake
// (a cancel while it was in the job's cgroup to fork) must not end the sandbox.
process.on('SIGTERM', () => {});
process.on('SIGINT', () => {});

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let r: Spawn | IpcQuery;
  try {
    r = JSON.parse(line) as Spawn | IpcQuery;
  } catch {
    return;
  }
  if (r.op === 'spawn') start(r);
  else if (r.op === 'ipc') send({ op: 'ipc', id: r.id, holds: holdsIpcObjects() });
});
// The agent closed the sandbox, or is gone: what runs here has no one to report to.
lines.on('close', () => process.exit(0));
send({ op: 'ready' });
