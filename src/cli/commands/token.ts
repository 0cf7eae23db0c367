// `gantry token create|list|revoke`: a project's trigger tokens on a server, or with --user a
// person's personal access tokens. A token is printed once, when it is made; the server keeps only
// its hash.

import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { utc } from './project.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface CreateFlags extends RemoteFlags {
  description?: string;
  user?: string;
  expires?: string;
  project?: string[];
  readOnly?: boolean;
}

interface UserFlags extends RemoteFlags {
  user?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The positional project of a trigger-token command, or none with --user. */
function projectOrUser(project: string | undefined, flags: UserFlags): { project: string } | { user: string } {
  if (flags.user !== undefined) {
    if (project !== undefined) throw new GantryError('GANTRY_E_USAGE', 'give a project (trigger tokens) or --user (personal tokens), not both');
    return { user: flags.user };
  }
  if (project === undefined) throw new GantryError('GANTRY_E_USAGE', 'give a project (trigger tokens) or --user NAME (personal access tokens)');
  return { project };
}

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program
    .command('token')
    .description(
      "A project's trigger tokens (other systems' CI starts pipelines with one: POST /api/v1/projects/:project/trigger), " +
        "or with --user a person's personal access tokens (they act as the user, narrowed by --project and --read-only)",
    );

  const create = token
    .command('create')
    .description('Make a trigger token, or with --user a personal access token, and print it (the only time it is shown)')
    .argument('[project]', 'project name or id (trigger token)')
    .option('--user <name>', "make a personal access token of this user (yourself, or anyone's as an admin)")
    .option('--description <text>', 'what or who the token is for (required with --user)')
    .option('--expires <date>', 'personal token: when it stops working (ISO 8601, e.g. 2026-12-31 or 2026-12-31T18:00:00Z)')
    .option('--project <project>', 'personal token: only this project (repeat for several)', collect)
    .option('--read-only', 'personal token: reads only');
  remoteOptions(create, 'print the token with its fields ({id, description, token, ...})');
  create.action(async (project: string | undefined, flags: CreateFlags) => {
    const target = projectOrUser(project, flags);
    if ('user' in target) {
      if (flags.description === undefined) throw new GantryError('GANTRY_E_USAGE', 'a personal access token needs --description');
      let expiresAt: string | undefined;
      if (flags.expires !== undefined) {
        const at = new Date(flags.expires);
        if (Number.isNaN(at.getTime())) throw new GantryError('GANTRY_E_USAGE', `--expires: not a date: ${JSON.stringify(flags.expires)}`);
        expiresAt = at.toISOString();
      }
      await withClient(ctx, flags, async (client) => {
        const made = await client.createPersonalToken(target.user, {
          description: flags.description!,
          ...(expiresAt ? { expiresAt } : {}),
          ...(flags.project ? { projects: flags.project } : {}),
          ...(flags.readOnly ? { readOnly: true } : {}),
        });
        if (flags.json) return printJson(ctx, made);
        ctx.stdout.write(`${made.token}\n`);
        ctx.stderr.write(`personal access token #${made.id} of ${target.user}: store it now, it is not shown again\n`);
      });
      return;
    }
    if (flags.expires !== undefined || flags.project !== undefined || flags.readOnly) {
      throw new GantryError('GANTRY_E_USAGE', '--expires, --project and --read-only are for personal access tokens (--user)');
    }
    await withClient(ctx, flags, async (client) => {
      const made = await client.createTriggerToken(target.project, flags.description);
      if (flags.json) return printJson(ctx, made);
      // The token alone on stdout, so `T=$(gantry token create P)` works; the rest on stderr.
      ctx.stdout.write(`${made.token}\n`);
      ctx.stderr.write(`trigger token #${made.id} for project ${project}: store it now, it is not shown again\n`);
    });
  });

  const list = token
    .command('list')
    .description("List a project's trigger tokens, or with --user a person's personal tokens (never their values)")
    .argument('[project]', 'project name or id (trigger tokens)')
    .option('--user <name>', "a user's personal access tokens");
  remoteOptions(list, 'print {items: [...]}');
  list.action(async (project: string | undefined, flags: UserFlags) => {
    const target = projectOrUser(project, flags);
    await withClient(ctx, flags, async (client) => {
      if ('user' in target) {
        const items = await client.listPersonalTokens(target.user);
        if (flags.json) return printJson(ctx, { items });
        if (items.length === 0) {
          ctx.stdout.write(`${target.user} has no personal access tokens\n`);
          return;
        }
        printTable(
          ctx,
          ['ID', 'DESCRIPTION', 'PROJECTS', 'ACCESS', 'EXPIRES (UTC)', 'LAST USED (UTC)'],
          items.map((t) => [
            String(t.id),
            t.description,
            t.projects === null ? 'all' : t.projects.join(','),
            t.readOnly ? 'read-only' : 'read-write',
            t.expiresAt === null ? 'never' : `${utc(t.expiresAt)}${t.expired ? ' (expired)' : ''}`,
            t.lastUsedAt === null ? 'never' : utc(t.lastUsedAt),
          ]),
        );
        return;
      }
      const items = await client.listTriggerTokens(target.project);
      if (flags.json) return printJson(ctx, { items });
      if (items.length === 0) {
        ctx.stdout.write(`project ${target.project} has no trigger tokens\n`);
        return;
      }
      printTable(
        ctx,
        ['ID', 'DESCRIPTION', 'CREATED (UTC)', 'LAST USED (UTC)'],
        items.map((t) => [String(t.id), t.description ?? '', utc(t.createdAt), t.lastUsedAt === null ? 'never' : utc(t.lastUsedAt)]),
      );
    });
  });

  const revoke = token
    .command('revoke')
    .description('Revoke a trigger token (PROJECT ID), or with --user a personal access token (ID)')
    .argument('<project-or-id>', 'project name or id; with --user, the token id')
    .argument('[id]', 'token id (from token list)')
    .option('--user <name>', "revoke one of this user's personal access tokens");
  remoteOptions(revoke, 'print {id, revoked: true}');
  revoke.action(async (first: string, second: string | undefined, flags: UserFlags) => {
    const [project, id] = flags.user !== undefined ? [undefined, first] : [first, second];
    if (flags.user !== undefined && second !== undefined) throw new GantryError('GANTRY_E_USAGE', 'with --user give the token id only');
    if (id === undefined || !/^[1-9][0-9]{0,14}$/.test(id)) throw new GantryError('GANTRY_E_USAGE', `a token id is a number, got ${JSON.stringify(id ?? '')}`);
    const target = projectOrUser(project, flags);
    await withClient(ctx, flags, async (client) => {
      if ('user' in target) await client.revokePersonalToken(target.user, Number(id));
      else await client.revokeTriggerToken(target.project, Number(id));
      if (flags.json) return printJson(ctx, { id: Number(id), revoked: true });
      ctx.stdout.write('user' in target ? `personal access token #${id} of ${target.user} revoked\n` : `trigger token #${id} of project ${target.project} revoked\n`);
    });
  });
}
