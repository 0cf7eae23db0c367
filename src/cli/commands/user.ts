// `gantry user add|list|disable|enable|passwd`: people's accounts on a server, through the API
// (src/client/api-client.ts). Passwords are read without echo from the terminal, or from stdin
// with --password-stdin (src/cli/password-input.ts); never from the command line.

import type { Command } from 'commander';
import type { UserJson } from '../../client/api-client.js';
import type { CliContext } from '../context.js';
import { readNewPassword } from '../password-input.js';
import { utc } from './project.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface PasswordFlags extends RemoteFlags {
  passwordStdin?: boolean;
}

const STDIN_HELP = 'read the password from stdin (one trailing newline dropped) instead of asking on the terminal';

function describe(u: UserJson): string {
  return `user ${u.username}${u.admin ? ' (admin)' : ''}${u.disabled ? ', disabled' : ''}`;
}

export function registerUser(program: Command, ctx: CliContext): void {
  const user = program.command('user').description("People's accounts on a Gantry server: they sign in to the web UI with them (admin token or admin user)");

  const add = user
    .command('add')
    .description('Create a user; the password is asked twice without echo, or read with --password-stdin')
    .argument('<username>', 'lowercase letters, digits, ".", "_", "-" (up to 64)')
    .option('--admin', 'an instance admin: may do everything the admin token may')
    .option('--password-stdin', STDIN_HELP);
  remoteOptions(add, 'print {id, username, admin, disabled, createdAt}');
  add.action(async (username: string, flags: PasswordFlags & { admin?: boolean }) => {
    const password = await readNewPassword(ctx, username, Boolean(flags.passwordStdin));
    await withClient(ctx, flags, async (client) => {
      const made = await client.createUser(username, password, Boolean(flags.admin));
      if (flags.json) return printJson(ctx, made);
      ctx.stdout.write(`${describe(made)} created\n`);
    });
  });

  const list = user.command('list').description('List users, oldest first');
  remoteOptions(list, 'print {items: [{id, username, admin, disabled, createdAt}]}');
  list.action(async (flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      const items = await client.listUsers();
      if (flags.json) return printJson(ctx, { items });
      printTable(
        ctx,
        ['ID', 'USERNAME', 'ADMIN', 'DISABLED', 'CREATED (UTC)'],
        items.map((u) => [String(u.id), u.username, u.admin ? 'yes' : 'no', u.disabled ? 'yes' : 'no', utc(u.createdAt)]),
      );
    });
  });

  for (const [verb, disabled, what] of [
    ['disable', true, 'Disable a user: their sessions end at once and they cannot sign in'],
    ['enable', false, 'Enable a disabled user again'],
  ] as const) {
    const cmd = user.command(verb).description(what).argument('<username>');
    remoteOptions(cmd, 'print the user');
    cmd.action(async (username: string, flags: RemoteFlags) => {
      await withClient(ctx, flags, async (client) => {
        const changed = await client.updateUser(username, { disabled });
        if (flags.json) return printJson(ctx, changed);
        ctx.stdout.write(`${describe(changed)}\n`);
      });
    });
  }

  const passwd = user
    .command('passwd')
    .description("Set a user's password (their other sessions end); asked twice without echo, or read with --password-stdin")
    .argument('<username>')
    .option('--password-stdin', STDIN_HELP);
  remoteOptions(passwd, 'print the user');
  passwd.action(async (username: string, flags: PasswordFlags) => {
    const password = await readNewPassword(ctx, username, Boolean(flags.passwordStdin));
    await withClient(ctx, flags, async (client) => {
      const changed = await client.updateUser(username, { password });
      if (flags.json) return printJson(ctx, changed);
      ctx.stdout.write(`password of ${changed.username} changed\n`);
    });
  });
}
