// What the commands that talk to `gantry server` share: the --server/--token/--json options,
// where the server and the token come from, and how an answer's error reaches the person.

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ApiResponseError, DEFAULT_SERVER, GantryClient, normalizeServerUrl, ServerUnreachableError } from '../../client/api-client.js';
import type { CliContext } from '../context.js';

export interface RemoteFlags {
  server?: string;
  token?: string;
  json?: boolean;
}

/** Adds the options every server command has, and says in --help where their defaults come from. */
export function remoteOptions(cmd: Command, json: string): Command {
  return cmd
    .option('--server <url>', `the Gantry server (default $GANTRY_SERVER, then ${DEFAULT_SERVER})`)
    .option('--token <token>', 'API token (default $GANTRY_TOKEN, then the file $GANTRY_HOME/admin.token if it exists)')
    .option('--json', json)
    .addHelpText(
      'after',
      '\nExit status: 0 on success; 1 if the server refused the request; 2 for bad usage; 3 if the server\n' +
        'cannot be reached or something named does not exist; 4 if the token is missing, unknown or not\n' +
        'allowed to do this.',
    );
}

interface Connection {
  client: GantryClient;
  /** Where the token came from, or where it was looked for, for the hint under a 401. */
  tokenHint: string;
}

function connect(ctx: CliContext, flags: RemoteFlags): Connection {
  const server = normalizeServerUrl(flags.server ?? ctx.config.client.server ?? DEFAULT_SERVER);
  // A pause the server asked for is said, so that it never looks like a hang.
  const onShedWait = (seconds: number, message: string) => ctx.stderr.write(`gantry: ${message}: waiting ${seconds} s as the server asked, then trying again\n`);
  const client = (token: string | null) => new GantryClient({ server, token, onShedWait });
  if (flags.token !== undefined) return { client: client(flags.token), tokenHint: 'the token came from --token' };
  if (ctx.config.client.token !== null) return { client: client(ctx.config.client.token), tokenHint: 'the token came from GANTRY_TOKEN' };
  const file = path.join(ctx.config.home, 'admin.token');
  let token: string | null = null;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch {
    // No file: no token. The server answers 401 and the hint says how to give one.
  }
  const tokenHint = token === null ? `no token given: pass --token or set GANTRY_TOKEN (there is no ${file})` : `the token came from ${file}`;
  return { client: client(token), tokenHint };
}

/**
 * Runs a command's body with a client. Under --json an error is also printed to stdout as the
 * server's `{error: {...}}`, so a script reads one JSON document whatever happens; the person
 * reads it on stderr, through the one error printer (src/cli/errors.ts).
 */
export async function withClient(ctx: CliContext, flags: RemoteFlags, body: (client: GantryClient) => Promise<void>): Promise<void> {
  const { client, tokenHint } = connect(ctx, flags);
  try {
    await body(client);
  } catch (err) {
    if (flags.json && err instanceof ApiResponseError) printJson(ctx, { error: { code: err.code, message: err.message, status: err.status, ...err.details } });
    if (flags.json && err instanceof ServerUnreachableError) printJson(ctx, { error: { code: err.code, message: err.message, status: null } });
    if (err instanceof ApiResponseError && err.status === 401) {
      throw new ApiResponseError(err.code, `${err.message} (${tokenHint})`, err.status, err.details);
    }
    throw err;
  }
}

export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Aligned columns with a header row, like `gantry pipelines`. */
export function printTable(ctx: CliContext, head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const r of [head, ...rows]) ctx.stdout.write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
}
