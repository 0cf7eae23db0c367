// One place maps errors to exit codes and to what a person reads: never a stack trace.

import { isGantryError, type ErrorCode } from '../domain/errors.js';
import type { CliContext } from './context.js';

/** Exit codes: 1 = the pipeline or validation failed, 2 = usage, 3 = not found, 70 = internal. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  GANTRY_E_USAGE: 2,
  GANTRY_E_NOT_FOUND: 3,
  GANTRY_E_PIPELINE_NOT_FOUND: 3,
  GANTRY_E_NOT_A_REPOSITORY: 3,
};

export function exitCodeOf(err: unknown): number {
  if (isGantryError(err)) return EXIT_CODES[err.code] ?? 1;
  return 70;
}

export function printError(ctx: CliContext, err: unknown): void {
  if (isGantryError(err)) {
    const where = err.location ? `${err.location.file}:${err.location.line}:${err.location.column}: ` : '';
    ctx.stderr.write(`gantry: ${where}${err.message} [${err.code}]\n`);
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.stderr.write(`gantry: internal error: ${message}\n`);
  if (ctx.config.debug && err instanceof Error && err.stack) ctx.stderr.write(`${err.stack}\n`);
}
