// Config is typed and read once at start; nothing else in Gantry reads process.env.

import os from 'node:os';
import path from 'node:path';
import { DEFAULT_OVERLOAD_SETTINGS, type OverloadSettings } from '../server/overload/settings.js';

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
  agent: AgentConfig;
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
  /** Lease of a running attempt (GANTRY_LEASE_MS, at least 3 000; default 30 000). */
  leaseMs: number;
  /** Jobs running at once across the fleet (GANTRY_MAX_RUNNING); null: no limit. */
  maxRunning: number | null;
  /** Automatic retries of an `agent_lost` attempt beyond the job's `retry` (GANTRY_AGENT_LOST_RETRIES, default 1). */
  agentLostRetries: number;
  /** Days a cache may go unused (neither saved nor restored) before it is deleted (GANTRY_CACHE_MAX_AGE_DAYS, default 7; 0: never). */
  cacheMaxAgeDays: number;
  /** MiB of caches a project may keep; past it the least recently used go (GANTRY_CACHE_MAX_MB, default 10240 as GitHub's 10 GB; 0: no cap). */
  cacheMaxMb: number;
  /** The largest log an attempt keeps (GANTRY_MAX_LOG_BYTES, at least 1 KiB; default 100 MiB): its first and last halves. */
  maxLogBytes: number;
  /**
   * Where people reach the server (GANTRY_PUBLIC_URL): commit statuses link there (null: no link),
   * and it is the issuer (`iss`) of job identity tokens (null: the URL the server is bound at).
   */
  publicUrl: string | null;
  /** Where compacted logs go (GANTRY_LOG_OBJECTS): a directory, or `s3://BUCKET[/PREFIX]`; null means $GANTRY_HOME/log-objects. */
  logObjects: string | null;
  /** The bucket's connection when `logObjects` is an `s3://` URL. */
  s3: S3Config;
  /** Test-only (GANTRY_TEST=1): the server SIGKILLs itself at this named point (GANTRY_TEST_CRASH_AT). */
  crashAt: string | null;
  /**
   * Which proxies' X-Forwarded-For and X-Forwarded-Proto are believed (GANTRY_TRUST_PROXY): false
   * (the default: none), true (any: only behind a proxy that overwrites them), or a
   * comma-separated list of the proxies' addresses and CIDRs. It decides the address sign-ins are
   * limited by and whether session cookies are marked Secure.
   */
  trustProxy: boolean | string[];
  /** How long a web UI session lasts from sign-in (GANTRY_SESSION_HOURS, default 168: a week; at least 1). */
  sessionHours: number;
  /** Failed sign-ins per user and per address within the window before 429 (GANTRY_SIGN_IN_MAX_FAILURES, default 10). */
  signInMaxFailures: number;
  /** The window failed sign-ins are counted in (GANTRY_SIGN_IN_WINDOW_SECONDS, default 900: 15 minutes). */
  signInWindowSeconds: number;
  /** Days audit entries are kept (GANTRY_AUDIT_RETENTION_DAYS, default 365; 0: for ever). */
  auditRetentionDays: number;
  /** What the instance keeps by default and when it collects the rest (docs/RUNNING.md, "Retention and garbage collection"). */
  retention: RetentionConfig;
  /**
   * Days a job identity token signing key is used before a new one is made (GANTRY_ID_TOKEN_KEY_DAYS,
   * default 30; 0: only when an admin rotates it). Their issuer is publicUrl, else the bound URL.
   */
  idTokenKeyDays: number;
  /**
   * Single sign-on through an OpenID Connect provider (GANTRY_OIDC_*), as written; null when
   * GANTRY_OIDC_ISSUER is unset. Checked when the server starts (src/server/sso/settings.ts), so a
   * mistake stops `gantry server` with the reason rather than every other command.
   */
  oidc: OidcEnv | null;
  /**
   * Overload protection (docs/RUNNING.md, "Sizing the overload bounds"): GANTRY_MAX_INFLIGHT_READS,
   * _WRITES, _WEBHOOKS, _WEBHOOK_BYTES, _SIGN_INS, _STREAMS, GANTRY_MAX_STREAMS_PER_CALLER, GANTRY_RATE_LIMIT_PER_TOKEN,
   * _PER_ADDRESS, _SIGN_INS (a minute), GANTRY_PRESSURE_MAX_DELAY_MS, _MAX_UTILIZATION; 0 turns one off.
   */
  overload: OverloadSettings;
}

/** GANTRY_RETENTION_*, GANTRY_ARTIFACTS_EXPIRE_IN, GANTRY_KEEP_LATEST_ARTIFACTS, GANTRY_GC_INTERVAL_MINUTES. */
export interface RetentionConfig {
  /** Pipelines older than this many days go (GANTRY_RETENTION_PIPELINE_DAYS, default 0: kept for ever). */
  pipelineDays: number;
  /** Of those, the newest this many of each ref stay (GANTRY_RETENTION_KEEP_PER_REF, default 10). */
  keepPerRef: number;
  /** Logs of pipelines older than this many days go, the pipelines stay (GANTRY_RETENTION_LOG_DAYS, default 0: for ever). */
  logDays: number;
  /**
   * The expire_in of jobs that give none (GANTRY_ARTIFACTS_EXPIRE_IN), as written: GitLab's syntax,
   * `never`, `0` or empty for never; null (unset) for GitLab's 30 days. Checked when the server starts.
   */
  artifactsExpireIn: string | null;
  /** The artifacts of each ref's latest successful pipeline outlive their expiry (GANTRY_KEEP_LATEST_ARTIFACTS, default true). */
  keepLatestArtifacts: boolean;
  /** Finished webhook deliveries are kept this many days (GANTRY_RETENTION_DELIVERY_DAYS, default 30; 0: for ever). */
  deliveryDays: number;
  /** Commit statuses sent or given up are kept this many days (GANTRY_RETENTION_OUTBOX_DAYS, default 7; 0: for ever). */
  outboxDays: number;
  /** Minutes between scheduled garbage collections (GANTRY_GC_INTERVAL_MINUTES, default 60; 0: only on demand). */
  gcIntervalMinutes: number;
  /** Test-only (GANTRY_TEST=1): the length of a retention "day" in ms (GANTRY_TEST_RETENTION_DAY_MS); null: a day. */
  testDayMs: number | null;
  /** Test-only (GANTRY_TEST=1): how long an unreferenced blob survives (GANTRY_TEST_BLOB_GRACE_MS); null: an hour. */
  testBlobGraceMs: number | null;
}

function retentionOf(env: NodeJS.ProcessEnv, testing: boolean): RetentionConfig {
  const testMs = (v: string | undefined) => (testing && v !== undefined && v !== '' ? intOr(v, -1, 0) : -1);
  const dayMs = testMs(env.GANTRY_TEST_RETENTION_DAY_MS);
  const graceMs = testMs(env.GANTRY_TEST_BLOB_GRACE_MS);
  return {
    pipelineDays: intOr(env.GANTRY_RETENTION_PIPELINE_DAYS, 0, 0),
    keepPerRef: intOr(env.GANTRY_RETENTION_KEEP_PER_REF, 10, 0),
    logDays: intOr(env.GANTRY_RETENTION_LOG_DAYS, 0, 0),
    // Set but empty means never, as 0 does; unset means GitLab's default.
    artifactsExpireIn: env.GANTRY_ARTIFACTS_EXPIRE_IN === undefined ? null : env.GANTRY_ARTIFACTS_EXPIRE_IN,
    keepLatestArtifacts: boolOrNull(env.GANTRY_KEEP_LATEST_ARTIFACTS) ?? true,
    deliveryDays: intOr(env.GANTRY_RETENTION_DELIVERY_DAYS, 30, 0),
    outboxDays: intOr(env.GANTRY_RETENTION_OUTBOX_DAYS, 7, 0),
    gcIntervalMinutes: intOr(env.GANTRY_GC_INTERVAL_MINUTES, 60, 0),
    testDayMs: dayMs > 0 ? dayMs : null,
    testBlobGraceMs: graceMs >= 0 ? graceMs : null,
  };
}

/** GANTRY_OIDC_*, unparsed (docs/RUNNING.md, "Single sign-on"). */
export interface OidcEnv {
  /** GANTRY_OIDC_ISSUER: the provider's issuer URL (its discovery document is ISSUER/.well-known/openid-configuration). */
  issuer: string;
  /** GANTRY_OIDC_CLIENT_ID. */
  clientId: string | null;
  /** GANTRY_OIDC_CLIENT_SECRET, or GANTRY_OIDC_CLIENT_SECRET_FILE (a file holding it); neither: a public client (PKCE only). */
  clientSecret: string | null;
  clientSecretFile: string | null;
  /** GANTRY_OIDC_NAME: the provider's name on the sign-in page ("Sign in with NAME"); default: the issuer's host. */
  name: string | null;
  /** GANTRY_OIDC_SCOPES: space-separated, `openid` always added; default `openid email profile`. */
  scopes: string | null;
  /** GANTRY_OIDC_ALLOWED_DOMAINS: comma-separated email domains; empty: any (a verified email is required either way). */
  allowedDomains: string | null;
  /** GANTRY_OIDC_GROUPS_CLAIM: the claim that lists the person's groups; default `groups`. */
  groupsClaim: string | null;
  /** GANTRY_OIDC_ROLE_MAP: groups to roles, `GROUP=GRANT,GRANT;GROUP=...` (GRANT: `admin` or `PROJECT:ROLE`). */
  roleMap: string | null;
}

/** GANTRY_S3_*: how to reach an S3-compatible bucket (docs/LOGS.md, "Where log objects live"). */
export interface S3Config {
  /** GANTRY_S3_ENDPOINT, `http(s)://host[:port]`; null means AWS: https://s3.REGION.amazonaws.com. */
  endpoint: string | null;
  /** GANTRY_S3_REGION, then AWS_REGION, AWS_DEFAULT_REGION; default us-east-1. */
  region: string;
  /** GANTRY_S3_PATH_STYLE (true/false); null means path-style with an endpoint, virtual-hosted without. */
  pathStyle: boolean | null;
  /** GANTRY_S3_ACCESS_KEY_ID with GANTRY_S3_SECRET_ACCESS_KEY (and GANTRY_S3_SESSION_TOKEN), else the AWS_ ones. */
  accessKeyId: string | null;
  secretAccessKey: string | null;
  sessionToken: string | null;
  /** GANTRY_S3_TIMEOUT_MS: a request with no bytes moving for this long fails (default 30 000, at least 100). */
  timeoutMs: number;
}

/**
 * Never passed on to jobs: `gantry up` runs jobs from the server's own process, and an agent's
 * or a CLI's token is not the job's to use. A job that must call Gantry gets a token as a masked
 * variable, like any other secret. (The database URL may carry a password.)
 */
const GANTRY_SECRETS = new Set([
  'GANTRY_ADMIN_TOKEN',
  'GANTRY_AGENT_TOKEN',
  'GANTRY_TOKEN',
  'GANTRY_DB',
  'GANTRY_S3_ACCESS_KEY_ID',
  'GANTRY_S3_SECRET_ACCESS_KEY',
  'GANTRY_S3_SESSION_TOKEN',
  'GANTRY_OIDC_CLIENT_SECRET',
]);

/** What `gantry agent` reads; flags override. */
export interface AgentConfig {
  /** Where the agent keeps its identity, spool, mirrors and builds (GANTRY_AGENT_HOME); default $GANTRY_HOME/agent. */
  home: string;
  /** GANTRY_ISOLATION (none or sandbox): the level when --isolation is not given; null: each command's default. */
  isolation: 'none' | 'sandbox' | null;
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

function boolOrNull(v: string | undefined): boolean | null {
  const t = v?.trim().toLowerCase();
  if (t === 'true' || t === '1' || t === 'yes') return true;
  if (t === 'false' || t === '0' || t === 'no') return false;
  return null;
}

function s3Config(env: NodeJS.ProcessEnv): S3Config {
  // The key, secret and token come as a set, from GANTRY_S3_* or from AWS_*, never mixed.
  const own = Boolean(env.GANTRY_S3_ACCESS_KEY_ID);
  return {
    endpoint: env.GANTRY_S3_ENDPOINT || null,
    region: env.GANTRY_S3_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    pathStyle: boolOrNull(env.GANTRY_S3_PATH_STYLE),
    accessKeyId: (own ? env.GANTRY_S3_ACCESS_KEY_ID : env.AWS_ACCESS_KEY_ID) || null,
    secretAccessKey: (own ? env.GANTRY_S3_SECRET_ACCESS_KEY : env.AWS_SECRET_ACCESS_KEY) || null,
    sessionToken: (own ? env.GANTRY_S3_SESSION_TOKEN : env.AWS_SESSION_TOKEN) || null,
    timeoutMs: intOr(env.GANTRY_S3_TIMEOUT_MS, 30_000, 100),
  };
}

function oidcOf(env: NodeJS.ProcessEnv): OidcEnv | null {
  const issuer = env.GANTRY_OIDC_ISSUER?.trim();
  if (!issuer) return null;
  const opt = (v: string | undefined) => (v === undefined || v.trim() === '' ? null : v.trim());
  return {
    issuer,
    clientId: opt(env.GANTRY_OIDC_CLIENT_ID),
    clientSecret: opt(env.GANTRY_OIDC_CLIENT_SECRET),
    clientSecretFile: opt(env.GANTRY_OIDC_CLIENT_SECRET_FILE),
    name: opt(env.GANTRY_OIDC_NAME),
    scopes: opt(env.GANTRY_OIDC_SCOPES),
    allowedDomains: opt(env.GANTRY_OIDC_ALLOWED_DOMAINS),
    groupsClaim: opt(env.GANTRY_OIDC_GROUPS_CLAIM),
    roleMap: opt(env.GANTRY_OIDC_ROLE_MAP),
  };
}

function trustProxyOf(v: string | undefined): boolean | string[] {
  const t = v?.trim() ?? '';
  if (t === '') return false;
  return boolOrNull(t) ?? t.split(',').map((a) => a.trim()).filter(Boolean);
}

function intOr(v: string | undefined, fallback: number, min: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isInteger(n) && n >= min ? n : fallback;
}

function fractionOr(v: string | undefined, fallback: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : fallback;
}

function overloadOf(env: NodeJS.ProcessEnv): OverloadSettings {
  const d = DEFAULT_OVERLOAD_SETTINGS;
  return {
    maxReads: intOr(env.GANTRY_MAX_INFLIGHT_READS, d.maxReads, 0),
    maxWrites: intOr(env.GANTRY_MAX_INFLIGHT_WRITES, d.maxWrites, 0),
    maxWebhooks: intOr(env.GANTRY_MAX_INFLIGHT_WEBHOOKS, d.maxWebhooks, 0),
    maxWebhookBytes: intOr(env.GANTRY_MAX_INFLIGHT_WEBHOOK_BYTES, d.maxWebhookBytes, 0),
    maxSignIns: intOr(env.GANTRY_MAX_INFLIGHT_SIGN_INS, d.maxSignIns, 0),
    maxStreams: intOr(env.GANTRY_MAX_INFLIGHT_STREAMS, d.maxStreams, 0),
    maxStreamsPerCaller: intOr(env.GANTRY_MAX_STREAMS_PER_CALLER, d.maxStreamsPerCaller, 0),
    perTokenPerMinute: intOr(env.GANTRY_RATE_LIMIT_PER_TOKEN, d.perTokenPerMinute, 0),
    perAddressPerMinute: intOr(env.GANTRY_RATE_LIMIT_PER_ADDRESS, d.perAddressPerMinute, 0),
    signInsPerMinute: intOr(env.GANTRY_RATE_LIMIT_SIGN_INS, d.signInsPerMinute, 0),
    maxEventLoopDelayMs: intOr(env.GANTRY_PRESSURE_MAX_DELAY_MS, d.maxEventLoopDelayMs, 0),
    maxEventLoopUtilization: fractionOr(env.GANTRY_PRESSURE_MAX_UTILIZATION, d.maxEventLoopUtilization),
    sampleIntervalMs: d.sampleIntervalMs,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, stdoutIsTty = Boolean(process.stdout.isTTY)): Config {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  const home = env.GANTRY_HOME ? path.resolve(env.GANTRY_HOME) : defaultHome(env);
  // Test knobs are honoured only in tests: a lease of 2 s would make a real fleet reap jobs
  // at the first slow network moment.
  const testing = env.GANTRY_TEST === '1';
  const lease = testing && env.GANTRY_TEST_LEASE_MS ? intOr(env.GANTRY_TEST_LEASE_MS, 30_000, 200) : intOr(env.GANTRY_LEASE_MS, 30_000, 3_000);
  return {
    home,
    color: stdoutIsTty && !noColor && env.TERM !== 'dumb',
    stdoutIsTty,
    debug: Boolean(env.GANTRY_DEBUG),
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && !GANTRY_SECRETS.has(e[0]))),
    server: {
      db: env.GANTRY_DB || null,
      listen: env.GANTRY_LISTEN || null,
      adminToken: env.GANTRY_ADMIN_TOKEN || null,
      agentToken: env.GANTRY_AGENT_TOKEN || null,
      leaseMs: lease,
      maxRunning: env.GANTRY_MAX_RUNNING ? intOr(env.GANTRY_MAX_RUNNING, 0, 1) || null : null,
      agentLostRetries: intOr(env.GANTRY_AGENT_LOST_RETRIES, 1, 0),
      cacheMaxAgeDays: intOr(env.GANTRY_CACHE_MAX_AGE_DAYS, 7, 0),
      cacheMaxMb: intOr(env.GANTRY_CACHE_MAX_MB, 10_240, 0),
      maxLogBytes: intOr(env.GANTRY_MAX_LOG_BYTES, 100 * 1024 * 1024, 1024),
      publicUrl: env.GANTRY_PUBLIC_URL || null,
      logObjects: env.GANTRY_LOG_OBJECTS || null,
      s3: s3Config(env),
      crashAt: testing ? env.GANTRY_TEST_CRASH_AT || null : null,
      trustProxy: trustProxyOf(env.GANTRY_TRUST_PROXY),
      sessionHours: intOr(env.GANTRY_SESSION_HOURS, 168, 1),
      signInMaxFailures: intOr(env.GANTRY_SIGN_IN_MAX_FAILURES, 10, 1),
      signInWindowSeconds: intOr(env.GANTRY_SIGN_IN_WINDOW_SECONDS, 900, 1),
      auditRetentionDays: intOr(env.GANTRY_AUDIT_RETENTION_DAYS, 365, 0),
      retention: retentionOf(env, testing),
      idTokenKeyDays: intOr(env.GANTRY_ID_TOKEN_KEY_DAYS, 30, 0),
      oidc: oidcOf(env),
      overload: overloadOf(env),
    },
    agent: {
      home: env.GANTRY_AGENT_HOME ? path.resolve(env.GANTRY_AGENT_HOME) : path.join(home, 'agent'),
      isolation: env.GANTRY_ISOLATION === 'none' || env.GANTRY_ISOLATION === 'sandbox' ? env.GANTRY_ISOLATION : null,
    },
    client: {
      server: env.GANTRY_SERVER || null,
      token: env.GANTRY_TOKEN || null,
    },
    killGraceMs: Number(env.GANTRY_KILL_GRACE_MS) >= 0 && env.GANTRY_KILL_GRACE_MS ? Number(env.GANTRY_KILL_GRACE_MS) : 10_000,
  };
}
