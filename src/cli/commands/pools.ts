// `gantry pools [list]`, `gantry pools set NAME --cost-factor F`: the pools agents run jobs in
// and the price of a compute minute in each, through the API (src/client/api-client.ts).

import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { PoolJson } from '../../client/api-client.js';
import type { CliContext } from '../context.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

function agentsText(p: PoolJson): string {
  if (p.agents.length === 0) return '-';
  return p.agents.map((a) => `${a.name} (${a.status})`).join(', ');
}

export function registerPools(program: Command, ctx: CliContext): void {
  const pools = program.command('pools').description('Pools of agents (gantry agent --pool) and the cost factor of a compute minute in each');

  const list = pools.command('list', { isDefault: true }).description('List every pool an agent named or an admin priced (the default)');
  remoteOptions(list, 'print {items: [{name, costFactor, agents: [{id, name, status}], updatedAt}]}');
  list.action(async (flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      const items = await client.listPools();
      if (flags.json) return printJson(ctx, { items });
      if (items.length === 0) {
        ctx.stdout.write('no pools yet: an agent names its pool with `gantry agent --pool NAME` (default: default)\n');
        return;
      }
      printTable(ctx, ['POOL', 'COST FACTOR', 'AGENTS'], items.map((p) => [p.name, String(p.costFactor), agentsText(p)]));
    });
  });

  const set = pools
    .command('set')
    .description("Price a pool (admin): what a minute of a job there counts as, from now on")
    .argument('<name>', 'the pool, as agents name it')
    .requiredOption('--cost-factor <f>', '0 (free) to 1000, at most 3 decimals; 1 is the price of an unpriced pool');
  remoteOptions(set, 'print the pool: {name, costFactor, agents, updatedAt}');
  set.action(async (name: string, flags: RemoteFlags & { costFactor: string }) => {
    const factor = Number(flags.costFactor);
    if (flags.costFactor.trim() === '' || !Number.isFinite(factor)) throw new GantryError('GANTRY_E_USAGE', `--cost-factor ${JSON.stringify(flags.costFactor)} is not a number`);
    await withClient(ctx, flags, async (client) => {
      const p = await client.setPoolCostFactor(name, factor);
      if (flags.json) return printJson(ctx, p);
      ctx.stdout.write(`pool ${p.name}: cost factor ${p.costFactor}\n`);
    });
  });
}
