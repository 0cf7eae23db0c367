import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** What `gantry server` and `gantry up` print when they made the first admin user. */
export function firstAdminNotice(first: { username: string; password: string }, url: string): string {
  return (
    `First start: user ${first.username} created with password ${first.password}\n` +
    `  It is shown only this once. Sign in at ${url}/ and change it: gantry user passwd ${first.username}\n`
  );
}

export function registerServer(program: Command, ctx: CliContext): void {
  program
    .command('server')
    .description('Run the Gantry server: the HTTP API under /api/v1 and the scheduler; agents (gantry agent) run the jobs')
    .option('--db <url>', 'store: sqlite:PATH or postgres://USER@HOST:PORT/DB (default $GANTRY_DB, then sqlite:$GANTRY_HOME/gantry.db)')
    .option('--listen <host:port>', 'address to listen on; port 0 picks a free one (default $GANTRY_LISTEN, then 127.0.0.1:8080)')
    .action(async (flags: { db?: string; listen?: string }) => {
      // Loaded only for this command: Fastify and its plugins would add to every other command's start.
      const { startServer } = await import('../../server/start.js');
      const server = await startServer({ config: ctx.config, db: flags.db, listen: flags.listen });
      // On stderr, outside the JSON log on stdout, and only this once: the store keeps its hash alone.
      if (server.firstAdmin) ctx.stderr.write(firstAdminNotice(server.firstAdmin, server.url));
      await new Promise<void>((resolve, reject) => {
        const stop = (signal: NodeJS.Signals) => {
          server.app.log.info({ signal }, 'shutting down');
          // A second signal while closing ends the process at once.
          process.once(signal, () => process.exit(130));
          server.close().then(resolve, reject);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
