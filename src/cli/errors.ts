// One place maps errors to exit codes and to what a person reads: never a stack trace.

import { ServerUnreachableError } from '../client/api-client.js';
import { isGantryError, type ErrorCode } from '../domain/errors.js';
import type { CliContext } from './context.js';

/**
 * Exit codes: 1 = the pipeline or validation failed, or the server refused the request;
 * 2 = usage; 3 = not found, or the server cannot be reached; 4 = no token, an unknown one, or
 * one not allowed to do this; 70 = internal.
 */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  GANTRY_E_USAGE: 2,
  GANTRY_E_SSO_CONFIG: 2,
  GANTRY_E_NOT_FOUND: 3,
  GANTRY_E_PIPELINE_NOT_FOUND: 3,
  GANTRY_E_NOT_A_REPOSITORY: 3,
  GANTRY_E_REF_NOT_FOUND: 3,
  GANTRY_E_UNAUTHENTICATED: 4,
  GANTRY_E_FORBIDDEN: 4,
  GANTRY_E_SIGN_IN_FAILED: 4,
  GANTRY_E_TOKEN_EXPIRED: 4,
  GANTRY_E_PROTECTED_REF: 4,
  GANTRY_E_SELF_APPROVAL: 4,
  GANTRY_E_CONFLICT: 1,
  GANTRY_E_IDEMPOTENCY_MISMATCH: 1,
};

/** The server never answered (refused, unknown host, reset): like a missing thing, exit 3. */
const EXIT_UNREACHABLE = 3;

export function exitCodeOf(err: unknown): number {
  if (isGantryError(err)) return EXIT_CODES[err.code] ?? 1;
  if (err instanceof ServerUnreachableError) return EXIT_UNREACHABLE;
  return 70;
}

export function printError(ctx: CliContext, err: unknown): void {
  if (isGantryError(err)) {
    const where = err.location ? `${err.location.file}:${err.location.line}:${err.location.column}: ` : '';
    ctx.stderr.write(`gantry: ${where}${err.message} [${err.code}]\n`);
    return;
  }
  if (err instanceof ServerUnreachableError) {
    ctx.stderr.write(`gantry: ${err.message} [${err.code}]\n`);
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.stderr.write(`gantry: internal error: ${message}\n`);
  if (ctx.config.debug && err instanceof Error && err.stack) ctx.stderr.write(`${err.stack}\n`);
}
