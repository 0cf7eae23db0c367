// `gantry backup FILE` and `gantry restore FILE`: the embedded store and what a server needs
// beside it, out of and back into $GANTRY_HOME (src/backup/). Local commands: they work on the
// home's files, with the server running (backup) or stopped (restore).

import type { Command } from 'commander';
import { restoreBackup } from '../../backup/restore-backup.js';
import { writeBackup } from '../../backup/write-backup.js';
import { defaultStoreUrl } from '../../store/open.js';
import type { CliContext } from '../context.js';
import { printJson } from './remote.js';

const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

export function registerBackup(program: Command, ctx: CliContext): void {
  program
    .command('backup')
    .argument('<file>', 'the archive to write (a new file; tar)')
    .description("Back up $GANTRY_HOME's database (consistent while jobs run), secrets key, tokens, local logs and blobs into one file")
    .option('--no-blobs', 'leave artifacts, caches and compacted logs out (back their directories or bucket up yourself)')
    .option('--json', 'print the manifest and the file size as JSON')
    .action(async (file: string, flags: { blobs: boolean; json?: boolean }) => {
      const s = await writeBackup({
        home: ctx.config.home,
        storeUrl: ctx.config.server.db ?? defaultStoreUrl(ctx.config.home),
        logObjects: ctx.config.server.logObjects,
        file,
        withBlobs: flags.blobs,
        now: Date.now(),
        onWaitForCollection: (id) => ctx.stderr.write(`waiting for garbage collection ${id} to end (a backup holds collections off while it copies blobs)\n`),
      });
      if (flags.json) return printJson(ctx, { file: s.file, bytes: s.bytes, manifest: s.manifest });
      const m = s.manifest;
      ctx.stdout.write(`backed up to ${s.file} (${mib(s.bytes)}): the database as of ${m.createdAt} (schema ${m.schemaVersion}), ${m.files.join(', ') || 'no key or token files'}\n`);
      for (const [what, l] of [['blobs (artifacts, caches)', m.blobs], ['compacted logs', m.logObjects]] as const) {
        ctx.stdout.write(`${what}: ${l.referenced.length} named by the database, ${l.included ? 'in the archive' : l.location === 'dir' ? 'NOT in the archive (--no-blobs)' : `kept in ${l.location}, not in the archive`}\n`);
      }
    });

  program
    .command('restore')
    .argument('<file>', 'an archive written by gantry backup')
    .description('Restore a backup into $GANTRY_HOME (stop its server first), then check that every blob the database names is there')
    .option('--force', 'replace a home that has a database; what it held is kept in before-restore-TIME/')
    .option('--json', 'print what was restored and what is missing as JSON')
    .action(async (file: string, flags: { force?: boolean; json?: boolean }) => {
      const s = await restoreBackup({ file, home: ctx.config.home, force: flags.force === true, logObjects: ctx.config.server.logObjects, s3: ctx.config.server.s3, now: Date.now() });
      if (flags.json) return printJson(ctx, { manifest: s.manifest, keptAside: s.keptAside, blobs: s.blobs, logObjects: s.logObjects });
      ctx.stdout.write(`restored ${ctx.config.home} from ${file}: the database as of ${s.manifest.createdAt} (schema ${s.manifest.schemaVersion}), ${s.manifest.files.join(', ')}\n`);
      if (s.keptAside) ctx.stdout.write(`what the home held before is in ${s.keptAside}\n`);
      for (const [what, c] of [['blobs (artifacts, caches)', s.blobs], ['compacted logs', s.logObjects]] as const) {
        ctx.stdout.write(`${what}: ${c.referenced - c.missing.length} of ${c.referenced} present\n`);
        // Not a failure of the restore: the operator may still copy them in before starting the server.
        if (c.missing.length > 0) ctx.stderr.write(`gantry: ${c.missing.length} ${what} the database names are missing: ${c.missing.slice(0, 5).join(', ')}${c.missing.length > 5 ? ', ...' : ''}\n`);
      }
    });
}
