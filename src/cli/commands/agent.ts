// `gantry agent`: takes jobs from a server and runs them on this machine.

import os from 'node:os';
import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';

interface AgentFlags {
  server?: string;
  token?: string;
  name?: string;
  tags?: string;
  concurrency?: string;
  insecureHttp?: boolean;
}

/**
 * The server URL an agent may use. Offers carry the project's secrets and the attempt token, so
 * plain http:// is refused beyond this machine unless the operator says so.
 */
export function checkServerUrl(raw: string, insecureHttp: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GantryError('GANTRY_E_USAGE', `--server ${JSON.stringify(raw)} is not a URL (e.g. https://gantry.example)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GantryError('GANTRY_E_USAGE', `--server must be an http:// or https:// URL, not ${url.protocol}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (url.protocol === 'http:' && !loopback && !insecureHttp) {
    throw new GantryError(
      'GANTRY_E_USAGE',
      `--server ${url.origin} is plain http beyond this machine: jobs' secrets and tokens would cross the network in clear. Use https://, or --insecure-http on a network you trust`,
    );
  }
  return raw;
}

export function parseTags(s: string | undefined): string[] {
  const tags = (s ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of tags) if (!/^[A-Za-z0-9._-]{1,100}$/.test(t)) throw new GantryError('GANTRY_E_USAGE', `tag ${JSON.stringify(t)}: use letters, digits, . _ -`);
  return tags;
}

export function registerAgent(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description('Run an agent: take jobs from a Gantry server and run them here (SIGTERM drains: running jobs finish first)')
    .option('--server <url>', 'the server (default $GANTRY_SERVER, then http://127.0.0.1:8080)')
    .option('--token <token>', 'the agent registration token, needed the first time (default $GANTRY_AGENT_TOKEN)')
    .option('--name <name>', 'how the agent shows in the fleet (default: the host name)')
    .option('--tags <a,b>', 'the tags of jobs this agent may run (untagged jobs run anywhere)')
    .option('--concurrency <n>', 'jobs at once', '1')
    .option('--insecure-http', 'allow a plain http:// server that is not on this machine (secrets cross the network in clear)')
    .action(async (flags: AgentFlags) => {
      const { runRemoteAgent } = await import('../../agent/remote/remote-agent.js');
      const { httpTransports } = await import('../../agent/remote/http-transports.js');
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new GantryError('GANTRY_E_USAGE', '--concurrency expects 1 to 64');
      const serverUrl = checkServerUrl(flags.server ?? ctx.config.client.server ?? 'http://127.0.0.1:8080', flags.insecureHttp === true);
      const name = (flags.name ?? os.hostname()).replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 100) || 'agent';
      const stop = new AbortController();
      const cancelJobs = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (!stop.signal.aborted) {
          ctx.stderr.write(`gantry agent: ${signal}: finishing running jobs (send it again to cancel them)\n`);
          stop.abort();
        } else cancelJobs.abort();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      ctx.exitCode = await runRemoteAgent({
        serverUrl,
        home: ctx.config.agent.home,
        name,
        tags: parseTags(flags.tags),
        concurrency,
        registrationToken: flags.token ?? ctx.config.server.agentToken,
        baseEnv: ctx.config.env,
        graceMs: ctx.config.killGraceMs,
        log: (line) => ctx.stderr.write(`gantry agent: ${line}\n`),
        stop: stop.signal,
        cancelJobs: cancelJobs.signal,
        transports: httpTransports,
      });
    });
}
