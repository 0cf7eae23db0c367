// Starts job processes, either through the launcher process (see launcher-process.ts) or, where
// one cannot be had, directly from this process. Both give the same contract.

import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { BaseEnvRequest, LauncherMessage, SpawnRequest } from './protocol.js';
import { spawnJob, type Exit } from './spawn-job.js';

export type { Exit };

export interface Launched {
  pid: number;
  exited: Promise<Exit>;
}

export type LaunchRequest = Omit<SpawnRequest, 'op' | 'id' | 'env'> & { env: Record<string, string> };

export interface Launcher {
  launch(req: LaunchRequest): Promise<Launched>;
  close(): void;
}

interface Waiting {
  started: (l: Launched) => void;
  failed: (e: Error) => void;
  exit?: (e: Exit) => void;
  early?: Exit;
}

/** Talks to a launcher process over its stdin/stdout. */
export class ProcessLauncher implements Launcher {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly child: ChildProcess;
  private dead: Error | null = null;
  private baseEnv: Record<string, string> | null = null;

  /** `registry`: a directory where running jobs are recorded (job-registry.ts), for a remote agent. */
  constructor(opts: { registry?: string } = {}) {
    const entry = new URL('./launcher-process.js', import.meta.url);
    this.child = spawn(process.execPath, [entry.pathname, ...(opts.registry ? [opts.registry] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.on('error', (e) => this.fail(e));
    this.child.on('exit', () => this.fail(new Error('the process launcher exited')));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => this.onMessage(JSON.parse(line) as LauncherMessage));
    this.child.stdin!.on('error', () => {});
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const [id, w] of this.waiting) {
      if (w.exit) w.exit({ code: null, signal: null });
      else w.failed(e);
      this.waiting.delete(id);
    }
  }

  private onMessage(m: LauncherMessage): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    if (m.op === 'failed') {
      this.waiting.delete(m.id);
      w.failed(new Error(m.message));
    } else if (m.op === 'started') {
      w.started({
        pid: m.pid,
        exited: new Promise<Exit>((resolve) => {
          if (w.early) resolve(w.early);
          else w.exit = resolve;
        }),
      });
    } else {
      this.waiting.delete(m.id);
      const exit = { code: m.code, signal: m.signal };
      if (w.exit) w.exit(exit);
      else w.early = exit;
    }
  }

  launch(req: LaunchRequest): Promise<Launched> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const env = this.envChanges(req.env);
    return new Promise((started, failed) => {
      this.waiting.set(id, { started, failed });
      this.child.stdin!.write(`${JSON.stringify({ op: 'spawn', id, ...req, env } satisfies SpawnRequest)}\n`);
    });
  }

  /** A job's environment as changes to the base (sent once, with the first job that has one). */
  private envChanges(jobEnv: Record<string, string>): Record<string, string | null> {
    if (!this.baseEnv) {
      // The first job's environment becomes the base; later jobs send only their differences.
      this.baseEnv = jobEnv;
      this.child.stdin!.write(`${JSON.stringify({ op: 'base-env', env: jobEnv } satisfies BaseEnvRequest)}\n`);
    }
    const env: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(jobEnv)) if (this.baseEnv[k] !== v) env[k] = v;
    for (const k of Object.keys(this.baseEnv)) if (!(k in jobEnv)) env[k] = null;
    return env;
  }

  close(): void {
    this.child.stdin!.end();
  }
}

/** Starts processes from this process: for one-off use, where a launcher process is not worth it. */
export class InProcessLauncher implements Launcher {
  launch(req: LaunchRequest): Promise<Launched> {
    return new Promise((started, failed) => {
      let resolveExit!: (e: Exit) => void;
      const exited = new Promise<Exit>((resolve) => (resolveExit = resolve));
      const pid = spawnJob(req, resolveExit, failed);
      if (pid !== undefined) started({ pid, exited });
    });
  }

  close(): void {}
}
