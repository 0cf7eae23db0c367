// Runs one bash script as the leader of its own process group, so that stopping it (timeout,
// cancel) reaches every process the script started: SIGTERM to the group, a grace period,
// then SIGKILL to the group.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// Linux caps one argument at 128 KiB (MAX_ARG_STRLEN); longer scripts go through a file.
const MAX_INLINE_SCRIPT = 100_000;

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
  /** Where a script too long for one argument is written instead. */
  scratchDir: string;
  cwd: string;
  env: Record<string, string>;
  onOutput: (chunk: Buffer) => void;
  timeoutMs: number | null;
  graceMs: number;
  signal: AbortSignal;
}

export function runScript(opts: RunScriptOptions): Promise<ScriptResult> {
  return new Promise((resolve) => {
    let stoppedFor: StopReason | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let args: string[];
    let scratch: string | null = null;
    if (Buffer.byteLength(opts.script) < MAX_INLINE_SCRIPT) args = ['-c', opts.script, 'bash'];
    else {
      scratch = path.join(opts.scratchDir, `script-${process.pid}-${crypto.randomUUID()}.sh`);
      fs.mkdirSync(opts.scratchDir, { recursive: true });
      fs.writeFileSync(scratch, opts.script);
      args = [scratch];
    }
    const child = spawn('bash', args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true, // setsid: a new process group whose id is the child's pid
      // The script sends its stderr into stdout itself (exec 2>&1) so the two keep their order;
      // the stderr pipe only catches what bash says before that line runs.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // the group is already gone
      }
    };
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

    child.stdout.on('data', (chunk: Buffer) => opts.onOutput(chunk));
    child.stderr.on('data', (chunk: Buffer) => opts.onOutput(chunk));
    child.on('error', (err) => {
      opts.onOutput(Buffer.from(`gantry: could not start bash: ${err.message}\n`));
    });
    // Background processes a finished script left behind would hold the pipe open, and the job,
    // forever: when bash exits, the rest of its group goes with it.
    // (After a stop, the grace period still applies to the rest of the group.)
    child.on('exit', () => {
      if (!stoppedFor) killGroup('SIGKILL');
    });
    // 'close', not 'exit': resolve only once all output has been read.
    child.on('close', (code, sig) => {
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      opts.signal.removeEventListener('abort', onAbort);
      if (stoppedFor) killGroup('SIGKILL'); // nothing of a stopped job outlives it
      if (scratch) fs.rm(scratch, { force: true }, () => {});
      resolve({ exitCode: code, signal: sig, stoppedFor });
    });
  });
}
