// `gantry gc`: a garbage collection of the server on demand (RUNNING.md, "Retention and garbage
// collection"), or with --dry-run what one would delete. The server decides and deletes; this
// asks, waits when told to, and prints.

import type { Command } from 'commander';
import type { GcRunJson, GcSummaryJson } from '../../client/api-client.js';
import type { CliContext } from '../context.js';
import { printJson, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface GcFlags extends RemoteFlags {
  dryRun?: boolean;
  wait?: boolean;
}

const KINDS: [keyof GcSummaryJson, string][] = [
  ['pipelines', 'pipelines'],
  ['logs', 'logs'],
  ['artifacts', 'artifact records'],
  ['deliveries', 'webhook deliveries'],
  ['outbox', 'commit statuses'],
  ['audit', 'audit entries'],
  ['blobs', 'artifact and cache archives'],
  ['logObjects', 'compacted logs'],
];

function bytesText(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

function printSummary(ctx: CliContext, s: GcSummaryJson): void {
  ctx.stdout.write(s.dryRun ? 'a garbage collection now would delete (nothing was deleted):\n' : `garbage collection done in ${(s.durationMs / 1000).toFixed(1)} s:\n`);
  const width = Math.max(...KINDS.map(([, label]) => label.length));
  for (const [key, label] of KINDS) ctx.stdout.write(`  ${label.padEnd(width)}  ${s[key]}\n`);
  ctx.stdout.write(`  ${'bytes'.padEnd(width)}  ${bytesText(s.bytes)}${s.dryRun ? ' to free' : ' freed'}\n`);
}

export function registerGc(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('gc')
    .description("Run the server's garbage collection now (retention, expired artifacts, unreferenced blobs), or see what it would delete")
    .option('--dry-run', 'only say what a collection now would delete (counts per kind and bytes)')
    .option('--wait', 'wait for the collection to end and print what it deleted (exit 1 if it failed)');
  remoteOptions(cmd, 'print the answer as JSON: the summary (--dry-run, --wait) or {id, startedAt, alreadyRunning}');
  cmd.action(async (flags: GcFlags) => {
    await withClient(ctx, flags, async (client) => {
      if (flags.dryRun) {
        const s = await client.dryRunGc();
        if (flags.json) return printJson(ctx, s);
        return printSummary(ctx, s);
      }
      const started = await client.startGc();
      if (!flags.wait) {
        if (flags.json) return printJson(ctx, started);
        ctx.stdout.write(
          started.alreadyRunning
            ? `garbage collection #${started.id} was already running (since ${started.startedAt}); no second one started\n`
            : `garbage collection #${started.id} started at ${started.startedAt}; it runs in the background (gantry gc --wait waits for it)\n`,
        );
        return;
      }
      let run: GcRunJson | null = null;
      for (;;) {
        const status = await client.gcStatus();
        if (status.running?.id !== started.id && status.last !== null && status.last.id >= started.id) {
          run = status.last;
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      if (flags.json) printJson(ctx, run);
      else if (run.summary) printSummary(ctx, run.summary);
      if (run.error !== null) {
        if (!flags.json) ctx.stderr.write(`gantry: garbage collection #${run.id} ended early: ${run.error}\n`);
        ctx.exitCode = 1;
      }
    });
  });
}
