import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerValidate(program: Command, _ctx: CliContext): void {
  program.command('validate').description('(not yet implemented)');
}
