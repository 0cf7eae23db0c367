// Reading a password for `gantry user add|passwd`: from the terminal without echo, asked twice, or
// whole from stdin with --password-stdin. Never from the command line, where every user of the
// machine can read it (ps, /proc/PID/cmdline) and the shell's history keeps it.

import { GantryError } from '../domain/errors.js';
import type { CliContext } from './context.js';

/** Reads one line from a terminal in raw mode, echoing nothing. Ctrl-C ends the command (130). */
function promptHidden(ctx: CliContext, prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    ctx.stderr.write(prompt);
    let value = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      ctx.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          // The terminal is back to normal before the process goes.
          finish();
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The new password of `username`: with `fromStdin`, all of stdin (one trailing newline dropped,
 * so `echo PW |` and a file both work); else asked twice on the terminal. No terminal and no
 * --password-stdin is a usage error: nothing to ask on.
 */
export async function readNewPassword(ctx: CliContext, username: string, fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (password === '') throw new GantryError('GANTRY_E_USAGE', '--password-stdin: stdin was empty');
    return password;
  }
  if (!process.stdin.isTTY) throw new GantryError('GANTRY_E_USAGE', 'no terminal to ask the password on: give it on stdin with --password-stdin');
  const first = await promptHidden(ctx, `New password for ${username}: `);
  const again = await promptHidden(ctx, 'Again: ');
  if (first !== again) throw new GantryError('GANTRY_E_USAGE', 'the two passwords differ; nothing was changed');
  if (first === '') throw new GantryError('GANTRY_E_USAGE', 'an empty password; nothing was changed');
  return first;
}
