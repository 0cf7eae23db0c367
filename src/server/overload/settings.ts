// How much of each kind of work one server instance takes at once, how fast one caller may go,
// and when the process counts as under pressure (docs/RUNNING.md, "Sizing the overload bounds").
// The defaults are sized for a two-core server; every number is read once at start
// (src/config/config.ts) and 0 turns that bound, limit or threshold off.

export interface OverloadSettings {
  /** GET/HEAD requests of the API (and the web UI's files) in flight at once (GANTRY_MAX_INFLIGHT_READS). */
  maxReads: number;
  /** Other API requests in flight at once (GANTRY_MAX_INFLIGHT_WRITES). */
  maxWrites: number;
  /** Webhook and git-hook intake requests in flight at once, bodies being read included (GANTRY_MAX_INFLIGHT_WEBHOOKS). */
  maxWebhooks: number;
  /**
   * Bytes of webhook bodies in flight at once, each counted by its Content-Length (by the route's
   * 25 MiB limit when it has none) (GANTRY_MAX_INFLIGHT_WEBHOOK_BYTES).
   */
  maxWebhookBytes: number;
  /** Sign-ins in flight at once: each is a scrypt hash on libuv's four threads (GANTRY_MAX_INFLIGHT_SIGN_INS). */
  maxSignIns: number;
  /** Live streams (SSE) open on this instance (GANTRY_MAX_INFLIGHT_STREAMS). */
  maxStreams: number;
  /** Live streams one caller (a token, a session) may have open on this instance (GANTRY_MAX_STREAMS_PER_CALLER). */
  maxStreamsPerCaller: number;
  /** API requests per minute of one token or session (GANTRY_RATE_LIMIT_PER_TOKEN). */
  perTokenPerMinute: number;
  /** API requests per minute from one address, an IPv6 address by its /64 (GANTRY_RATE_LIMIT_PER_ADDRESS). */
  perAddressPerMinute: number;
  /** Sign-ins per minute from one address, whatever their outcome (GANTRY_RATE_LIMIT_SIGN_INS). */
  signInsPerMinute: number;
  /** Mean event loop delay, in ms, over a sample past which API work is shed (GANTRY_PRESSURE_MAX_DELAY_MS). */
  maxEventLoopDelayMs: number;
  /** Event loop utilization (0..1) over a sample past which API work is shed (GANTRY_PRESSURE_MAX_UTILIZATION). */
  maxEventLoopUtilization: number;
  /** How often the event loop is sampled, in ms. */
  sampleIntervalMs: number;
}

/**
 * Two cores, one event loop. Reads and writes are bounded well below what the loop could juggle so
 * that a burst is answered at once instead of queued, and so that on PostgreSQL (10 connections a
 * server) the agent protocol's transactions never wait behind a crowd of API reads. The stream cap
 * is where BENCHMARKS.md measured 1,000 viewers at +30-40 MB of RSS. The rates are generous: a
 * person, the web UI or a script polling every 50 ms stays well inside them, and so does an office
 * signing in behind one address at nine; they stop floods (wrong passwords have their own, far
 * lower limit: sessions.ts).
 */
export const DEFAULT_OVERLOAD_SETTINGS: OverloadSettings = {
  maxReads: 32,
  maxWrites: 16,
  maxWebhooks: 64,
  maxWebhookBytes: 64 * 1024 * 1024,
  maxSignIns: 4,
  maxStreams: 1000,
  maxStreamsPerCaller: 32,
  perTokenPerMinute: 6000,
  perAddressPerMinute: 12000,
  signInsPerMinute: 120,
  maxEventLoopDelayMs: 200,
  maxEventLoopUtilization: 0.95,
  sampleIntervalMs: 1000,
};
