// Starts `gantry server`: opens the store, the log store, the secrets key and the mirrors under
// $GANTRY_HOME, makes sure the first tokens exist, listens, and closes it all in order on stop.

import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import { GantryError } from '../domain/errors.js';
import { FileLogStore } from '../logstore/file-log-store.js';
import { DirBlobStore } from '../blobstore/dir-blob-store.js';
import { openBlobStore } from '../blobstore/open.js';
import { S3BlobStore } from '../blobstore/s3-blob-store.js';
import { defaultStoreUrl, openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { buildServer, defaultSchedulerSettings } from './app.js';
import { GitMirrors } from './git-mirror.js';
import { loadOrCreateSecretsKey, SecretBox } from './secrets.js';
import { bootstrapToken } from './tokens.js';
import { bootstrapAdminUser } from './sessions.js';
import { crashHook } from './crash-points.js';
import { ssoSettingsFrom } from './sso/settings.js';
import { describeRetention, retentionDefaultsFrom } from './retention/settings.js';

export const DEFAULT_LISTEN = '127.0.0.1:8080';

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new GantryError('GANTRY_E_USAGE', `--listen expects HOST:PORT, got ${JSON.stringify(listen)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface ServerOptions {
  config: Config;
  /** Store URL; default GANTRY_DB, then sqlite:$GANTRY_HOME/gantry.db. */
  db?: string;
  /** HOST:PORT; default GANTRY_LISTEN, then 127.0.0.1:8080. Port 0 picks a free port. */
  listen?: string;
}

export interface RunningServer {
  /** http://HOST:PORT actually bound. */
  url: string;
  app: FastifyInstance;
  /**
   * The first admin user, made on this start because the store had no user: its password is here
   * once, for the command to print; null on every later start.
   */
  firstAdmin: { username: string; password: string } | null;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { config } = opts;
  const home = config.home;
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const { host, port } = parseListen(opts.listen ?? config.server.listen ?? DEFAULT_LISTEN);
  const storeUrl = opts.db ?? config.server.db ?? defaultStoreUrl(home);
  const crash = crashHook(config.server.crashAt);
  // Before the store opens: a location it cannot use stops the start with nothing to close.
  const sso = config.server.oidc ? ssoSettingsFrom(config.server.oidc, config.server.publicUrl) : null;
  const retention = retentionDefaultsFrom(config.server.retention);
  const gcIntervalMs = config.server.retention.gcIntervalMinutes === 0 ? null : config.server.retention.gcIntervalMinutes * 60_000;
  const logObjects = openBlobStore(config.server.logObjects ?? path.join(home, 'log-objects'), config.server.s3, path.join(home, 'log-objects-spool'));
  // A server's SQLite checkpoints its WAL off the event loop (busy logs fill it megabytes a second).
  const store: Store = await openStore(storeUrl, { sqlite: { backgroundCheckpointMs: 500 } });
  const mirrors = new GitMirrors(path.join(home, 'mirrors'), config.env);
  let app: FastifyInstance | null = null;
  try {
    const secrets = new SecretBox(loadOrCreateSecretsKey(path.join(home, 'secrets.key')));
    app = await buildServer({
      store,
      logs: new FileLogStore(path.join(home, 'logs')),
      blobs: new DirBlobStore(path.join(home, 'blobs')),
      logObjects,
      mirrors,
      secrets,
      publicUrl: config.server.publicUrl,
      crash,
      cacheMaxAgeMs: config.server.cacheMaxAgeDays === 0 ? null : config.server.cacheMaxAgeDays * 24 * 3600_000,
      cacheMaxBytesPerProject: config.server.cacheMaxMb === 0 ? null : config.server.cacheMaxMb * 1024 * 1024,
      settings: defaultSchedulerSettings({
        leaseMs: config.server.leaseMs,
        maxRunning: config.server.maxRunning,
        agentLostRetries: config.server.agentLostRetries,
        killGraceMs: config.killGraceMs,
      }),
      maxLogBytes: config.server.maxLogBytes,
      trustProxy: config.server.trustProxy,
      people: {
        sessionTtlMs: config.server.sessionHours * 3600_000,
        signInMaxFailures: config.server.signInMaxFailures,
        signInWindowMs: config.server.signInWindowSeconds * 1000,
      },
      sso,
      overload: config.server.overload,
      idTokenRotateAfterMs: config.server.idTokenKeyDays === 0 ? null : config.server.idTokenKeyDays * 24 * 3600_000,
      auditRetentionMs: config.server.auditRetentionDays === 0 ? null : config.server.auditRetentionDays * 24 * 3600_000,
      retention,
      gcIntervalMs,
      ...(config.server.retention.testDayMs === null ? {} : { retentionDayMs: config.server.retention.testDayMs }),
      ...(config.server.retention.testBlobGraceMs === null ? {} : { blobGraceMs: config.server.retention.testBlobGraceMs }),
      // Every agent request (a busy fleet makes hundreds a second) only with GANTRY_DEBUG.
      agentRequestLogLevel: config.debug ? 'info' : 'warn',
      logger: {
        level: 'info',
        // Pino's default serializers log no headers; this holds even if someone logs a request.
        redact: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
      },
    });
    const log = app.log;
    const now = Date.now();
    for (const [kind, given] of [
      ['admin', config.server.adminToken],
      ['agent', config.server.agentToken],
    ] as const) {
      const r = await bootstrapToken(store, home, kind, given, now);
      // Where the token is, never the token itself.
      if (r.outcome === 'exists-elsewhere') {
        log.warn({ kind }, `the store already has an ${kind} token but ${r.file} does not exist here (another instance made it)`);
      } else {
        log.info({ kind, file: r.file, outcome: r.outcome }, `${kind} token ${r.outcome === 'generated' ? 'created in' : 'is in'} ${r.file}`);
      }
    }
    // The token stays what it was (bootstrapping, automation); people sign in as users.
    const firstAdmin = await bootstrapAdminUser(store, now);
    // That a user was made is logged; its password never is (the command prints it once).
    if (firstAdmin) log.info({ username: firstAdmin.username }, `first start: admin user ${JSON.stringify(firstAdmin.username)} created`);
    if (sso) log.info({ issuer: sso.issuer, redirectUri: sso.redirectUri }, `single sign-on with ${sso.name}`);
    log.info({ store: storeUrl.replace(/\/\/[^@/]*@/, '//***@') }, 'store opened');
    log.info({ retention, gcIntervalMs }, describeRetention(retention, gcIntervalMs));
    if (logObjects instanceof S3BlobStore) {
      // The bucket's answer is logged, never awaited: a bucket that is down must not keep the
      // server from starting; compaction waits for it (and retries every 5 s).
      const where = { logObjects: logObjects.location, endpoint: logObjects.endpoint };
      log.info(where, `compacted logs go to ${logObjects.location}`);
      logObjects.probe().then(
        () => log.info(where, 'the log object bucket answers'),
        (err: unknown) => log.warn({ ...where, err }, 'the log object bucket does not answer; compaction will retry'),
      );
    }
    await app.listen({ host, port });
    const addr = app.server.address();
    const bound = typeof addr === 'object' && addr ? addr : { address: host, port };
    const shown = bound.address.includes(':') ? `[${bound.address}]` : bound.address;
    const url = `http://${shown}:${bound.port}`;
    log.info({ url }, `gantry server ready at ${url}`);
    const running = app;
    let closing: Promise<void> | null = null;
    return {
      url,
      app: running,
      firstAdmin,
      close: () =>
        (closing ??= (async () => {
          // In-flight requests finish first (Fastify stops accepting, then waits), then the store.
          await running.close();
          mirrors.close();
          await store.close();
          if (logObjects instanceof S3BlobStore) logObjects.close();
        })()),
    };
  } catch (e) {
    await app?.close().catch(() => undefined);
    mirrors.close();
    await store.close().catch(() => undefined);
    if (logObjects instanceof S3BlobStore) logObjects.close();
    throw e;
  }
}
