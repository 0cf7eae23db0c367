// `gantry up`: the whole product on one machine: the server on embedded SQLite and one local
// agent in the same process, talking over loopback exactly as a fleet does.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { addIsolationOptions, AGENT_DEFAULT, isolationSettings, type IsolationFlags } from '../isolation-options.js';
import { DEFAULT_POOL } from '../../domain/pools.js';

export function registerUp(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('up')
    .description('Run a server on embedded SQLite with a local agent: one command for one machine')
    .option('--listen <host:port>', 'address to listen on (default $GANTRY_LISTEN, then 127.0.0.1:8080)')
    .option('--db <url>', 'store (default sqlite:$GANTRY_HOME/gantry.db)')
    .option('--concurrency <n>', 'jobs the local agent runs at once (default: the number of CPUs)')
    .option('--tags <a,b>', "the local agent's tags");
  addIsolationOptions(cmd, AGENT_DEFAULT).action(
    async (flags: { listen?: string; db?: string; concurrency?: string; tags?: string } & IsolationFlags) => {
      const { startServer } = await import('../../server/start.js');
      const { runRemoteAgent } = await import('../../agent/remote/remote-agent.js');
      const { httpTransports } = await import('../../agent/remote/http-transports.js');
      const { parseTags } = await import('./agent.js');
      const { agentIsolation } = await import('../../agent/sandbox/open-isolation.js');
      const concurrency = flags.concurrency === undefined ? Math.max(1, os.availableParallelism()) : Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new GantryError('GANTRY_E_USAGE', '--concurrency expects 1 to 64');
      const server = await startServer({ config: ctx.config, db: flags.db, listen: flags.listen });
      const home = ctx.config.home;
      const adminToken = ctx.config.server.adminToken ?? readToken(path.join(home, 'admin.token'));
      const agentToken = ctx.config.server.agentToken ?? readToken(path.join(home, 'agent.token'));
      const { firstAdminNotice } = await import('./server.js');
      // One write: a reader that sees the URL sees the token and the web UI's address with it.
      ctx.stdout.write(
        `Gantry is up at ${server.url}\n` +
          `Admin token: ${adminToken ?? '(set by another instance: see its admin.token)'}\n` +
          `  export GANTRY_SERVER=${server.url} GANTRY_TOKEN=$(cat ${path.join(home, 'admin.token')})\n` +
          `Web UI: ${server.url}/ (sign in with the admin token)\n` +
          (server.firstAdmin ? firstAdminNotice(server.firstAdmin, server.url) : ''),
      );
      const stop = new AbortController();
      const cancelJobs = new AbortController();
      const onSignal = () => {
        if (!stop.signal.aborted) stop.abort();
        else cancelJobs.abort();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        ctx.exitCode = await runRemoteAgent({
          serverUrl: server.url,
          home: ctx.config.agent.home,
          name: `${os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 90) || 'local'}-local`,
          tags: parseTags(flags.tags),
          concurrency,
          ephemeral: false,
          // One machine, one pool: the one no admin needs to name.
          pool: DEFAULT_POOL,
          registrationToken: agentToken,
          isolation: agentIsolation(isolationSettings(flags, ctx, { agentHome: ctx.config.agent.home, fallback: null, hidden: [] }), (line, warning) =>
            server.app.log[warning ? 'warn' : 'info'](`agent: ${line}`),
          ),
          graceMs: ctx.config.killGraceMs,
          log: (line) => server.app.log.info(`agent: ${line}`),
          stop: stop.signal,
          cancelJobs: cancelJobs.signal,
          transports: httpTransports,
        });
      } finally {
        await server.close();
      }
    });
}

function readToken(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}
