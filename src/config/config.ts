// Config is typed and read once at start; nothing else in Gantry reads process.env.

import os from 'node:os';
import path from 'node:path';

export interface Config {
  /** Where the embedded store, logs, caches and workspaces live. */
  home: string;
  /** Colours and cursor movement only when stdout is a TTY and NO_COLOR is unset. */
  color: boolean;
  stdoutIsTty: boolean;
  debug: boolean;
  /** The environment jobs inherit on this machine (PATH, HOME, locale, ...). */
  env: Record<string, string>;
  /** SIGTERM-to-SIGKILL grace for stopped jobs (GANTRY_KILL_GRACE_MS), default 10 s. */
  killGraceMs: number;
  server: ServerConfig;
  client: ClientConfig;
}

/** What `gantry server` reads from the environment; flags override the first two. */
export interface ServerConfig {
  /** Store URL (GANTRY_DB); null means `sqlite:$GANTRY_HOME/gantry.db`. */
  db: string | null;
  /** HOST:PORT to listen on (GANTRY_LISTEN); null means 127.0.0.1:8080. */
  listen: string | null;
  /** An admin token to accept instead of generating one (GANTRY_ADMIN_TOKEN). */
  adminToken: string | null;
  /** An agent registration token to accept instead of generating one (GANTRY_AGENT_TOKEN). */
  agentToken: string | null;
}

/** What the commands that talk to a server (`trigger`, `project`, `secret`) read; flags override both. */
export interface ClientConfig {
  /** The server's base URL (GANTRY_SERVER); null means http://127.0.0.1:8080. */
  server: string | null;
  /** The bearer token (GANTRY_TOKEN); null means $GANTRY_HOME/admin.token if that file exists. */
  token: string | null;
}

function defaultHome(env: NodeJS.ProcessEnv): string {
  // XDG on Linux, Application Support on macOS: a per-user data directory.
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Application Support', 'gantry');
  const xdg = env.XDG_DATA_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.local', 'share'), 'gantry');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, stdoutIsTty = Boolean(process.stdout.isTTY)): Config {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  return {
    home: env.GANTRY_HOME ? path.resolve(env.GANTRY_HOME) : defaultHome(env),
    color: stdoutIsTty && !noColor && env.TERM !== 'dumb',
    stdoutIsTty,
    debug: Boolean(env.GANTRY_DEBUG),
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    server: {
      db: env.GANTRY_DB || null,
      listen: env.GANTRY_LISTEN || null,
      adminToken: env.GANTRY_ADMIN_TOKEN || null,
      agentToken: env.GANTRY_AGENT_TOKEN || null,
    },
    client: {
      server: env.GANTRY_SERVER || null,
      token: env.GANTRY_TOKEN || null,
    },
    killGraceMs: Number(env.GANTRY_KILL_GRACE_MS) >= 0 && env.GANTRY_KILL_GRACE_MS ? Number(env.GANTRY_KILL_GRACE_MS) : 10_000,
  };
}
