// `gantry token create|list|revoke`: a project's trigger tokens on a server. A token is printed
// once, when it is made; the server keeps only its hash.

import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { utc } from './project.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface CreateFlags extends RemoteFlags {
  description?: string;
}

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program
    .command('token')
    .description("A project's trigger tokens: other systems' CI starts pipelines with one (POST /api/v1/projects/:project/trigger)");

  const create = token
    .command('create')
    .description('Make a trigger token and print it (the only time it is shown)')
    .argument('<project>', 'project name or id')
    .option('--description <text>', 'what or who the token is for');
  remoteOptions(create, 'print {id, description, token, createdAt, lastUsedAt}');
  create.action(async (project: string, flags: CreateFlags) => {
    await withClient(ctx, flags, async (client) => {
      const made = await client.createTriggerToken(project, flags.description);
      if (flags.json) return printJson(ctx, made);
      // The token alone on stdout, so `T=$(gantry token create P)` works; the rest on stderr.
      ctx.stdout.write(`${made.token}\n`);
      ctx.stderr.write(`trigger token #${made.id} for project ${project}: store it now, it is not shown again\n`);
    });
  });

  const list = token.command('list').description("List a project's trigger tokens (never their values)").argument('<project>', 'project name or id');
  remoteOptions(list, 'print {items: [{id, description, createdAt, lastUsedAt}]}');
  list.action(async (project: string, flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      const items = await client.listTriggerTokens(project);
      if (flags.json) return printJson(ctx, { items });
      if (items.length === 0) {
        ctx.stdout.write(`project ${project} has no trigger tokens\n`);
        return;
      }
      printTable(
        ctx,
        ['ID', 'DESCRIPTION', 'CREATED (UTC)', 'LAST USED (UTC)'],
        items.map((t) => [String(t.id), t.description ?? '', utc(t.createdAt), t.lastUsedAt === null ? 'never' : utc(t.lastUsedAt)]),
      );
    });
  });

  const revoke = token.command('revoke').description('Revoke a trigger token').argument('<project>', 'project name or id').argument('<id>', 'token id (from token list)');
  remoteOptions(revoke, 'print {id, revoked: true}');
  revoke.action(async (project: string, id: string, flags: RemoteFlags) => {
    if (!/^[1-9][0-9]{0,14}$/.test(id)) throw new GantryError('GANTRY_E_USAGE', `a token id is a number, got ${JSON.stringify(id)}`);
    await withClient(ctx, flags, async (client) => {
      await client.revokeTriggerToken(project, Number(id));
      if (flags.json) return printJson(ctx, { id: Number(id), revoked: true });
      ctx.stdout.write(`trigger token #${id} of project ${project} revoked\n`);
    });
  });
}
