// `gantry agent`: takes jobs from a server and runs them on this machine.

import fs from 'node:fs';
import os from 'node:os';
import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { addIsolationOptions, AGENT_DEFAULT, isolationSettings, type IsolationFlags } from '../isolation-options.js';
import { DEFAULT_POOL, POOL_NAME_PATTERN } from '../../domain/pools.js';

interface AgentFlags extends IsolationFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  checkIsolation?: boolean;
  name?: string;
  tags?: string;
  concurrency?: string;
  pool?: string;
  insecureHttp?: boolean;
  ephemeral?: boolean;
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

/** `--pool`: a pool's name, or `default` when none is given. */
export function parsePool(s: string | undefined): string {
  const pool = s ?? DEFAULT_POOL;
  if (!POOL_NAME_PATTERN.test(pool)) {
    throw new GantryError('GANTRY_E_USAGE', `--pool ${JSON.stringify(pool)}: use 1 to 63 lowercase letters, digits, . _ -, starting with a letter or digit (e.g. gpu, cpu-large)`);
  }
  return pool;
}

export function parseTags(s: string | undefined): string[] {
  const tags = (s ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of tags) if (!/^[A-Za-z0-9._-]{1,100}$/.test(t)) throw new GantryError('GANTRY_E_USAGE', `tag ${JSON.stringify(t)}: use letters, digits, . _ -`);
  return tags;
}

/**
 * The registration token: from a file, the environment, or (warned against) the command line,
 * where every user of this host can read it.
 */
export function registrationToken(flags: { token?: string; tokenFile?: string }, ctx: CliContext): string | null {
  if (flags.tokenFile !== undefined) {
    try {
      const t = fs.readFileSync(flags.tokenFile, 'utf8').trim();
      if (!t) throw new GantryError('GANTRY_E_USAGE', `--token-file ${flags.tokenFile} is empty`);
      return t;
    } catch (e) {
      if (e instanceof GantryError) throw e;
      throw new GantryError('GANTRY_E_USAGE', `--token-file ${flags.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (flags.token !== undefined) {
    ctx.stderr.write('gantry agent: warning: --token puts the registration token on the command line, where every user of this host can read it (ps, /proc); use GANTRY_AGENT_TOKEN or --token-file\n');
    return flags.token;
  }
  return ctx.config.server.agentToken;
}

export function registerAgent(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('agent')
    .description('Run an agent: take jobs from a Gantry server and run them here (SIGTERM drains: running jobs finish first)')
    .option('--server <url>', 'the server (default $GANTRY_SERVER, then http://127.0.0.1:8080)')
    .option('--token-file <file>', 'a file holding the agent registration token, needed the first time (or $GANTRY_AGENT_TOKEN)')
    .option('--token <token>', 'the registration token on the command line (warned against: other users of the host can read it)')
    .option('--name <name>', 'how the agent shows in the fleet (default: the host name)')
    .option('--tags <a,b>', 'the tags of jobs this agent may run (untagged jobs run anywhere)')
    .option('--concurrency <n>', 'jobs at once', '1')
    .option('--ephemeral', 'take exactly one job, run it, deregister and exit (a fresh VM or pod per job; with an autoscaler)')
    .option('--pool <name>', "the pool this agent runs jobs for: what an admin prices (`gantry pools`)", DEFAULT_POOL)
    .option('--insecure-http', 'allow a plain http:// server that is not on this machine (secrets cross the network in clear)')
    .option('--check-isolation', "run hostile probes under this agent's configuration, print what a job can and cannot reach, exit 1 if docs/SECURITY.md's threat model is not met");
  addIsolationOptions(cmd, AGENT_DEFAULT).action(async (flags: AgentFlags) => {
      const { runRemoteAgent } = await import('../../agent/remote/remote-agent.js');
      const { httpTransports } = await import('../../agent/remote/http-transports.js');
      const { agentIsolation, openIsolation } = await import('../../agent/sandbox/open-isolation.js');
      const { checkIsolation, formatCheck } = await import('../../agent/sandbox/check-isolation.js');
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new GantryError('GANTRY_E_USAGE', '--concurrency expects 1 to 64');
      if (flags.ephemeral && concurrency !== 1) throw new GantryError('GANTRY_E_USAGE', '--ephemeral takes exactly one job: leave out --concurrency');
      const pool = parsePool(flags.pool);
      const log = (line: string) => ctx.stderr.write(`gantry agent: ${line}\n`);
      const home = ctx.config.agent.home;
      fs.mkdirSync(home, { recursive: true, mode: 0o700 });
      const settings = isolationSettings(flags, ctx, { agentHome: home, fallback: null, hidden: flags.tokenFile ? [flags.tokenFile] : [] });
      if (flags.checkIsolation) {
        const { lockHome } = await import('../../agent/remote/home-lock.js');
        const lock = lockHome(home);
        if (!lock.ok) throw new GantryError('GANTRY_E_USAGE', `an agent (pid ${lock.holder}) runs on ${home}: its last check is on the agents page; to check again beside it, give this run its own GANTRY_AGENT_HOME`);
        const opened = openIsolation(settings);
        try {
          const check = await checkIsolation(opened.isolation, { agentHome: settings.agentHome, secretFiles: settings.hidden });
          ctx.stdout.write(formatCheck(opened.isolation, check));
          if (!check.passed) throw new GantryError('GANTRY_E_ISOLATION_CHECK_FAILED', 'a job on this agent can reach what docs/SECURITY.md forbids (see the table)');
        } finally {
          opened.isolation.close();
          lock.release();
        }
        return;
      }
      const token = registrationToken(flags, ctx);
      const isolation = agentIsolation(settings, (line) => log(line));
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
        home,
        name,
        tags: parseTags(flags.tags),
        concurrency,
        ephemeral: flags.ephemeral === true,
        pool,
        registrationToken: token,
        isolation,
        graceMs: ctx.config.killGraceMs,
        log,
        stop: stop.signal,
        cancelJobs: cancelJobs.signal,
        transports: httpTransports,
      });
    });
}
