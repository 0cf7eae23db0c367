// `gantry audit [--project P]`: the audit log, newest first: a project's (its maintainers) or the
// whole instance's (admins). The server decides who sees what; this only pages and prints.

import type { Command } from 'commander';
import type { AuditEntryJson } from '../../client/api-client.js';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { utc } from './project.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface AuditFlags extends RemoteFlags {
  project?: string;
  limit: string;
  before?: string;
}

/** How an entry names who did it. */
export function actorText(a: AuditEntryJson['actor']): string {
  if (a.kind === 'user') return a.via === 'token' ? `${a.username} (token #${a.tokenId})` : (a.username ?? `user #${a.userId}`);
  if (a.kind === 'anonymous') return '-';
  return `${a.kind} #${a.tokenId}`;
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .description("The audit log, newest first: who changed what, when and from where (a project's: its maintainers; all: admins)")
    .option('--project <project>', "one project's entries (name or id); without it, the whole instance's")
    .option('--limit <n>', 'how many entries (1 to 1000)', '50')
    .option('--before <id>', 'only entries older than this id (the next page)');
  remoteOptions(audit, 'print {items: [{id, at, action, actor, target, projectId, address, details}], next}');
  audit.action(async (flags: AuditFlags) => {
    const limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new GantryError('GANTRY_E_USAGE', '--limit must be a whole number from 1 to 1000');
    let before = flags.before === undefined ? null : Number(flags.before);
    if (before !== null && !(Number.isInteger(before) && before > 0)) throw new GantryError('GANTRY_E_USAGE', '--before must be an entry id');
    await withClient(ctx, flags, async (client) => {
      const items: AuditEntryJson[] = [];
      // Pages of at most 100 (the server's bound) until the limit or the end.
      let next: number | null = null;
      do {
        const page = await client.auditPage(flags.project ?? null, Math.min(100, limit - items.length), before);
        items.push(...page.items);
        next = page.next;
        before = next;
      } while (next !== null && items.length < limit);
      if (flags.json) return printJson(ctx, { items, next });
      if (items.length === 0) {
        ctx.stdout.write('no audit entries\n');
        return;
      }
      printTable(
        ctx,
        ['ID', 'AT (UTC)', 'ACTION', 'ACTOR', 'TARGET', 'FROM'],
        items.map((e) => [String(e.id), utc(e.at), e.action, actorText(e.actor), `${e.target.type}${e.target.id === null ? '' : ` ${e.target.id}`}`, e.address ?? '-']),
      );
      if (next !== null) ctx.stdout.write(`more: gantry audit${flags.project ? ` --project ${flags.project}` : ''} --before ${next}\n`);
    });
  });
}
