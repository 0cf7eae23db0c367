// What every route module is given, and the lookups they share.

import type { FastifyRequest } from 'fastify';
import { asProjectId } from '../../domain/ids.js';
import type { LogStore } from '../../logstore/log-store.js';
import type { Project, Store } from '../../store/store.js';
import { requireProject } from '../auth.js';
import { ApiError } from '../errors.js';
import type { GitMirrors } from '../git-mirror.js';
import type { Metrics } from '../metrics.js';
import type { SecretBox } from '../secrets.js';
import type { SchedulerSettings } from '../../store/fleet.js';
import type { CrashHook } from '../crash-points.js';

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
}

/** `:project` is an id (all digits) or a name (never all digits); the token must cover it. */
export async function projectOf(ctx: RouteContext, request: FastifyRequest, param: string): Promise<Project> {
  const project = /^[0-9]+$/.test(param)
    ? await ctx.store.getProject(asProjectId(Number(param)))
    : await ctx.store.getProject(param);
  if (!project) throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${JSON.stringify(param)}`);
  requireProject(request, project.id);
  return project;
}
