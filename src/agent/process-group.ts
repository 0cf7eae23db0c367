// Runs one bash script so that stopping it (timeout, cancel) reaches every process the script
// started: SIGTERM, a grace period, then SIGKILL. Under `none` that is the script's process group;
// in the sandbox, every process of the job's cgroup (isolation.ts says which).
//
// Processes are started by a Launcher (launcher/): normally a small separate process, because
// fork() from this big one is slow and blocks its loop.
//
// The script's stdout and stderr go straight into a spool file (O_APPEND, so the two keep their
// order), not through a pipe: a job printing hundreds of megabytes writes at file speed instead of
// waiting on our reads 64 KiB at a time. We tail the spool, on inotify events and a short timer,
// in reads of up to 1 MiB, and hand what we read to `onOutput`. What has been read is given back
// to the file system as we go (punched out, SpoolTail.release), so a job that prints 50 GB does
// not keep 50 GB on the agent's disk: the size limit is applied in the attempt's own spool.

import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { findExecutable } from './find-executable.js';
import type { JobIsolation } from './isolation.js';
import type { Launched, Launcher } from './launcher/launcher.js';

// Linux caps one argument at 128 KiB (MAX_ARG_STRLEN); longer scripts go through a file.
const MAX_INLINE_SCRIPT = 100_000;

/**
 * bash's absolute path, looked up once: spawning by bare name makes the child try execve on
 * every PATH entry before the right one, and the parent waits for that on every job.
 */
let bashPath: string | null = null;
function resolveBash(env: Record<string, string>): string {
  bashPath ??= findExecutable('bash', env.PATH);
  return bashPath ?? 'bash';
}

export type StopReason = 'timeout' | 'canceled';

export interface ScriptResult {
  /** Exit code of bash, or null if it died by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when Gantry stopped it. */
  stoppedFor: StopReason | null;
}

export interface RunScriptOptions {
  /** The bash program, passed inline (`bash -c`): no script file to write and delete. */
  script: string;
  /** The spool file for the output: a new file at this path for each step (see runScript), unless the isolation has its own. */
  spoolPath: string;
  cwd: string;
  env: Record<string, string>;
  onOutput: (chunk: Buffer) => void;
  timeoutMs: number | null;
  graceMs: number;
  signal: AbortSignal;
  launcher: Launcher;
  /** How the step's processes are started and stopped (`none` or `sandbox`). */
  isolation: JobIsolation;
}

export function runScript(given: RunScriptOptions): Promise<ScriptResult> {
  const opts = { ...given, spoolPath: given.isolation.spoolPath ?? given.spoolPath };
  let args: string[];
  let scratch: string | null = null;
  if (Buffer.byteLength(opts.script) < MAX_INLINE_SCRIPT) args = ['-c', opts.script, 'bash'];
  else {
    // Written where the agent can, read where the job can (its own /tmp in the sandbox).
    const name = `script-${process.pid}-${crypto.randomUUID()}.sh`;
    const dirs = opts.isolation.scriptDir;
    scratch = path.join(dirs.host, name);
    fs.mkdirSync(dirs.host, { recursive: true });
    fs.writeFileSync(scratch, opts.script, { mode: 0o644 });
    args = [path.posix.join(dirs.job, name)];
  }
  const removeScratch = () => {
    if (scratch) fs.rm(scratch, { force: true }, () => {});
  };
  // The spool is reused per job slot, but never its inode: a process that escaped its job's group
  // (setsid, a daemon) still holds the old one open and must not write into the next job's log.
  // (Removed here, by its owner: the launcher also writes to paths like /dev/null.)
  try {
    fs.unlinkSync(opts.spoolPath);
  } catch {
    // not there yet
  }
  return opts.isolation
    .start({ file: resolveBash(opts.env), args, cwd: opts.cwd, env: opts.env, outputPath: opts.spoolPath }, opts.launcher)
    .then(
      (launched) => supervise(launched, opts),
      (err: Error) => {
        opts.onOutput(Buffer.from(`gantry: could not start bash: ${err.message}\n`));
        return { exitCode: null, signal: null, stoppedFor: null } satisfies ScriptResult;
      },
    )
    .finally(removeScratch);
}

/** How to end each script running now at once, for killJobsNow. */
const liveScripts = new Set<() => void>();

/**
 * SIGKILLs every running script's processes at once, for an agent that must exit now (a second
 * Ctrl-C) and would otherwise leave jobs running that ignore SIGTERM.
 */
export function killJobsNow(): void {
  for (const kill of liveScripts) kill();
}

/** Follows a started script to its end: its output, its timeout, its cancellation. */
function supervise(launched: Launched, opts: RunScriptOptions): Promise<ScriptResult> {
  const killNow = () => opts.isolation.signal(launched.pid, 'SIGKILL');
  liveScripts.add(killNow);
  const tail = new SpoolTail(opts.spoolPath, opts.onOutput);
  let stoppedFor: StopReason | null = null;
  let killTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  const killGroup = (sig: 'SIGTERM' | 'SIGKILL') => opts.isolation.signal(launched.pid, sig);
  const stop = (why: StopReason) => {
    if (stoppedFor) return;
    stoppedFor = why;
    killGroup('SIGTERM');
    killTimer = setTimeout(() => killGroup('SIGKILL'), opts.graceMs);
  };
  const onAbort = () => stop('canceled');
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });
  if (opts.timeoutMs !== null) timeoutTimer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  return launched.exited.then(async (exit) => {
    // When bash exits the launcher kills the rest of its group: nothing of a job outlives it.
    liveScripts.delete(killNow);
    clearTimeout(timeoutTimer);
    clearTimeout(killTimer);
    opts.signal.removeEventListener('abort', onAbort);
    // Everything the group wrote is in the spool now: read it to the end before resolving.
    await tail.finish();
    return { exitCode: exit.code, signal: exit.signal, stoppedFor };
  });
}

const FIRST_READ_SIZE = 16 << 10;
const READ_SIZE = 1 << 20;
const POLL_MS = 50;
const MAX_READS_PER_TURN = 8;
const COALESCE_MS = 5;
/** Read bytes the spool may hold before they are punched out of the file (SpoolTail.release). */
const RELEASE_EVERY = 16 << 20;
/** Where holes cannot be punched (no `fallocate`, a file system without it), it is not tried again. */
let canPunch = process.platform === 'linux';

/** Follows a growing file from its start and hands each new piece to `onData`. */
class SpoolTail {
  private fd: number;
  private pos = 0;
  /** Bytes before this offset have been given back to the file system. */
  private released = 0;
  /** The punch under way, if one is. */
  private releasing: Promise<void> | null = null;
  private readonly watcher: fs.FSWatcher | null;
  private readonly timer: NodeJS.Timeout;
  private soon: NodeJS.Timeout | null = null;

  constructor(
    private readonly file: string,
    private readonly onData: (chunk: Buffer) => void,
  ) {
    this.fd = fs.openSync(file, 'r');
    let watcher: fs.FSWatcher | null = null;
    try {
      // A job that prints line by line makes one change event per write: thousands a second.
      // Reading at most every COALESCE_MS costs that much latency and keeps many such jobs
      // from flooding the agent's event loop with tiny reads.
      watcher = fs.watch(file, { persistent: false }, () => {
        this.soon ??= setTimeout(() => {
          this.soon = null;
          this.poke();
        }, COALESCE_MS);
      });
      watcher.on('error', () => {});
    } catch {
      watcher = null; // no inotify here: the timer alone keeps the output flowing
    }
    this.watcher = watcher;
    this.timer = setInterval(() => this.poke(), POLL_MS);
  }

  private poke(): void {
    if (this.scheduled) return;
    // Synchronous reads: the spool was just written, so it is in the page cache and a read takes
    // microseconds; through the thread pool each would cost more in hand-offs than in reading.
    // A fast writer is read in slices so the loop stays responsive.
    if (this.drain(MAX_READS_PER_TURN) === 'more') {
      this.scheduled = setImmediate(() => {
        this.scheduled = null;
        this.poke();
      });
    }
  }

  private scheduled: NodeJS.Immediate | null = null;
  // Most jobs print little: start small, and read in big pieces only once output comes fast.
  private buf = Buffer.allocUnsafe(FIRST_READ_SIZE);

  /** Reads what the spool has, up to `maxReads` reads; 'more' if it stopped with data left. */
  private drain(maxReads: number): 'done' | 'more' {
    for (let i = 0; i < maxReads; i++) {
      const buf = this.buf;
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, 0, buf.length, this.pos);
      } catch {
        return 'done';
      }
      if (n <= 0) return 'done';
      this.pos += n;
      const full = n === buf.length;
      // Small pieces are copied out (a consumer may keep them); big ones take the buffer along.
      if (n < buf.length / 4) this.onData(Buffer.from(buf.subarray(0, n)));
      else {
        this.buf = Buffer.allocUnsafe(full ? READ_SIZE : buf.length);
        this.onData(buf.subarray(0, n));
      }
      if (this.pos - this.released >= RELEASE_EVERY) void this.release();
      if (!full) return 'done';
    }
    return 'more';
  }

  /**
   * Punches the bytes read so far out of the file (`fallocate --punch-hole`: the file keeps its
   * size and offsets, its blocks go back to the disk). Safe while the job writes: it appends past
   * what has been read. A helper process, because Node has no fallocate; one every RELEASE_EVERY
   * bytes of output, one at a time.
   */
  private release(): Promise<void> {
    if (!canPunch || this.pos === this.released) return Promise.resolve();
    if (this.releasing) return this.releasing;
    const from = this.released;
    const to = this.pos;
    this.releasing = new Promise((resolve) => {
      execFile('fallocate', ['--punch-hole', '--offset', String(from), '--length', String(to - from), this.file], (err) => {
        this.releasing = null;
        if (!err) this.released = Math.max(this.released, to);
        else if ((err as NodeJS.ErrnoException).code === 'ENOENT' || /not supported/i.test(err.message)) canPunch = false;
        resolve();
      });
    });
    return this.releasing;
  }

  async finish(): Promise<void> {
    clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.watcher?.close();
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    while (this.drain(MAX_READS_PER_TURN) === 'more') await new Promise((r) => setImmediate(r));
    fs.closeSync(this.fd);
    // The file stays until the slot's next step (runScript); what it holds need not, past a
    // little: a job's last megabytes are not worth a process.
    await this.releasing;
    if (this.pos - this.released >= 1 << 20) await this.release();
  }
}
