// Messages between the agent and its process launcher: one JSON object per line.

export interface SpawnRequest {
  op: 'spawn';
  id: number;
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** stdout and stderr both go to this file, opened O_APPEND and emptied first. */
  outputPath: string;
}

export type LauncherMessage =
  | { op: 'started'; id: number; pid: number }
  | { op: 'failed'; id: number; message: string }
  | { op: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };
