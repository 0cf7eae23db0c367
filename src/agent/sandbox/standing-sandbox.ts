// A standing sandbox: one bubblewrap per job slot, its namespaces and mounts made once and kept
// while the slot runs jobs that see the same view (the same project's workspace and repository,
// the same network policy, the same trust), with Gantry's launcher inside starting each step
// (in-sandbox-launcher.ts). A step then costs a fork and an exec, not a sandbox.
//
// Each step is born in its job's cgroup: the launcher is moved into it for the fork and back out
// when it says the step started (one slot runs one step at a time, so the two never overlap).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import type { Exit, Launched } from '../launcher/launcher.js';
import { procStatOf } from '../process-identity.js';
import { bwrapLaunch } from './bwrap.js';
import type { JobView } from './job-view.js';

/** The in-sandbox launcher's script, compiled beside this file. */
export const IN_SANDBOX_LAUNCHER = new URL('./in-sandbox-launcher.js', import.meta.url).pathname;

type Message =
  | { op: 'ready' }
  | { op: 'started'; id: number; pid: number }
  | { op: 'failed'; id: number; message: string }
  | { op: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { op: 'ipc'; id: number; holds: boolean };

interface Pending {
  started: (l: Launched) => void;
  failed: (e: Error) => void;
  exit?: (e: Exit) => void;
  early?: Exit;
  /** Where the launcher goes back to once this spawn is answered. */
  leave: string[];
}

export interface StepSpawn {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** The slot's user, whom the step runs as. */
  uid: number;
  gid: number;
  /** The output file's path inside the sandbox. */
  output: string;
}

export class StandingSandbox {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private readonly questions = new Map<number, (holds: boolean) => void>();
  /** Whether a step has run here: a sandbox nothing ran in holds nothing a job left. */
  private ran = false;
  private nextId = 1;
  private dead: Error | null = null;
  private stderr = '';
  /** The launcher's pid on the host, once it said it is ready. */
  private launcherPid = 0;
  /** The sandbox's init (its PID 1) on the host: killing it ends everything in the sandbox. */
  private initPid = 0;
  readonly ready: Promise<void>;

  constructor(
    bwrap: string,
    readonly view: JobView,
    /** What this sandbox shows, in a form two equal views share: a job with another key gets another sandbox. */
    readonly key: string,
  ) {
    const b = bwrapLaunch(bwrap, view);
    const stdio: ('pipe' | 'ignore')[] = ['pipe', 'pipe', 'pipe'];
    while (stdio.length < b.argsFd) stdio.push('ignore');
    stdio.push('pipe');
    // bwrap needs no environment of its own, and the launcher gets none (--clearenv). Its own
    // process group: a Ctrl-C at the agent's terminal is the agent's to act on, not the sandbox's.
    this.child = spawn(b.file, b.args, { cwd: '/', env: {}, stdio, detached: true });
    const options = this.child.stdio[b.argsFd] as NodeJS.WritableStream | null;
    options?.on('error', () => {}); // bwrap gone before reading: its exit says why
    options?.end(`${b.options.join('\0')}\0`);
    this.child.stdin!.on('error', () => {});
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString()).slice(-2_000);
    });
    let readyNow!: () => void;
    let notReady!: (e: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      readyNow = resolve;
      notReady = reject;
    });
    this.ready.catch(() => {});
    this.child.on('error', (e) => {
      this.fail(e);
      notReady(e);
    });
    this.child.on('exit', () => {
      const e = new Error(`the sandbox ended${this.stderr ? `: ${this.stderr.trim()}` : ''}`);
      this.fail(e);
      notReady(e);
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let m: Message;
      try {
        m = JSON.parse(line) as Message;
      } catch {
        return;
      }
      if (m.op === 'ready') {
        try {
          this.initPid = childrenOf(this.child.pid!)[0]!;
          this.launcherPid = childrenOf(this.initPid)[0]!;
          if (!this.initPid || !this.launcherPid) throw new Error('its processes could not be found');
          readyNow();
        } catch (e) {
          notReady(new Error(`the sandbox started, but ${(e as Error).message}`));
          this.close();
        }
      } else this.onMessage(m);
    });
  }

  get alive(): boolean {
    return this.dead === null;
  }

  get used(): boolean {
    return this.ran;
  }

  /** The launcher's pid on the host: never a job's, though it passes through the job's cgroup to fork. */
  get launcher(): number {
    return this.launcherPid;
  }

  /** Starts a step, born in the cgroup whose cgroup.procs files are `enter`; the launcher then goes back to `leave`. */
  async run(step: StepSpawn, cgroup: { enter: string[]; leave: string[] }): Promise<Launched> {
    await this.ready;
    if (this.dead) throw this.dead;
    const id = this.nextId++;
    this.ran = true;
    for (const f of cgroup.enter) fs.writeFileSync(f, String(this.launcherPid));
    return new Promise((started, failed) => {
      this.pending.set(id, { started, failed, leave: cgroup.leave });
      this.child.stdin!.write(`${JSON.stringify({ op: 'spawn', id, ...step })}\n`);
    });
  }

  /**
   * Whether a job left SysV IPC objects (shared memory, message queues, semaphores) in the
   * sandbox's IPC namespace: they outlive the processes that made them, so the next job would
   * find them. (Files and processes are the agent's to remove; these only a process inside sees.)
   */
  async holdsIpcObjects(): Promise<boolean> {
    await this.ready;
    if (this.dead) throw this.dead;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.questions.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ op: 'ipc', id })}\n`);
    });
  }

  private leave(p: Pending): void {
    try {
      for (const f of p.leave) fs.writeFileSync(f, String(this.launcherPid));
    } catch {
      // the launcher is gone: nothing to move
    }
  }

  private onMessage(m: Exclude<Message, { op: 'ready' }>): void {
    if (m.op === 'ipc') {
      this.questions.get(m.id)?.(m.holds);
      this.questions.delete(m.id);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.op === 'failed') {
      this.leave(p);
      this.pending.delete(m.id);
      p.failed(new Error(m.message));
    } else if (m.op === 'started') {
      this.leave(p);
      p.started({
        pid: m.pid,
        exited: new Promise<Exit>((resolve) => {
          if (p.early) resolve(p.early);
          else p.exit = resolve;
        }),
      });
    } else {
      this.pending.delete(m.id);
      const exit = { code: m.code, signal: m.signal };
      if (p.exit) p.exit(exit);
      else p.early = exit;
    }
  }

  private fail(e: Error): void {
    this.dead ??= e;
    // A sandbox that is gone holds nothing: the asker starts a new one anyway.
    for (const answer of this.questions.values()) answer(true);
    this.questions.clear();
    for (const [id, p] of this.pending) {
      if (p.exit) p.exit({ code: null, signal: 'SIGKILL' });
      else p.failed(e);
      this.pending.delete(id);
    }
  }

  /** Ends the sandbox and everything in it at once (its init killed, the PID namespace goes with it); resolves once bwrap is gone. */
  close(): Promise<void> {
    const gone = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.fail(new Error('the sandbox was closed'));
    this.child.stdin!.end();
    for (const pid of [this.initPid, this.child.pid]) {
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    return gone;
  }
}

/** A process's children, from /proc (its `children` file where the kernel has one, else every process's parent). */
function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    const out: number[] = [];
    for (const name of fs.readdirSync('/proc')) {
      if (/^\d+$/.test(name) && procStatOf(Number(name))?.[1] === String(pid)) out.push(Number(name));
    }
    return out;
  }
}
