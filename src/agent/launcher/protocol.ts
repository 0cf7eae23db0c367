// Messages between the agent and its process launcher: one JSON object per line.

/** Sets the environment that spawn requests' `env` is relative to. */
export interface BaseEnvRequest {
  op: 'base-env';
  env: Record<string, string>;
}

export interface SpawnRequest {
  op: 'spawn';
  id: number;
  file: string;
  args: string[];
  cwd: string;
  /**
   * The process's environment as changes to the base environment: jobs share most of theirs
   * (the agent's own), so only what differs crosses the pipe. A null value removes a variable.
   */
  env: Record<string, string | null>;
  /** stdout and stderr both go to this file, opened O_APPEND and emptied first. */
  outputPath: string;
}

export type LauncherMessage =
  | { op: 'started'; id: number; pid: number }
  | { op: 'failed'; id: number; message: string }
  | { op: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };
