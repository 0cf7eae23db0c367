// The git runner: a small Node process whose only work is to run the server's git commands.
//
// Why: fork() costs in proportion to the forking process's memory and Node forks on its main
// thread. The server (store, compiler, HTTP, ~140 MB) paid 5-80 ms of blocked event loop per git
// command on a loaded two-core machine, about six per pipeline made from a webhook, while the
// same loop was answering the forges. Forked from here, git costs what a bare Node process pays,
// and the server's loop only reads a line per command. (The agent's process launcher exists for
// the same reason: src/agent/launcher/.)
//
// git runs with this process's environment, which the server sets once (no prompts, LC_ALL=C).
// When the server is gone (stdin closes) this process exits; a git command still running ends
// by itself (a fetch or a read of a local mirror) and nobody reads its answer.

import { execFile } from 'node:child_process';
import readline from 'node:readline';
import type { GitReply, GitRequest } from './protocol.js';

const MAX_OUTPUT = 256 * 1024 * 1024;
const STDERR_TAIL = 4096;

function send(m: GitReply): void {
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

function run(req: GitRequest): void {
  try {
    const child = execFile(
      'git',
      req.args,
      { cwd: req.cwd, maxBuffer: MAX_OUTPUT, timeout: req.timeoutMs, encoding: 'buffer' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
        send({
          id: req.id,
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          stdout: stdout.toString('base64'),
          stderr: stderr.subarray(Math.max(0, stderr.length - STDERR_TAIL)).toString('utf8'),
          ...(e !== null && typeof e.code !== 'number' ? { error: e.message } : {}),
        });
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(req.input ?? '');
  } catch (e) {
    send({ id: req.id, code: null, stdout: '', stderr: '', error: (e as Error).message });
  }
}

// Ctrl-C in a terminal signals the whole process group: the server decides when to stop (it
// drains the delivery queue first, which needs git), and ends this process by closing stdin.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let req: GitRequest;
  try {
    req = JSON.parse(line) as GitRequest;
  } catch {
    return;
  }
  run(req);
});
lines.on('close', () => process.exit(0));
