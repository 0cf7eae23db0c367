import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerPipelines(program: Command, _ctx: CliContext): void {
  program.command('pipelines').description('(not yet implemented)');
}
