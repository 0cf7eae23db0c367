// What every route module is given, and the lookups they share.

import type { LogStore } from '../../logstore/log-store.js';
import type { Store } from '../../store/store.js';
import type { GitMirrors } from '../git-mirror.js';
import type { Metrics } from '../metrics.js';
import type { SecretBox } from '../secrets.js';
import type { SchedulerSettings } from '../../store/fleet.js';
import type { CrashHook } from '../crash-points.js';
import type { RetentionDefaults } from '../../domain/retention.js';

export interface RouteContext {
  store: Store;
  logs: LogStore;
  mirrors: GitMirrors;
  secrets: SecretBox;
  metrics: Metrics;
  now: () => number;
  /** The scheduler's settings (lease, offer time, limits) the fleet store's actions take. */
  settings: SchedulerSettings;
  /** Test-only crash points (crash-points.ts); a no-op unless one is armed. */
  crash: CrashHook;
  /** The instance's retention defaults (GANTRY_RETENTION_*, ...), under each project's own settings. */
  retention: RetentionDefaults;
}

// A route's project (and pipeline, job) is found and checked before its handler runs:
// routeProject and routeTarget in ../route-access.ts.
