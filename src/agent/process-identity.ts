// A process named so that a reused pid is not mistaken for it: the pid and the time the process
// started (clock ticks since boot, /proc/PID/stat field 22). Linux only; elsewhere the start is
// unknown and callers must not act on a pid they cannot confirm.

import fs from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** null where /proc is not available (macOS). */
  startTicks: string | null;
}

/**
 * /proc/PID/stat from field 3 (state) on: fields[0] is the state, fields[1] the parent's pid,
 * fields[19] the start time. Null when the process is gone (or there is no /proc).
 */
export function procStatOf(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name before them is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The start of a live process, or null when it is gone (or the platform cannot say). */
export function startTicksOf(pid: number): string | null {
  const fields = procStatOf(pid);
  // A zombie is gone.
  if (!fields || fields[0] === 'Z') return null;
  return fields[19] ?? null;
}

export function identityOf(pid: number): ProcessIdentity {
  return { pid, startTicks: startTicksOf(pid) };
}

/** Whether this exact process (not another one that got its pid) still runs. */
export function isStillRunning(p: ProcessIdentity): boolean {
  if (p.startTicks === null) return false;
  return startTicksOf(p.pid) === p.startTicks;
}

/** Whether a process holds this pid now (any process; for when no start time was known). */
export function pidInUse(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
