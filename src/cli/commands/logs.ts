import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import { asPipelineId } from '../../domain/ids.js';
import type { CliContext } from '../context.js';
import { openHome } from '../open-home.js';
import { positiveInt } from '../options.js';

export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description("Print a job's log, byte for byte, from the local store")
    .argument('<pipeline-id>', 'pipeline number', positiveInt('pipeline-id'))
    .argument('<job>', 'job name (as shown by gantry run, e.g. "test 2/3")')
    .option('-a, --attempt <n>', 'which attempt (default: the last)', positiveInt('--attempt'))
    .action(async (pipelineId: number, jobName: string, flags: { attempt?: number }) => {
      const home = await openHome(ctx);
      try {
        const p = await home.store.getPipeline(asPipelineId(pipelineId));
        if (!p) throw new GantryError('GANTRY_E_NOT_FOUND', `no pipeline #${pipelineId}`);
        const job = p.jobs.find((j) => j.name === jobName) ?? p.jobs.find((j) => j.spec.baseName === jobName && p.jobs.filter((k) => k.spec.baseName === jobName).length === 1);
        if (!job) {
          throw new GantryError('GANTRY_E_NOT_FOUND', `pipeline #${pipelineId} has no job ${JSON.stringify(jobName)}; its jobs: ${p.jobs.map((j) => j.name).join(', ')}`);
        }
        const attempt = flags.attempt ?? job.attemptCount;
        if (attempt < 1 || attempt > job.attemptCount) {
          throw new GantryError('GANTRY_E_NOT_FOUND', job.attemptCount === 0 ? `job ${JSON.stringify(job.name)} never ran` : `job ${JSON.stringify(job.name)} has attempts 1 to ${job.attemptCount}`);
        }
        const bytes = home.logs.read({ pipelineId: p.pipeline.id, jobId: job.id, attempt });
        await new Promise<void>((resolve, reject) => ctx.stdout.write(bytes, (err) => (err ? reject(err) : resolve())));
      } finally {
        await home.close();
      }
    });
}
