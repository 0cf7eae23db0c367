import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import { PIPELINE_SOURCES, type PipelineSource } from '../../domain/status.js';
import { formatDiagnostic } from '../../pipeline/index.js';
import { killJobsNow, runLocalPipeline } from '../../local/local-pipeline-run.js';
import { pipelineJson } from '../../views/pipeline-json.js';
import { testsView } from '../../domain/test-reports.js';
import type { CliContext } from '../context.js';
import { openHome } from '../open-home.js';
import { collectList, collectVar, positiveInt } from '../options.js';
import { LiveOutput } from '../render/live-output.js';
import { addIsolationOptions, isolationSettings, type IsolationFlags } from '../isolation-options.js';
import { openIsolation } from '../../agent/sandbox/open-isolation.js';

interface RunFlags extends IsolationFlags {
  file?: string;
  concurrency?: number;
  var?: Record<string, string>;
  manual?: string[];
  json?: boolean;
  commit?: boolean;
  quiet?: boolean;
  keepWorkspaces?: boolean;
  source?: PipelineSource;
}

export function registerRun(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('run')
    .description("Run this repository's pipeline on this machine and show it live")
    .option('-f, --file <file>', 'pipeline file (default: .gantry.yml, then .gitlab-ci.yml)')
    .option('-c, --concurrency <n>', 'jobs run at once (default: number of CPUs)', positiveInt('--concurrency'))
    .option('--var <key=value>', 'a pipeline variable (repeatable)', collectVar)
    .option('--manual <job>', 'play this manual job when it becomes playable, or run this delayed job without its wait (repeatable)', collectList)
    .option('--commit', 'run HEAD as committed, not the working tree with its changes')
    .option(
      '--source <event>',
      `the event the run stands for, as CI_PIPELINE_SOURCE and in rules (${PIPELINE_SOURCES.join(', ')})`,
      (v: string) => {
        if (!(PIPELINE_SOURCES as readonly string[]).includes(v)) throw new GantryError('GANTRY_E_USAGE', `--source must be one of ${PIPELINE_SOURCES.join(', ')}`);
        return v as PipelineSource;
      },
      'push',
    )
    .option('--json', 'print one JSON object describing the finished pipeline on stdout (logs go to stderr)')
    .option('-q, --quiet', 'do not show job output, only job states and the summary')
    .option('--keep-workspaces', "keep each job's workspace under $GANTRY_HOME/builds")
    .addHelpText('after', '\nExit status: 0 if the pipeline succeeded, 1 if not, 130 if interrupted.');
  addIsolationOptions(cmd, 'none (your own machine: jobs run as you)').action(async (flags: RunFlags) => {
      const home = await openHome(ctx);
      const controller = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts === 1) ctx.stderr.write('\ngantry: canceling the pipeline (Ctrl-C again to stop waiting)\n');
        controller.abort();
        if (interrupts > 1) {
          // Not waiting any more means not leaving jobs behind either: no grace this time.
          killJobsNow();
          process.exit(130);
        }
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      const out = flags.json ? ctx.stderr : ctx.stdout;
      const tty = Boolean((out as { isTTY?: boolean }).isTTY);
      const live = new LiveOutput({ out, color: ctx.config.color && tty, board: tty, quiet: Boolean(flags.quiet) });
      // Per process: two `gantry run`s at once must not take each other's jobs for leftovers.
      const sandboxHome = path.join(ctx.config.home, 'run-sandbox', String(process.pid));
      const isolation = openIsolation(isolationSettings(flags, ctx, { agentHome: sandboxHome, fallback: 'none', hidden: [] })).isolation;
      try {
        const result = await runLocalPipeline({
          cwd: process.cwd(),
          pipelineFile: flags.file,
          concurrency: flags.concurrency ?? os.availableParallelism(),
          variables: flags.var ?? {},
          manual: flags.manual ?? [],
          useCommit: Boolean(flags.commit),
          source: flags.source,
          user: localUser(),
          home: ctx.config.home,
          store: home.store,
          logs: home.logs,
          observer: live,
          signal: controller.signal,
          isolation,
          graceMs: ctx.config.killGraceMs,
          keepWorkspaces: Boolean(flags.keepWorkspaces),
        });
        for (const w of result.warnings) ctx.stderr.write(`${formatDiagnostic(w, { color: ctx.config.color })}\n`);
        if (result.kind === 'invalid') {
          live.finish(null);
          for (const e of result.errors) ctx.stderr.write(`${formatDiagnostic(e, { color: ctx.config.color })}\n`);
          ctx.stderr.write(`gantry: ${result.file} is not valid: ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}, nothing was run\n`);
          if (flags.json) ctx.stdout.write(`${JSON.stringify({ error: { code: result.errors[0]?.code ?? 'GANTRY_E_INVALID_VALUE', message: 'the pipeline file is not valid', diagnostics: result.errors } })}\n`);
          ctx.exitCode = 1;
          return;
        }
        if (result.kind === 'filtered') {
          live.finish(null);
          ctx.stderr.write(`gantry: no pipeline runs: ${result.reason}\n`);
          if (flags.json) ctx.stdout.write(`${JSON.stringify({ filtered: true, reason: result.reason })}\n`);
          ctx.exitCode = 0;
          return;
        }
        const tests = testsView(await home.store.testReports.ofPipeline(result.pipeline.pipeline.id));
        live.finish(result.pipeline, tests);
        // The JSON gains `tests` (the summary of docs/API.md, "Test reports") when a job reported some.
        const json = tests.summary.total > 0 ? { ...pipelineJson(result.pipeline), tests: tests.summary } : pipelineJson(result.pipeline);
        if (flags.json) ctx.stdout.write(`${JSON.stringify(json)}\n`);
        const status = result.pipeline.pipeline.status;
        ctx.exitCode = status === 'success' ? 0 : status === 'canceled' && controller.signal.aborted ? 130 : 1;
      } finally {
        live.finish(null);
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
        isolation.close();
        fs.rmSync(sandboxHome, { recursive: true, force: true });
        await home.close();
      }
    });
}

/** Who runs `gantry run`, for the pipeline's record; none where the system cannot say. */
function localUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}
