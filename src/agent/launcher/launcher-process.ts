// The process launcher: a small Node process whose only work is to start job processes.
//
// Why: fork() costs in proportion to the forking process's memory, and Node forks on its main
// thread. The agent, with its store, compiler and buffers, is several times larger than this
// process, so each job start costs it several times more, and blocks everything else meanwhile.
// Here, starts cost what a bare Node process pays, and the agent's loop stays free.
//
// Each job is started by spawnJob (the leader of its own process group, which dies with it).
// Stopping a job (SIGTERM, grace, SIGKILL to the group) is the agent's business: it knows the
// pid. When the agent is gone (stdin closes) the jobs still running are killed here: nobody reads
// their output or reports their end any more. With a registry directory (argv[2]) each running
// job is also recorded there, for the next agent to kill should this process die with the agent.

import readline from 'node:readline';
import type { BaseEnvRequest, LauncherMessage, SpawnRequest } from './protocol.js';
import { spawnJob } from './spawn-job.js';
import { forgetJob, recordJob } from './job-registry.js';

let baseEnv: Record<string, string> = {};
const registry = process.argv[2] || null;
const running = new Set<number>();

function envOf(changes: Record<string, string | null>): Record<string, string> {
  const env = { ...baseEnv };
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  return env;
}

function send(m: LauncherMessage): void {
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

function launch(req: SpawnRequest): void {
  try {
    const pid = spawnJob(
      { ...req, env: envOf(req.env) },
      (exit) => {
        if (pid !== undefined) {
          running.delete(pid);
          if (registry) forgetJob(registry, pid);
        }
        send({ op: 'exit', id: req.id, ...exit });
      },
      (e) => send({ op: 'failed', id: req.id, message: e.message }),
    );
    if (pid !== undefined) {
      running.add(pid);
      if (registry) recordJob(registry, pid);
      send({ op: 'started', id: req.id, pid });
    }
  } catch (e) {
    send({ op: 'failed', id: req.id, message: (e as Error).message });
  }
}

// Ctrl-C in a terminal signals the whole foreground process group, this process included. The
// agent decides what a Ctrl-C means (SIGTERM to the jobs, a grace, SIGKILL) and needs this
// process alive meanwhile to learn when each job exits; it ends this process by closing stdin.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let req: SpawnRequest | BaseEnvRequest;
  try {
    req = JSON.parse(line) as SpawnRequest | BaseEnvRequest;
  } catch {
    return;
  }
  if (req.op === 'spawn') launch(req);
  else if (req.op === 'base-env') baseEnv = req.env;
});
// The agent is gone, or done: nothing more will be asked. A job still running has no one to
// report it (a finished agent closes this only once its jobs have exited).
lines.on('close', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (registry) forgetJob(registry, pid);
  }
  process.exit(0);
});
