// `gantry cancel`, `gantry retry`, `gantry play` and `gantry unschedule`: a person's actions on a pipeline or a job of
// the fleet, as the web UI's buttons take them. The server decides who may (API.md, roles) and
// which moves are legal (a finished job is not canceled: 409); this only calls and prints.

import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { printJson, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface ActionFlags extends RemoteFlags {
  job?: string;
}

/** An id as the API numbers them, or a usage error naming what it should be. */
export function idOf(text: string, what: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(text)) throw new GantryError('GANTRY_E_USAGE', `${what} must be an id, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** The pipeline named by the argument, or the job named by --job: exactly one of the two. */
function targetOf(pipeline: string | undefined, flags: ActionFlags): { kind: 'pipeline' | 'job'; id: number } {
  if (pipeline !== undefined && flags.job !== undefined) throw new GantryError('GANTRY_E_USAGE', 'name a pipeline or --job, not both');
  if (flags.job !== undefined) return { kind: 'job', id: idOf(flags.job, '--job') };
  if (pipeline === undefined) throw new GantryError('GANTRY_E_USAGE', 'name the pipeline (its id), or a job with --job ID');
  return { kind: 'pipeline', id: idOf(pipeline, 'the pipeline') };
}

export function registerJobActions(program: Command, ctx: CliContext): void {
  for (const verb of ['cancel', 'retry'] as const) {
    const cmd = program
      .command(verb)
      .argument('[pipeline]', `the pipeline to ${verb} (its id)`)
      .option('--job <id>', `${verb} one job instead of a pipeline`)
      .description(
        verb === 'cancel'
          ? 'Cancel a pipeline (every job not finished) or one job: running scripts get SIGTERM, then SIGKILL after the grace'
          : "Retry a pipeline's failed and canceled jobs, or one finished job (a new attempt)",
      );
    remoteOptions(cmd, 'print the pipeline (or job) as the API returns it');
    cmd.action(async (pipeline: string | undefined, flags: ActionFlags) => {
      const target = targetOf(pipeline, flags);
      await withClient(ctx, flags, async (client) => {
        if (target.kind === 'pipeline') {
          const p = await client.pipelineAction(target.id, verb);
          if (flags.json) return printJson(ctx, p);
          ctx.stdout.write(`pipeline #${p.id} ${verb === 'cancel' ? 'canceled' : 'retried'}: ${p.status}\n`);
          return;
        }
        const j = await client.jobAction(target.id, verb);
        if (flags.json) return printJson(ctx, j);
        ctx.stdout.write(`job #${j.id} ${j.name} ${verb === 'cancel' ? 'canceled' : 'retried'}: ${j.status}\n`);
      });
    });
  }

  const play = program
    .command('play')
    .argument('<job>', 'the manual job to start, or the scheduled job to run now (its id)')
    .description('Start a manual job (`when: manual`), or run a scheduled one (`when: delayed`) now');
  remoteOptions(play, 'print the job as the API returns it');
  play.action(async (jobText: string, flags: RemoteFlags) => {
    const id = idOf(jobText, 'the job');
    await withClient(ctx, flags, async (client) => {
      const j = await client.jobAction(id, 'play');
      if (flags.json) return printJson(ctx, j);
      ctx.stdout.write(`job #${j.id} ${j.name} played: ${j.status}\n`);
    });
  });

  const unschedule = program
    .command('unschedule')
    .argument('<job>', 'the scheduled job (its id)')
    .description('Unschedule a scheduled job (`when: delayed`): it becomes a manual job, to play later');
  remoteOptions(unschedule, 'print the job as the API returns it');
  unschedule.action(async (jobText: string, flags: RemoteFlags) => {
    const id = idOf(jobText, 'the job');
    await withClient(ctx, flags, async (client) => {
      const j = await client.jobAction(id, 'unschedule');
      if (flags.json) return printJson(ctx, j);
      ctx.stdout.write(`job #${j.id} ${j.name} unscheduled: ${j.status}\n`);
    });
  });
}
