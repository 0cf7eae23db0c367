import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerRun(program: Command, _ctx: CliContext): void {
  program.command('run').description('(not yet implemented)');
}
