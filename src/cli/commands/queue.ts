// `gantry queue` and `gantry usage`: what waits and why, and what was used, as the queue and
// usage pages show them, for a terminal or a script (--json).

import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import { reasonText } from '../../views/queue-reason-text.js';
import type { CliContext } from '../context.js';
import { positiveInt } from '../options.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

const waited = (iso: string | null, now: number): string => {
  if (iso === null) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
};

interface UsageJson {
  month: string;
  limitMinutes?: number | null;
  grantedMinutes?: number;
  usedMinutes: number;
  reservedMinutes?: number;
  remainingMinutes?: number | null;
  byPool?: Record<string, { minutes: number; jobSeconds: number }>;
  projects?: { project: string; usedMinutes: number; limitMinutes: number | null; remainingMinutes: number | null }[];
}

const minutes = (m: number | null | undefined) => (m === null || m === undefined ? 'unlimited' : `${Math.round(m * 1000) / 1000}`);

export function registerQueue(program: Command, ctx: CliContext): void {
  const queue = program
    .command('queue')
    .description('List the jobs waiting for an agent, in queue order, with why each waits')
    .option('--project <name>', 'only this project')
    .option('-n, --limit <n>', 'how many (default 50, at most 1000)', positiveInt('--limit'));
  remoteOptions(queue, 'print {items} as GET /api/v1/queue returns it');
  queue.action(async (flags: RemoteFlags & { project?: string; limit?: number }) => {
    const limit = Math.min(flags.limit ?? 50, 1000);
    await withClient(ctx, flags, async (client) => {
      const items = await client.queue(flags.project ?? null, limit);
      if (flags.json) return printJson(ctx, { items });
      if (items.length === 0) {
        ctx.stdout.write('nothing waits\n');
        return;
      }
      const now = Date.now();
      printTable(
        ctx,
        ['JOB', 'NAME', 'PIPELINE', 'PROJECT', 'TAGS', 'WAITED', 'WHY'],
        items.map((e) => [`#${e.jobId}`, e.jobName + (e.urgent ? ' (urgent)' : ''), `#${e.pipelineId}`, e.project, e.tags.join(',') || '-', waited(e.queuedAt, now), reasonText(e.reason)]),
      );
    });
  });

  const usage = program
    .command('usage')
    .description("Show a month's compute minutes: a project's (its maintainers), or with no --project the instance's (admins)")
    .option('--project <name>', 'the project')
    .option('--month <YYYY-MM>', 'the month (default: this one)')
    .option('--csv', 'print the billing lines (one per attempt) as CSV');
  remoteOptions(usage, 'print the usage as GET /api/v1/usage (or /projects/:project/usage) returns it');
  usage.action(async (flags: RemoteFlags & { project?: string; month?: string; csv?: boolean }) => {
    if (flags.month !== undefined && !/^[0-9]{4}-(0[1-9]|1[0-2])$/.test(flags.month)) throw new GantryError('GANTRY_E_USAGE', '--month expects YYYY-MM');
    if (flags.csv && flags.json) throw new GantryError('GANTRY_E_USAGE', 'choose --csv or --json');
    await withClient(ctx, flags, async (client) => {
      const project = flags.project ?? null;
      const month = flags.month ?? null;
      if (flags.csv) {
        ctx.stdout.write(await client.usageCsv(project, month));
        return;
      }
      const u = (await client.usage(project, month)) as UsageJson;
      if (flags.json) return printJson(ctx, u);
      if (project === null) {
        ctx.stdout.write(`${u.month}: ${minutes(u.usedMinutes)} compute minutes used\n`);
        const top = [...(u.projects ?? [])].sort((a, b) => b.usedMinutes - a.usedMinutes);
        if (top.length > 0) printTable(ctx, ['PROJECT', 'USED', 'QUOTA', 'REMAINING'], top.map((p) => [p.project, minutes(p.usedMinutes), minutes(p.limitMinutes), minutes(p.remainingMinutes)]));
        return;
      }
      ctx.stdout.write(
        `${project} in ${u.month}: used ${minutes(u.usedMinutes)} of ${minutes(u.limitMinutes)} (granted ${minutes(u.grantedMinutes)}, held by running jobs ${minutes(u.reservedMinutes)}, remaining ${minutes(u.remainingMinutes)})\n`,
      );
      const pools = Object.entries(u.byPool ?? {});
      if (pools.length > 0) printTable(ctx, ['POOL', 'MINUTES', 'JOB SECONDS'], pools.map(([pool, p]) => [pool, minutes(p.minutes), String(Math.round(p.jobSeconds))]));
    });
  });
}
