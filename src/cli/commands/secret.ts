// `gantry secret set|rm|list`: a project's variables on a server. Values go one way: this
// command sends them and never prints one, and the server never returns one.

import fs from 'node:fs';
import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { utc } from './project.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface SetFlags extends RemoteFlags {
  masked?: boolean;
  protected?: boolean;
  value?: string;
  fromFile?: string;
}

export function registerSecret(program: Command, ctx: CliContext): void {
  const secret = program.command('secret').description("A project's variables on a Gantry server (values are encrypted there and never shown)");

  const set = secret
    .command('set')
    .description('Create or replace a variable')
    .argument('<project>', 'project name or id')
    .argument('<key>', 'variable name ([A-Za-z_][A-Za-z0-9_]*)')
    .option('--masked', "mark the value as masked (hidden in job logs)")
    .option('--protected', "give it only to pipelines of protected refs (see `gantry project protect`)")
    .option('--value <value>', 'the value (visible to other local users in the process list: prefer stdin or --from-file)')
    .option('--from-file <file>', 'read the value from this file, byte for byte');
  remoteOptions(set, 'print {key, masked, protected} as JSON (never the value)');
  set.addHelpText('after', '\nWithout --value or --from-file the value is read from stdin (not a terminal); one trailing newline is dropped.');
  set.action(async (project: string, key: string, flags: SetFlags) => {
    const value = await valueOf(flags);
    await withClient(ctx, flags, async (client) => {
      await client.putVariable(project, key, value, Boolean(flags.masked), Boolean(flags.protected));
      if (flags.json) return printJson(ctx, { key, masked: Boolean(flags.masked), protected: Boolean(flags.protected) });
      const how = [flags.masked ? 'masked' : '', flags.protected ? 'protected' : ''].filter(Boolean).join(', ');
      ctx.stdout.write(`${key} set on project ${project}${how ? ` (${how})` : ''}\n`);
    });
  });

  const rm = secret.command('rm').description('Delete a variable').argument('<project>', 'project name or id').argument('<key>', 'variable name');
  remoteOptions(rm, 'print {key, deleted: true} as JSON');
  rm.action(async (project: string, key: string, flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      await client.deleteVariable(project, key);
      if (flags.json) return printJson(ctx, { key, deleted: true });
      ctx.stdout.write(`${key} deleted from project ${project}\n`);
    });
  });

  const list = secret.command('list').description("List a project's variables: keys, masked and protected flags, last change; never values").argument('<project>', 'project name or id');
  remoteOptions(list, 'print {items: [{key, masked, protected, updatedAt}]}');
  list.action(async (project: string, flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      const items = await client.listVariables(project);
      if (flags.json) return printJson(ctx, { items });
      if (items.length === 0) {
        ctx.stdout.write(`project ${project} has no variables\n`);
        return;
      }
      printTable(ctx, ['KEY', 'MASKED', 'PROTECTED', 'UPDATED (UTC)'], items.map((v) => [v.key, v.masked ? 'yes' : 'no', v.protected ? 'yes' : 'no', utc(v.updatedAt)]));
    });
  });
}

async function valueOf(flags: SetFlags): Promise<string> {
  if (flags.value !== undefined && flags.fromFile !== undefined) throw new GantryError('GANTRY_E_USAGE', 'give the value with --value or --from-file, not both');
  if (flags.value !== undefined) return flags.value;
  if (flags.fromFile !== undefined) {
    try {
      return fs.readFileSync(flags.fromFile, 'utf8');
    } catch (err) {
      throw new GantryError('GANTRY_E_USAGE', `--from-file: cannot read ${flags.fromFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  if (process.stdin.isTTY) throw new GantryError('GANTRY_E_USAGE', 'give the value on stdin (e.g. `gantry secret set P KEY < file`), with --from-file or with --value');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // `echo VALUE | gantry secret set ...` should store VALUE, not VALUE and a newline.
  const value = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (value === '') throw new GantryError('GANTRY_E_USAGE', 'stdin was empty: give the value on stdin, with --from-file or with --value');
  return value;
}
