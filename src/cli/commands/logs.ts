import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerLogs(program: Command, _ctx: CliContext): void {
  program.command('logs').description('(not yet implemented)');
}
