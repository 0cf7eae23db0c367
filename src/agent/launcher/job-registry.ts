// The job process groups a launcher has running, one small file each under the agent's home, so
// that the next agent process can kill what a crashed one left behind (the agent and its launcher
// killed together, by the OOM killer or `kill -9` of the group). A group left running would go on
// using the machine and writing into a workspace after its attempt was given to another agent.

import fs from 'node:fs';
import path from 'node:path';
import { identityOf, isStillRunning, pidInUse, type ProcessIdentity } from '../process-identity.js';

function fileOf(dir: string, pid: number): string {
  return path.join(dir, `${pid}.json`);
}

export function recordJob(dir: string, pid: number): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(fileOf(dir, pid), JSON.stringify(identityOf(pid)));
  } catch {
    // Best effort: without the record only a crash of agent and launcher together leaks the job.
  }
}

export function forgetJob(dir: string, pid: number): void {
  fs.rmSync(fileOf(dir, pid), { force: true });
}

/**
 * Kills (SIGKILL) the process group of every recorded job that still runs, and forgets every
 * record. Returns the pids of the groups killed. A leader that is still alive must be the very
 * process recorded (same start time); a dead leader's group id cannot have been reused while
 * members of its group live on, so that group is killed without the check.
 */
export function killLeftoverJobs(dir: string): number[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => /^\d+\.json$/.test(f));
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const f of files) {
    let rec: ProcessIdentity;
    try {
      rec = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ProcessIdentity;
    } catch {
      fs.rmSync(path.join(dir, f), { force: true });
      continue;
    }
    const leaderIsOurs = isStillRunning(rec);
    if (leaderIsOurs || !pidInUse(rec.pid)) {
      try {
        process.kill(-rec.pid, 'SIGKILL');
        killed.push(rec.pid);
      } catch {
        // no such group: the job and everything it started are gone
      }
    }
    forgetJob(dir, rec.pid);
  }
  return killed;
}
