// Runs git commands for the server through the git runner process (git-runner-process.ts), so
// that the fork of each git happens there and not on the server's event loop.

import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { GitReply, GitRequest } from './protocol.js';

/** A git command that did not exit 0; the message is the last line git wrote to stderr. */
export class GitCommandError extends Error {
  constructor(
    message: string,
    readonly gitArgs: string[],
  ) {
    super(message);
  }
}

interface Waiting {
  args: string[];
  resolve: (stdout: Buffer) => void;
  reject: (e: Error) => void;
}

export class GitRunner {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closed = false;

  /** `env`: the environment git runs with (the runner process's own). */
  constructor(private readonly env: Record<string, string>) {}

  /** git's stdout; rejects with a GitCommandError when git fails, is killed, or cannot start. */
  run(cwd: string, args: string[], opts: { input?: string; timeoutMs: number }): Promise<Buffer> {
    if (this.closed) return Promise.reject(new GitCommandError('the server is stopping', args));
    const child = this.child ?? this.startChild();
    const id = this.nextId++;
    const req: GitRequest = { id, args, cwd, timeoutMs: opts.timeoutMs, ...(opts.input === undefined ? {} : { input: opts.input }) };
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.ref(child, true);
      this.waiting.set(id, { args, resolve, reject });
      child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** Ends the runner process once the commands asked so far have answered. */
  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
  }

  private startChild(): ChildProcess {
    const entry = new URL('./git-runner-process.js', import.meta.url);
    const child = spawn(process.execPath, [entry.pathname], { env: this.env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    const gone = (why: string) => {
      if (this.child === child) this.child = null;
      // The next command starts a new runner; the ones in flight are failed (the delivery queue
      // retries them).
      for (const [id, w] of this.waiting) {
        this.waiting.delete(id);
        w.reject(new GitCommandError(why, w.args));
      }
    };
    child.on('error', (e) => gone(`cannot run git: ${e.message}`));
    child.on('exit', () => gone('the git runner process exited'));
    child.stdin!.on('error', () => {});
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.onReply(child, JSON.parse(line) as GitReply));
    // Idle, the runner must not keep the server's process alive (tests build servers and leave).
    this.ref(child, false);
    return child;
  }

  private ref(child: ChildProcess, on: boolean): void {
    for (const h of [child, child.stdin, child.stdout] as Array<{ ref(): void; unref(): void } | null>) {
      if (on) h?.ref();
      else h?.unref();
    }
  }

  private onReply(child: ChildProcess, m: GitReply): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (this.waiting.size === 0) this.ref(child, false);
    if (m.code === 0) return w.resolve(Buffer.from(m.stdout, 'base64'));
    const last = m.stderr.trim().split('\n').filter(Boolean).pop();
    w.reject(new GitCommandError(last ?? m.error ?? `git ${w.args[0]} exited with ${m.code}`, w.args));
  }
}
