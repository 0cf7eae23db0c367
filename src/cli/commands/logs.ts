import type { Command } from 'commander';
import { ServerUnreachableError, type GantryClient } from '../../client/api-client.js';
import type { PipelineJson } from '../../views/pipeline-json.js';
import { GantryError } from '../../domain/errors.js';
import { asPipelineId } from '../../domain/ids.js';
import type { CliContext } from '../context.js';
import { openHome } from '../open-home.js';
import { positiveInt } from '../options.js';
import { withClient } from './remote.js';

interface LogsFlags {
  attempt?: number;
  follow?: boolean;
  server?: string;
  token?: string;
}

const FINISHED = new Set(['success', 'failed', 'canceled', 'skipped', 'timed_out']);
const POLL_MS = 250;

function findJob<J extends { name: string }>(jobs: J[], jobName: string, baseName: (j: J) => string, pipelineId: number): J {
  const job = jobs.find((j) => j.name === jobName) ?? jobs.find((j) => baseName(j) === jobName && jobs.filter((k) => baseName(k) === jobName).length === 1);
  if (!job) throw new GantryError('GANTRY_E_NOT_FOUND', `pipeline #${pipelineId} has no job ${JSON.stringify(jobName)}; its jobs: ${jobs.map((j) => j.name).join(', ')}`);
  return job;
}

function write(ctx: CliContext, bytes: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => ctx.stdout.write(bytes, (err) => (err ? reject(err) : resolve())));
}

export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description("Print a job's log, byte for byte: from the local store, or from a server with --server (-f follows it live)")
    .argument('<pipeline-id>', 'pipeline number', positiveInt('pipeline-id'))
    .argument('<job>', 'job name (as shown by gantry run, e.g. "test 2/3")')
    .option('-a, --attempt <n>', 'which attempt (default: the last)', positiveInt('--attempt'))
    .option('-f, --follow', 'with a server: keep printing as the job runs, until it ends (resumes after a network break)')
    .option('--server <url>', 'read the log from this Gantry server (default: the local store, unless $GANTRY_SERVER is set)')
    .option('--token <token>', 'API token (default $GANTRY_TOKEN, then $GANTRY_HOME/admin.token)')
    .action(async (pipelineId: number, jobName: string, flags: LogsFlags) => {
      if (flags.server !== undefined || ctx.config.client.server !== null) {
        await withClient(ctx, flags, (client) => remoteLog(ctx, client, pipelineId, jobName, flags));
        return;
      }
      if (flags.follow) throw new GantryError('GANTRY_E_USAGE', '--follow reads from a server: pass --server URL (or set GANTRY_SERVER)');
      const home = await openHome(ctx);
      try {
        const p = await home.store.getPipeline(asPipelineId(pipelineId));
        if (!p) throw new GantryError('GANTRY_E_NOT_FOUND', `no pipeline #${pipelineId}`);
        const job = findJob(p.jobs, jobName, (j) => j.spec.baseName, pipelineId);
        const attempt = flags.attempt ?? job.attemptCount;
        if (attempt < 1 || attempt > job.attemptCount) {
          throw new GantryError('GANTRY_E_NOT_FOUND', job.attemptCount === 0 ? `job ${JSON.stringify(job.name)} never ran` : `job ${JSON.stringify(job.name)} has attempts 1 to ${job.attemptCount}`);
        }
        await write(ctx, home.logs.read({ pipelineId: p.pipeline.id, jobId: job.id, attempt }));
      } finally {
        await home.close();
      }
    });
}

/**
 * Prints the log from the server. With --follow it reads the live stream (SSE) of the attempt
 * until its end event. The offset after the last byte printed is the only state: after a network
 * break or a server restart it reconnects with that offset as Last-Event-ID, so nothing is printed
 * twice and nothing is skipped.
 */
async function remoteLog(ctx: CliContext, client: GantryClient, pipelineId: number, jobName: string, flags: LogsFlags): Promise<void> {
  const baseName = (j: PipelineJson['jobs'][number]) => j.name.replace(/ \d+\/\d+$|: \[.*\]$/, '');
  let offset = 0;
  let attempt = flags.attempt;
  let failures = 0;
  for (;;) {
    try {
      const p = await client.getPipeline(pipelineId);
      const job = findJob(p.jobs, jobName, baseName, pipelineId);
      // Follow the attempt being watched; without --attempt, the latest one when the first bytes come.
      if (attempt === undefined && job.attempts > 0) attempt = job.attempts;
      if (attempt === undefined) {
        if (!flags.follow || FINISHED.has(job.status)) throw new GantryError('GANTRY_E_NOT_FOUND', `job ${JSON.stringify(job.name)} never ran`);
      } else if (!flags.follow) {
        const { bytes } = await client.logFrom(job.id, 0, attempt);
        await write(ctx, bytes);
        return;
      } else {
        let got = false;
        for await (const item of client.logStream(job.id, attempt, offset)) {
          if ('end' in item) return;
          if (item.bytes.length > 0) await write(ctx, item.bytes);
          offset = item.next;
          got = true;
        }
        // The stream broke before its end: reconnect from `offset`.
        if (got) failures = 0;
        else failures++;
        if (failures <= 1) ctx.stderr.write(`gantry logs: the log stream was cut at byte ${offset}; resuming from there\n`);
      }
      if (attempt === undefined) failures = 0;
    } catch (err) {
      if (!(err instanceof ServerUnreachableError) || !flags.follow) throw err;
      // The server is restarting or the network broke: keep the offset and ask again.
      if (++failures === 1) ctx.stderr.write(`gantry logs: ${err.message}; retrying\n`);
    }
    await new Promise((r) => setTimeout(r, failures ? Math.min(5_000, POLL_MS * 2 ** failures) : POLL_MS));
  }
}
