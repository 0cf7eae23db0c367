// `gantry agents`: the fleet as the agents page shows it, for a terminal or a script (--json).

import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

const ago = (iso: string | null, now: number): string => {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};

export function registerAgents(program: Command, ctx: CliContext): void {
  const cmd = program.command('agents').description('List the agents of the fleet: status, pool, tags, isolation and the jobs they run');
  remoteOptions(cmd, 'print {items} as GET /api/v1/agents returns it');
  cmd.action(async (flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      const agents = await client.listAgents();
      if (flags.json) return printJson(ctx, { items: agents });
      if (agents.length === 0) {
        ctx.stdout.write('no agents: start one with `gantry agent --server URL --token TOKEN`\n');
        return;
      }
      const now = Date.now();
      printTable(
        ctx,
        ['ID', 'NAME', 'STATUS', 'POOL', 'SLOTS', 'TAGS', 'ISOLATION', 'JOBS', 'LAST SEEN'],
        agents.map((a) => [
          String(a.id),
          a.name,
          a.status,
          a.pool ?? 'default',
          `${a.currentJobs.length}/${a.concurrency}`,
          a.tags.join(',') || '-',
          a.isolation + (a.isolation === 'sandbox' && !a.sandboxReady ? ' (check failed)' : ''),
          a.currentJobs.map((j) => `#${j}`).join(' ') || '-',
          ago(a.lastSeenAt, now),
        ]),
      );
    });
  });
}
