// `gantry approve JOB` / `gantry reject JOB --comment C`: a decision on a deployment waiting for
// its approvals; with --pipeline ID, on a fork's pipeline waiting for a maintainer. The server
// decides who may (API.md, "Approvals"); this only calls and prints.

import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { printJson, remoteOptions, withClient, type RemoteFlags } from './remote.js';
import { idOf } from './job-actions.js';

interface DecisionFlags extends RemoteFlags {
  pipeline?: boolean;
  always?: boolean;
  comment?: string;
}


export function registerApprove(program: Command, ctx: CliContext): void {
  const approve = program
    .command('approve')
    .argument('<id>', 'the job waiting for approval (a deployment to a protected environment), or with --pipeline the pipeline')
    .description("Approve a deployment waiting for approval, or with --pipeline a fork's pipeline waiting for a maintainer")
    .option('--pipeline', 'ID is a pipeline from a fork waiting for approval')
    .option('--always', "with --pipeline: also run the author's later pull requests without asking")
    .option('--comment <text>', 'a comment kept with a deployment approval');
  remoteOptions(approve, 'print the job (or pipeline) as the API returns it');
  approve.action(async (idText: string, flags: DecisionFlags) => {
    if (flags.always && !flags.pipeline) throw new GantryError('GANTRY_E_USAGE', '--always applies to a pipeline: add --pipeline');
    const id = idOf(idText, flags.pipeline ? 'the pipeline' : 'the job');
    await withClient(ctx, flags, async (client) => {
      if (flags.pipeline) {
        const p = await client.approvePipeline(id, flags.always ? 'always' : 'once');
        if (flags.json) return printJson(ctx, p);
        ctx.stdout.write(`pipeline #${p.id} approved${flags.always ? ` (and its author from now on)` : ''}: ${p.status}\n`);
        return;
      }
      const j = await client.decideJob(id, 'approve', flags.comment);
      if (flags.json) return printJson(ctx, j);
      ctx.stdout.write(`job #${j.id} ${j.name} approved: ${j.status === 'waiting_for_approval' ? 'it waits for more approvals' : j.status}\n`);
    });
  });

  const reject = program
    .command('reject')
    .argument('<id>', 'the job waiting for approval, or with --pipeline the pipeline')
    .description("Reject a deployment waiting for approval (the job fails: deployment_rejected), or with --pipeline a fork's pipeline (canceled)")
    .option('--pipeline', 'ID is a pipeline from a fork waiting for approval')
    .option('--comment <text>', 'why (required for a deployment)');
  remoteOptions(reject, 'print the job (or pipeline) as the API returns it');
  reject.action(async (idText: string, flags: DecisionFlags) => {
    const id = idOf(idText, flags.pipeline ? 'the pipeline' : 'the job');
    if (!flags.pipeline && (flags.comment === undefined || flags.comment.trim() === '')) throw new GantryError('GANTRY_E_USAGE', 'rejecting a deployment needs --comment: say why');
    await withClient(ctx, flags, async (client) => {
      if (flags.pipeline) {
        const p = await client.rejectPipeline(id, flags.comment);
        if (flags.json) return printJson(ctx, p);
        ctx.stdout.write(`pipeline #${p.id} rejected: ${p.status}\n`);
        return;
      }
      const j = await client.decideJob(id, 'reject', flags.comment);
      if (flags.json) return printJson(ctx, j);
      ctx.stdout.write(`job #${j.id} ${j.name} rejected: ${j.status}\n`);
    });
  });
}
