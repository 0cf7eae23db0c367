// The `gantry` command: parses arguments, hands each command to its module, maps errors to exit codes.

import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/config.js';
import { GANTRY_VERSION } from '../domain/version.js';
import { registerValidate } from './commands/validate.js';
import { registerRun } from './commands/run.js';
import { registerLogs } from './commands/logs.js';
import { registerPipelines } from './commands/pipelines.js';
import { registerServer } from './commands/server.js';
import { registerAgent } from './commands/agent.js';
import { registerUp } from './commands/up.js';
import { registerTrigger } from './commands/trigger.js';
import { registerProject } from './commands/project.js';
import { registerSecret } from './commands/secret.js';
import { registerHook } from './commands/hook.js';
import { registerToken } from './commands/token.js';
import { registerUser } from './commands/user.js';
import { registerAudit } from './commands/audit.js';
import { registerApprove } from './commands/approve.js';
import { registerJobActions } from './commands/job-actions.js';
import { registerAgents } from './commands/agents.js';
import { registerQueue } from './commands/queue.js';
import { registerBackup } from './commands/backup.js';
import { registerPools } from './commands/pools.js';
import { registerGc } from './commands/gc.js';
import { exitCodeOf, printError } from './errors.js';
import type { CliContext } from './context.js';

export async function main(argv: string[]): Promise<number> {
  const config = loadConfig();
  const ctx: CliContext = { config, stdout: process.stdout, stderr: process.stderr, exitCode: 0 };
  const program = new Command('gantry')
    .description('Self-hosted CI/CD: run GitLab-CI-style pipelines on your own machines')
    .version(GANTRY_VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)');
  registerValidate(program, ctx);
  registerRun(program, ctx);
  registerLogs(program, ctx);
  registerPipelines(program, ctx);
  registerApprove(program, ctx);
  registerJobActions(program, ctx);
  registerServer(program, ctx);
  registerAgent(program, ctx);
  registerAgents(program, ctx);
  registerQueue(program, ctx);
  registerUp(program, ctx);
  registerTrigger(program, ctx);
  registerProject(program, ctx);
  registerSecret(program, ctx);
  registerHook(program, ctx);
  registerToken(program, ctx);
  registerUser(program, ctx);
  registerAudit(program, ctx);
  registerBackup(program, ctx);
  registerPools(program, ctx);
  registerGc(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    printError(ctx, err);
    return exitCodeOf(err);
  }
}
