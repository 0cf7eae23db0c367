// Builds the HTTP server from its parts; listening, signals and files are start.ts's business,
// so tests can build one in-process on any store and log store.

import { approvalRoutes } from './routes/approvals.js';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import cookie from '@fastify/cookie';
import csrfProtection from '@fastify/csrf-protection';
import type { LogStore } from '../logstore/log-store.js';
import type { Store } from '../store/store.js';
import { installAuth } from './auth.js';
import { installRouteAccess } from './route-access.js';
import { installErrorHandling } from './errors.js';
import type { GitMirrors } from './git-mirror.js';
import { installFleetMetrics } from './fleet-metrics.js';
import { countLogIngest, createMetrics, installComputeMinutes, installRequestMetrics } from './metrics.js';
import { computeMinutesRoutes } from './routes/compute-minutes.js';
import { insightRoutes } from './routes/insights.js';
import { lintRoutes } from './routes/lint.js';
import { badgeRoutes } from './routes/badges.js';
import { openApiRoute, registerOpenApi } from './openapi.js';
import { healthRoutes } from './routes/health.js';
import { installOverload } from './overload/overload.js';
import { DEFAULT_BODY_LIMIT } from './overload/body-limits.js';
import { DEFAULT_OVERLOAD_SETTINGS, type OverloadSettings } from './overload/settings.js';
import { jobRoutes } from './routes/jobs.js';
import { pipelineRoutes } from './routes/pipelines.js';
import { projectRoutes } from './routes/projects.js';
import { variableRoutes } from './routes/variables.js';
import type { SecretBox } from './secrets.js';
import type { SchedulerSettings } from '../store/fleet.js';
import { agentRoutes, type FleetContext } from './fleet/agent-routes.js';
import { AgentHub } from './fleet/hub.js';
import { DueJobs } from './fleet/due-jobs.js';
import { Sweeper } from './fleet/sweeper.js';
import { agentListRoutes } from './routes/agents.js';
import { poolRoutes } from './routes/pools.js';
import { queueRoutes } from './routes/queue.js';
import { artifactRoutes } from './routes/artifacts.js';
import { testRoutes } from './routes/tests.js';
import { testReportRoutes } from './fleet/test-report-routes.js';
import type { BlobStore } from '../blobstore/blob-store.js';
import { artifactSweep, blobRoutes, MAX_BLOB_BYTES, UNREFERENCED_BLOB_GRACE_MS } from './fleet/blob-routes.js';
import { webhookRoutes } from './routes/webhooks.js';
import { DEFAULT_QUEUE_OPTIONS, DeliveryQueue, type QueueOptions } from './webhooks/queue.js';
import type { LogLimit } from '../store/fleet.js';
import { AttemptLogs } from './logs/attempt-logs.js';
import { LogCompactor } from './logs/compactor.js';
import { LogFeeds } from './logs/log-feed.js';
import { logRoutes, type LogRouteContext } from './logs/log-routes.js';
import { eventRoutes } from './routes/events.js';
import { fleetEventRoutes } from './routes/fleet-events.js';
import { jobDetailRoutes } from './routes/job-details.js';
import { StreamAccess } from './stream-access.js';
import { SseStreams } from './sse.js';
import { uiRoutes } from './ui.js';
import { ScheduleFirer } from './schedules/firer.js';
import { scheduleRoutes } from './routes/schedules.js';
import { triggerTokenRoutes } from './routes/trigger-tokens.js';
import { forgeRoutes } from './routes/forge.js';
import { ForgeReporter } from './forge/reporter.js';
import { DownstreamRunner } from './downstream/runner.js';
import { noCrash, type CrashHook } from './crash-points.js';
import { CSRF_COOKIE, DEFAULT_PEOPLE_SETTINGS, type PeopleSettings } from './sessions.js';
import { userRoutes } from './routes/users.js';
import { personalTokenRoutes } from './routes/personal-tokens.js';
import { memberRoutes } from './routes/members.js';
import { sessionRoutes } from './routes/session.js';
import { ssoRoutes, type SsoContext } from './routes/sso.js';
import { OidcClient } from './sso/oidc-client.js';
import { CALLBACK_PATH, type SsoSettings } from './sso/settings.js';
import { protectedRefRoutes } from './routes/protected-refs.js';
import { auditRoutes } from './routes/audit.js';
import { DEFAULT_ROTATE_AFTER_MS, IdTokenIssuer, normalizeIssuer } from './id-tokens.js';
import { idTokenAdminRoutes, idTokenDiscoveryRoutes } from './routes/id-tokens.js';
import { DEFAULT_RETENTION, type RetentionDefaults } from '../domain/retention.js';
import { DAY_MS, GarbageCollector } from './retention/collector.js';
import { gcRoutes } from './routes/gc.js';

export const API_PREFIX = '/api/v1';
/** As GitHub Actions: a cache nobody used for a week goes. */
export const DEFAULT_CACHE_MAX_AGE_MS = 7 * 24 * 3600_000;
export const DEFAULT_CACHE_MAX_BYTES_PER_PROJECT = 10 * 1024 ** 3;
export const API_VERSION = '0.1.0';

export interface ServerDeps {
  store: Store;
  /** The scheduler's settings; the defaults of `defaultSchedulerSettings` when absent. */
  settings?: SchedulerSettings;
  logs: LogStore;
  /** Artifact and cache archives of remote attempts. */
  blobs: BlobStore;
  /**
   * Compacted logs of ended attempts (docs/LOGS.md): a blob store of their own, so the artifact
   * sweep, which deletes blobs no record names, never looks at them.
   */
  logObjects: BlobStore;
  /** The largest blob an agent may upload; default MAX_BLOB_BYTES (4 GiB). */
  maxBlobBytes?: number;
  mirrors: GitMirrors;
  secrets: SecretBox;
  now?: () => number;
  /**
   * The webhook delivery queue's settings, or false for an instance that records deliveries but
   * leaves them to other instances (tests of a crash between the answer and the pipeline).
   */
  deliveryQueue?: Partial<QueueOptions> | false;
  /** The per-attempt log size limit (docs/LOGS.md); default 100 MiB, half head, half tail. */
  maxLogBytes?: number;
  /** How often a watched attempt's log is re-read without an event; default 1 s (tests raise it to prove LISTEN). */
  logSafetyTickMs?: number;
  /** Keep-alive comment period of live log streams; default 15 s. */
  logKeepAliveMs?: number;
  /** How often every live stream's caller is checked again (stream-access.ts); default 15 s. */
  streamRecheckMs?: number;
  /** The built web UI (index.html, assets/); default dist/public/ beside the compiled server. */
  uiDir?: string;
  /** Where people reach this server (GANTRY_PUBLIC_URL); commit statuses link to pipelines there. */
  publicUrl?: string | null;
  /** Fastify's pino logger options, or false (tests). */
  logger?: FastifyServerOptions['logger'];
  /**
   * The level agent-protocol requests are logged at (polls, heartbeats, log uploads: several per
   * job per second in a busy fleet); default 'warn', so only their failures show.
   */
  agentRequestLogLevel?: 'warn' | 'info';
  /** Caches neither saved nor restored for this long are deleted (null: never); default 7 days. */
  cacheMaxAgeMs?: number | null;
  /** Bytes of caches a project keeps; past it the least recently used go. Null: no cap; default DEFAULT_CACHE_MAX_BYTES_PER_PROJECT. */
  cacheMaxBytesPerProject?: number | null;
  /** Test-only crash points (GANTRY_TEST_CRASH_AT); none by default. */
  crash?: CrashHook;
  /** Whose X-Forwarded-For and X-Forwarded-Proto to believe (GANTRY_TRUST_PROXY, Fastify's trustProxy); default none. */
  trustProxy?: boolean | string[];
  /** Session lifetime and sign-in limits; DEFAULT_PEOPLE_SETTINGS where absent. */
  people?: Partial<PeopleSettings>;
  /** How long audit entries are kept (GANTRY_AUDIT_RETENTION_DAYS); default DEFAULT_AUDIT_RETENTION_MS; null: for ever. */
  auditRetentionMs?: number | null;
  /** What the instance keeps by default (src/server/retention/settings.ts); DEFAULT_RETENTION (nothing changes) when absent. */
  retention?: RetentionDefaults;
  /** Time between scheduled garbage collections (GANTRY_GC_INTERVAL_MINUTES); default an hour; null: only on demand. */
  gcIntervalMs?: number | null;
  /** Test-only: the length of a retention day (GANTRY_TEST_RETENTION_DAY_MS); default 24 h. */
  retentionDayMs?: number;
  /** Test-only: how long a blob nothing references survives (GANTRY_TEST_BLOB_GRACE_MS); default UNREFERENCED_BLOB_GRACE_MS. */
  blobGraceMs?: number;
  /**
   * Job identity tokens: a new signing key when the current one is this old (GANTRY_ID_TOKEN_KEY_DAYS);
   * null: only on an admin's rotation; default DEFAULT_ROTATE_AFTER_MS. Their issuer is `publicUrl`,
   * or the URL this server is bound at.
   */
  idTokenRotateAfterMs?: number | null;
  /** Bounds per class of route, rates and pressure thresholds (overload/settings.ts); DEFAULT_OVERLOAD_SETTINGS where absent. */
  overload?: Partial<OverloadSettings>;
  /**
   * Single sign-on through an OpenID Connect provider (src/server/sso/settings.ts); none by
   * default. Its redirect URI is the settings' (GANTRY_PUBLIC_URL's), else the bound address's.
   */
  sso?: SsoSettings | null;
}

/** A year: long enough to answer "who changed this" about most things, short enough that the table stays small. */
export const DEFAULT_AUDIT_RETENTION_MS = 365 * 24 * 3600_000;

export const DEFAULT_MAX_LOG_BYTES = 100 * 1024 * 1024;

/** The size limit as the store and the agents apply it: the first half and the last half are kept. */
export function logLimitOf(maxLogBytes: number): LogLimit {
  const headBytes = Math.floor(maxLogBytes / 2);
  return { headBytes, tailBytes: maxLogBytes - headBytes };
}

export function defaultSchedulerSettings(over: Partial<SchedulerSettings> = {}): SchedulerSettings {
  const leaseMs = over.leaseMs ?? 30_000;
  // An offer the agent never answers (its answer lost, the server killed after the take) holds
  // the job back until it expires: no longer than a lease, the time a lost agent costs anyway.
  return { leaseMs, offerTtlMs: Math.min(10_000, leaseMs), maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000, ...over };
}

/** http://HOST:PORT this server listens on (the default issuer of identity tokens). */
function boundUrl(app: FastifyInstance): string {
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') return 'http://127.0.0.1:8080';
  return `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  // Known once the overload protection is installed, below.
  let isShed: (request: object) => boolean = () => false;
  const app = Fastify({
    logger: deps.logger ?? false,
    // Unknown body fields are errors, not silently dropped; types are coerced only where a schema
    // asks for a number or boolean in a query string or a path.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
    // Pino's default request/response serializers log method, url and status, never headers or
    // bodies, so neither a token nor a variable's value reaches the log.
    return503OnClosing: true,
    // A request the overload protection refused is counted and summed up, not logged one by one
    // (its "incoming request" line is written before it is refused).
    logController: new LogController({ disableRequestLogging: (request) => isShed(request) }),
    forceCloseConnections: 'idle',
    // Every route gets its limit explicitly too (overload/body-limits.ts); this is the same number.
    bodyLimit: DEFAULT_BODY_LIMIT,
    // request.ip (sign-in limits) and request.protocol (Secure cookies) from a trusted proxy's headers only.
    trustProxy: deps.trustProxy ?? false,
  });
  const people: PeopleSettings = { ...DEFAULT_PEOPLE_SETTINGS, ...deps.people };
  const metrics = createMetrics();
  installComputeMinutes(metrics, () => deps.store.fleet.consumedTotals((deps.now ?? Date.now)()));
  const settings = deps.settings ?? defaultSchedulerSettings();
  const fleetMetrics = installFleetMetrics(metrics, deps.store, settings, deps.now ?? Date.now);
  const hub = new AgentHub(deps.store.fleet.events, () => deps.store.fleet.offerableTagKeys((deps.now ?? Date.now)()));
  const streamAccess = new StreamAccess(deps.store, deps.now ?? Date.now, deps.streamRecheckMs ?? 15_000);
  const crash = deps.crash ?? noCrash;
  const compactor = new LogCompactor(deps.store.fleet, deps.logObjects, (err) => app.log.error({ err }, 'log compaction failed'), crash);
  const attemptLogs = new AttemptLogs(deps.store, deps.logs, deps.logObjects);
  const feeds = new LogFeeds(
    deps.store.fleet.events,
    { safetyTickMs: deps.logSafetyTickMs ?? 1_000, localPollMs: 100 },
    (err) => app.log.error({ err }, 'log feed failed'),
    (ids) => attemptLogs.fleetStates(ids),
  );
  const idTokens = new IdTokenIssuer(
    deps.store,
    deps.secrets,
    {
      // The bound address is known only once the server listens; tokens are minted after that.
      issuer: () => normalizeIssuer(deps.publicUrl ?? boundUrl(app)),
      rotateAfterMs: deps.idTokenRotateAfterMs === undefined ? DEFAULT_ROTATE_AFTER_MS : deps.idTokenRotateAfterMs,
    },
    deps.now ?? Date.now,
  );
  const ssoSettings = deps.sso ?? null;
  const sso: SsoContext | null = ssoSettings
    ? { settings: ssoSettings, client: new OidcClient(ssoSettings), redirectUri: () => ssoSettings.redirectUri ?? `${boundUrl(app)}${CALLBACK_PATH}` }
    : null;
  const retention = deps.retention ?? DEFAULT_RETENTION;
  const blobGraceMs = deps.blobGraceMs ?? UNREFERENCED_BLOB_GRACE_MS;
  const gcIntervalMs = deps.gcIntervalMs === undefined ? 3_600_000 : deps.gcIntervalMs;
  const gc = new GarbageCollector({
    store: deps.store,
    blobs: deps.blobs,
    logObjects: deps.logObjects,
    defaults: retention,
    auditKeepMs: deps.auditRetentionMs === undefined ? DEFAULT_AUDIT_RETENTION_MS : deps.auditRetentionMs,
    now: deps.now ?? Date.now,
    log: app.log,
    dayMs: deps.retentionDayMs ?? DAY_MS,
    graceMs: blobGraceMs,
  });
  const ctx: FleetContext & LogRouteContext = {
    retention,
    idTokens,
    store: deps.store,
    logs: deps.logs,
    mirrors: deps.mirrors,
    secrets: deps.secrets,
    metrics,
    now: deps.now ?? Date.now,
    hub,
    settings,
    logLimit: logLimitOf(deps.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES),
    compactor,
    attemptLogs,
    feeds,
    keepAliveMs: deps.logKeepAliveMs ?? 15_000,
    streamAccess,
    crash,
    fleetMetrics,
    timings: {
      leaseMs: settings.leaseMs,
      heartbeatHoldMs: Math.min(5_000, Math.floor(settings.leaseMs / 3)),
      // An idle agent is seen at each poll: polls end within half a lease, so an agent waiting
      // for work never looks offline (offline: not seen for a lease).
      pollWaitMs: Math.min(30_000, Math.floor(settings.leaseMs / 2)),
      offerTtlMs: settings.offerTtlMs,
      backoffCapMs: Math.min(5_000, Math.floor(settings.leaseMs / 4)),
    },
  };
  // Other instances' wake-ups (PostgreSQL); a no-op on SQLite.
  await deps.store.fleet.listen();
  const queue =
    deps.deliveryQueue === false
      ? null
      : new DeliveryQueue(
          { store: deps.store, mirrors: deps.mirrors, now: ctx.now, settings, onCreated: () => metrics.pipelinesCreated.inc() },
          app.log,
          { ...DEFAULT_QUEUE_OPTIONS, ...deps.deliveryQueue },
        );
  const sweeper = new Sweeper(deps.store, settings, ctx.now, app.log)
    .every(
      60_000,
      artifactSweep(deps.store, deps.blobs, {
        cacheMaxAgeMs: deps.cacheMaxAgeMs === undefined ? DEFAULT_CACHE_MAX_AGE_MS : deps.cacheMaxAgeMs,
        cacheMaxBytesPerProject: deps.cacheMaxBytesPerProject === undefined ? DEFAULT_CACHE_MAX_BYTES_PER_PROJECT : deps.cacheMaxBytesPerProject,
        keepLatestDefault: retention.keepLatestArtifacts,
        graceMs: blobGraceMs,
      }),
    )
    .every(3_600_000, async (at) => {
      await deps.store.users.pruneSessions(at, at - people.signInWindowMs);
      await deps.store.sso.pruneFlows(at);
      await idTokens.prune();
      // A key due for rotation is replaced here too, not only at the next token.
      await idTokens.signingKey();
    })
    // Completions kick compaction at once; this catches attempts ended by the sweep, another
    // instance's crash, or a compaction that failed.
    .every(5_000, () => compactor.kick());
  // Retention, strays and the past's rows: the first tick after a healthy lease (shortly after
  // start), then each interval. Every instance asks; the store lets one run at a time, and one
  // that started within most of an interval (on any instance) counts as this one's.
  if (gcIntervalMs !== null) {
    sweeper.every(gcIntervalMs, async () => {
      await gc.start('schedule', { minIntervalMs: Math.floor(gcIntervalMs * 0.9) });
    });
  }
  const dueJobs = new DueJobs(deps.store, ctx.now, app.log);
  const firer = new ScheduleFirer({ store: deps.store, mirrors: deps.mirrors, settings, now: ctx.now, log: app.log, onCreated: () => metrics.pipelinesCreated.inc(), crash: ctx.crash });
  const reporter = new ForgeReporter({ store: deps.store, secrets: deps.secrets, now: ctx.now, log: app.log, publicUrl: deps.publicUrl ?? null });
  const downstream = new DownstreamRunner({ store: deps.store, mirrors: deps.mirrors, now: ctx.now, log: app.log, onCreated: () => metrics.pipelinesCreated.inc() });
  app.addHook('onReady', async () => {
    // Pipelines a crash cut between two transactions move on; idempotent.
    await deps.store.fleet.progressAll(ctx.now(), settings);
    sweeper.start();
    dueJobs.start();
    downstream.start();
    // Deliveries recorded before a crash or restart are taken now, not at the next poll.
    queue?.start();
    firer.start();
    reporter.start();
  });
  app.addHook('preClose', async () => {
    sweeper.stop();
    dueJobs.stop();
    await gc.stop();
    await compactor.stop();
    await firer.stop();
    await reporter.stop();
    await downstream.stop();
    hub.close();
    await queue?.stop();
    // Open event streams never end by themselves; a graceful close would wait for them.
    feeds.close();
    streams.closeAll();
    streamAccess.close();
  });
  // A change of people or roles made here ends, at once, the streams it takes from their callers
  // (other instances see it at their next periodic check).
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode < 400 && !['GET', 'HEAD', 'OPTIONS'].includes(request.method) && /\/(users|members|tokens|session)(\/|$)/.test(request.routeOptions.url ?? '')) {
      streamAccess.recheckAll();
    }
  });
  const agentRequestLogLevel = deps.agentRequestLogLevel ?? 'warn';
  app.addHook('onRoute', (route) => {
    if (route.config?.agentProtocol !== undefined) route.logLevel = agentRequestLogLevel;
  });
  installErrorHandling(app);
  installRequestMetrics(app, metrics);
  countLogIngest(deps.store.fleet.events, metrics);
  await app.register(cookie);
  // The CSRF secret lives in a cookie of its own; each token is an HMAC bound to the session
  // (userInfo), under a key derived from secrets.key, which every instance of a fleet shares.
  await app.register(csrfProtection, {
    cookieKey: CSRF_COOKIE,
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true },
    getToken: (request) => request.headers['x-csrf-token'] as string | undefined,
    getUserInfo: (request) => (request.principal?.kind === 'user' && request.principal.via === 'session' ? request.principal.sessionHash : ''),
    csrfOpts: { hmacKey: deps.secrets.derive('csrf') },
  });
  // Before authentication: what is refused for overload costs no database read.
  const overload = await installOverload(app, { ...DEFAULT_OVERLOAD_SETTINGS, ...deps.overload }, metrics);
  isShed = overload.isShed;
  const streams = new SseStreams(streamAccess, () => overload.strained());
  installAuth(app, deps.store, ctx.now);
  installRouteAccess(app, deps.store);
  await registerOpenApi(app, API_VERSION);
  healthRoutes(app, { ...ctx, underPressure: () => overload.underPressure() });
  idTokenDiscoveryRoutes(app, ctx);
  uiRoutes(app, deps.uiDir);
  await app.register(
    async (api) => {
      openApiRoute(api);
      projectRoutes(api, ctx);
      variableRoutes(api, ctx);
      pipelineRoutes(api, ctx);
      jobRoutes(api, ctx);
      logRoutes(api, ctx);
      jobDetailRoutes(api, ctx);
      eventRoutes(api, { ...ctx, streams });
      agentRoutes(api, ctx);
      blobRoutes(api, { ...ctx, blobs: deps.blobs, maxBlobBytes: deps.maxBlobBytes ?? MAX_BLOB_BYTES });
      agentListRoutes(api, ctx);
      poolRoutes(api, ctx);
      queueRoutes(api, ctx);
      computeMinutesRoutes(api, ctx);
      insightRoutes(api, ctx);
      lintRoutes(api, ctx);
      badgeRoutes(api, ctx);
      fleetEventRoutes(api, { ...ctx, streams });
      artifactRoutes(api, { ...ctx, blobs: deps.blobs });
      testReportRoutes(api, ctx);
      testRoutes(api, ctx);
      await webhookRoutes(api, { ...ctx, queue });
      scheduleRoutes(api, ctx);
      triggerTokenRoutes(api, ctx);
      forgeRoutes(api, ctx);
      userRoutes(api, { ...ctx, people });
      personalTokenRoutes(api, ctx);
      memberRoutes(api, ctx);
      protectedRefRoutes(api, ctx);
      approvalRoutes(api, ctx);
      auditRoutes(api, ctx);
      gcRoutes(api, { ...ctx, gc });
      idTokenAdminRoutes(api, ctx);
      sessionRoutes(api, { ...ctx, people });
      ssoRoutes(api, { ...ctx, people, sso });
    },
    { prefix: API_PREFIX },
  );
  return app;
}
