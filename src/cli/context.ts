import type { Config } from '../config/config.js';

/** What every command gets: config read once, the output streams, and where to put its exit code. */
export interface CliContext {
  config: Config;
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  exitCode: number;
}
