// `gantry trigger`: ask a server to create a pipeline from a ref of a project's repository.

import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { ApiResponseError } from '../../client/api-client.js';
import type { ErrorCode } from '../../domain/errors.js';
import { formatDiagnostic } from '../../pipeline/index.js';
import type { CliContext } from '../context.js';
import { collectVar } from '../options.js';
import { printJson, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface TriggerFlags extends RemoteFlags {
  project: string;
  ref: string;
  sha?: string;
  var?: Record<string, string>;
  idempotencyKey?: string;
}

export function registerTrigger(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('trigger')
    .description("Create a pipeline on a Gantry server from a branch, tag or commit of a project's repository")
    .requiredOption('-p, --project <project>', 'project name or id')
    .requiredOption('-r, --ref <ref>', 'branch or tag (the server fetches it first)')
    .option('--sha <sha>', 'this commit of the ref instead of its tip')
    .option('--var <key=value>', 'a pipeline variable (repeatable)', collectVar)
    .option(
      '--idempotency-key <key>',
      'sending this key again returns the pipeline it created instead of a new one (default: a random key, so the ' +
        "client's own retry never creates two)",
    );
  remoteOptions(cmd, 'print the pipeline as JSON, the shape of GET /api/v1/pipelines/:id');
  cmd.action(async (flags: TriggerFlags) => {
    await withClient(ctx, flags, async (client) => {
      const request = { ref: flags.ref, ...(flags.sha ? { sha: flags.sha } : {}), ...(flags.var ? { variables: flags.var } : {}) };
      try {
        const { pipeline, replayed } = await client.triggerPipeline(flags.project, request, flags.idempotencyKey ?? randomUUID());
        if (flags.json) return printJson(ctx, pipeline);
        const jobs = `${pipeline.jobs.length} job${pipeline.jobs.length === 1 ? '' : 's'}`;
        ctx.stdout.write(
          `pipeline #${pipeline.id} ${replayed ? 'already created with this idempotency key' : 'created'}: ${pipeline.status}, ` +
            `${jobs}, ${pipeline.ref} at ${pipeline.sha.slice(0, 12)}\n${client.url(`/pipelines/${pipeline.id}`)}\n`,
        );
      } catch (err) {
        // Every problem of an invalid pipeline file, each where it is, as `gantry validate` prints them.
        if (err instanceof ApiResponseError) {
          for (const d of err.diagnostics) {
            const diagnostic = { severity: 'error' as const, code: d.code as ErrorCode, message: d.message, location: { file: d.file, line: d.line, column: d.column } };
            ctx.stderr.write(`${formatDiagnostic(diagnostic, { color: ctx.config.color })}\n`);
          }
        }
        throw err;
      }
    });
  });
}
