// Taking work: which pending attempts an agent is offered, in one transaction (PROTOCOL.md §6).
//
// The order, which is the scheduler's policy:
// 1. only attempts whose tags the agent has;
// 2. weighted fair share between projects (src/scheduler/fair-share.ts): fewer jobs running (or
//    offered) per unit of the project's weight first, so one project's thousand queued jobs, or
//    its long ones, cannot starve another's; then the lower pass (virtual time, stride
//    scheduling), kept in `projects` and moved in this transaction (share-pass.ts), so an agent of
//    one slot goes round the projects, in proportion to their weights, whichever instance it asks;
//    then the project waiting longest;
// 3. within a project, its urgent jobs first, then higher `priority`, then queue order: one
//    integer, `attempts.priority`, stamped when the attempt is queued (src/domain/fair-share.ts);
// 4. limits: the fleet's, the project's, per pipeline, and `resource_group` (one job at a time per
//    group and project, oldest first: a later job of a busy or blocked group never overtakes);
// 5. isolation: a job that needs the sandbox (sandboxRequirement(), from the project's settings and
//    the pipeline's trust as they are at the take) goes only to a sandbox-ready agent. For any
//    other agent the candidates are only those of the trust it may run, so what it may not take
//    never fills its candidate list or holds back what it may;
// 6. compute minutes: a project with a quota whose balance is spent takes nothing (its jobs wait,
//    other projects' go on); each offer reserves the attempt's first slice of minutes in the same
//    transaction (reservations.ts) and records the agent's pool and its price on the attempt.
//
// Each offer is one conditional UPDATE of a row selected `FOR UPDATE SKIP LOCKED`, so two
// instances never offer one attempt and never wait on each other's candidates. Limits count rows,
// so on PostgreSQL a take that must check one locks the project's row first (`FOR UPDATE`):
// takes of one project with limits or a quota are serialized across instances, others never are. With a
// fleet-wide limit (GANTRY_MAX_RUNNING) every take holds one advisory lock: all are serialized.

import { asAttemptId } from '../../../domain/ids.js';
import { agentIsSandboxReady, type NetworkPolicy } from '../../../domain/isolation.js';
import type { Agent, SchedulerSettings } from '../../fleet.js';
import type { EpochMs } from '../../store.js';
import type { SqlExecutor } from '../dialect.js';
import { ATTEMPT_COLUMNS, sandboxSettingsOf, type AttemptRow } from '../rows.js';
import { tagKeyMatches, type FleetTx } from './fleet-tx.js';
import { trustsFor, type Trusts } from './sandbox-filter.js';
import { DEFAULT_COST_FACTOR_MILLI } from '../../../domain/pools.js';
import { availableAtTakeIn, offerSlice, reserveAtOfferIn } from './reservations.js';
import { compareShares, passAfterOffer, type ShareState } from '../../../scheduler/fair-share.js';
import { recordPassesIn } from './share-pass.js';

export interface Offered {
  attemptId: number;
  jobId: number;
  pipelineId: number;
  projectId: number;
  /** The attempt's row as the offer left it. */
  row: AttemptRow;
}

/** What runs or is offered now: what the limits count. */
export interface Active {
  total: number;
  byProject: Map<number, number>;
  byPipeline: Map<number, number>;
  /** `project\nresource group` of running or offered attempts -> the job holding the group. */
  groups: Map<string, number>;
}

export async function activeOf(f: Pick<FleetTx, 'tx'>, at: EpochMs): Promise<Active> {
  const rows = await f.tx.all<{ project_id: number | string; pipeline_id: number | string; job_id: number | string; resource_group: string | null }>(
    "SELECT project_id, pipeline_id, job_id, resource_group FROM attempts WHERE status = 'running' AND tag_key IS NOT NULL " +
      "UNION ALL SELECT project_id, pipeline_id, job_id, resource_group FROM attempts WHERE status = 'pending' AND offered_until >= ?",
    [at],
  );
  const a: Active = { total: 0, byProject: new Map(), byPipeline: new Map(), groups: new Map() };
  for (const r of rows) add(a, Number(r.project_id), Number(r.pipeline_id), Number(r.job_id), r.resource_group);
  return a;
}

function add(a: Active, project: number, pipeline: number, job: number, group: string | null): void {
  a.total++;
  a.byProject.set(project, (a.byProject.get(project) ?? 0) + 1);
  a.byPipeline.set(pipeline, (a.byPipeline.get(pipeline) ?? 0) + 1);
  if (group !== null) a.groups.set(groupKey(project, group), job);
}

const groupKey = (project: number, group: string) => `${project}\n${group}`;

/** A project's own limits (the `projects` row). */
export interface ProjectLimits {
  max: number | null;
  perPipeline: number | null;
}

/**
 * Which limit holds an attempt back, if one does, in the order the take checks them. Shared by
 * the take and by the queue's explanations (queue.ts), so both apply the same rules.
 */
export type LimitHold =
  | { code: 'max_running'; limit: number; running: number }
  | { code: 'project_max_running'; limit: number; running: number }
  | { code: 'pipeline_max_running'; limit: number; running: number }
  | { code: 'resource_group_busy'; group: string; heldByJobId: number };

export function limitHold(
  active: Active,
  settings: Pick<SchedulerSettings, 'maxRunning'>,
  limit: ProjectLimits,
  projectId: number,
  pipelineId: number,
  group: string | null,
): LimitHold | null {
  if (settings.maxRunning !== null && active.total >= settings.maxRunning)
    return { code: 'max_running', limit: settings.maxRunning, running: active.total };
  const inProject = active.byProject.get(projectId) ?? 0;
  if (limit.max !== null && inProject >= limit.max) return { code: 'project_max_running', limit: limit.max, running: inProject };
  const inPipeline = active.byPipeline.get(pipelineId) ?? 0;
  if (limit.perPipeline !== null && inPipeline >= limit.perPipeline)
    return { code: 'pipeline_max_running', limit: limit.perPipeline, running: inPipeline };
  const holder = group === null ? undefined : active.groups.get(groupKey(projectId, group));
  if (holder !== undefined) return { code: 'resource_group_busy', group: group!, heldByJobId: holder };
  return null;
}

interface Candidate {
  id: number | string;
  job_id: number | string;
  pipeline_id: number | string;
  resource_group: string | null;
  /** A reservation an earlier offer of it left (the offer lapsed). */
  reserved_until: number | string | null;
  /** The project's quota (the same on every candidate). */
  monthly_minutes: number | string | null;
  /** The agent's pool's price; null: the pool has no row (the default price). */
  cost_factor_milli: number | string | null;
}

/**
 * Tag keys that have pending attempts: all of them (the take's cache of known keys), or with
 * `notOfferedAt` only those with an attempt not on offer at that moment (the hub's safety tick).
 */
export async function pendingTagKeys(db: SqlExecutor, notOfferedAt: EpochMs | null = null): Promise<string[]> {
  const rows = await db.all<{ tag_key: string }>(
    "SELECT DISTINCT tag_key FROM attempts WHERE status = 'pending' AND tag_key IS NOT NULL" +
      (notOfferedAt === null ? '' : ' AND (offered_until IS NULL OR offered_until < ?)'),
    notOfferedAt === null ? [] : [notOfferedAt],
  );
  return rows.map((r) => r.tag_key);
}

/** One take: `slots` offers at most for `agent`, offer i carrying the hash of its token i. */
export interface TakeRequest {
  agent: Agent;
  slots: number;
  at: EpochMs;
  settings: SchedulerSettings;
  tokenHashes: readonly string[];
  /** The tag keys pending attempts have (the instance's cache). */
  knownTagKeys: readonly string[];
}

export async function takeIn(f: FleetTx, request: TakeRequest): Promise<Offered[]> {
  const { agent, slots, at, settings, tokenHashes } = request;
  const agentTags = new Set(agent.tags);
  const keys = request.knownTagKeys.filter((k) => tagKeyMatches(k, agentTags));
  if (keys.length === 0 || slots <= 0) return [];
  const keyList = keys.map(() => '?').join(', ');
  // With each project's limits and isolation: one round trip fewer on the way from a dependency's
  // end to a start.
  const rows = await f.tx.all<{
    project_id: number | string;
    first: number | string;
    max_running: number | null;
    max_running_per_pipeline: number | null;
    require_sandbox: number | string;
    network: NetworkPolicy;
    fork_network: NetworkPolicy;
    share_weight: number | string;
    share_pass: number | string;
  }>(
    'SELECT w.project_id, w.first, pr.max_running, pr.max_running_per_pipeline, pr.require_sandbox, pr.network, pr.fork_network, pr.share_weight, pr.share_pass FROM ' +
      `(SELECT project_id, MIN(id) AS first FROM attempts WHERE status = 'pending' AND tag_key IN (${keyList}) ` +
      'AND (offered_until IS NULL OR offered_until < ?) GROUP BY project_id) w JOIN projects pr ON pr.id = w.project_id',
    [...keys, at],
  );
  const ready = agentIsSandboxReady(agent.isolation);
  const trusts = new Map<number, Trusts>();
  for (const p of rows) trusts.set(Number(p.project_id), trustsFor(sandboxSettingsOf(p), ready));
  const projects = rows.filter((p) => trusts.get(Number(p.project_id)) !== 'none');
  if (projects.length === 0) return [];
  // The fleet-wide limit counts every running attempt: takes on all instances are serialized
  // while it is set (and only then), or two instances could each start one job past it.
  if (settings.maxRunning !== null) await f.db.holdLock(f.tx, 'gantry.max_running');
  // What runs is read when something depends on it: the fleet's limit, the ranking of several
  // projects, or (in takeFromProject) a project's limits and resource groups. A take for one
  // project without limits, the usual one, saves that round trip.
  const active = settings.maxRunning !== null || projects.length > 1 ? await activeOf(f, at) : null;
  if (settings.maxRunning !== null && active!.total >= settings.maxRunning) return [];
  const limits = new Map<number, ProjectLimits>(
    projects.map((p) => [Number(p.project_id), { max: p.max_running ?? null, perPipeline: p.max_running_per_pipeline ?? null }]),
  );
  // The competitors, as the take moves them on: every project with work for this agent.
  const shares = new Map<number, ShareState>(
    projects.map((p) => [Number(p.project_id), { id: Number(p.project_id), weight: Number(p.share_weight), pass: Number(p.share_pass), first: Number(p.first) }]),
  );
  const running = (id: number) => active?.byProject.get(id) ?? 0;
  const offers = new Map<number, number>();
  const offered: Offered[] = [];
  const exhausted = new Set<number>();
  while (offered.length < slots) {
    let project: ShareState | null = null;
    for (const p of shares.values()) if (!exhausted.has(p.id) && (project === null || compareShares(p, project, running) < 0)) project = p;
    if (project === null) break;
    const limit = limits.get(project.id)!;
    const trust = trusts.get(project.id) as Exclude<Trusts, 'none'>;
    const got = await takeFromProject(f, agent, project.id, limit, trust, keys, slots - offered.length, at, settings, tokenHashes.slice(offered.length), active);
    offered.push(...got);
    if (got.length === 0) exhausted.add(project.id);
    else {
      project.pass = passAfterOffer(project, shares.values());
      offers.set(project.id, (offers.get(project.id) ?? 0) + 1);
    }
    if (settings.maxRunning !== null && active!.total >= settings.maxRunning) break;
  }
  await recordPassesIn(f, shares, offers);
  return offered;
}

async function takeFromProject(
  f: FleetTx,
  agent: Pick<Agent, 'id' | 'pool'>,
  projectId: number,
  limit: ProjectLimits,
  trust: Exclude<Trusts, 'none'>,
  keys: readonly string[],
  want: number,
  at: EpochMs,
  settings: SchedulerSettings,
  tokenHashes: readonly string[],
  known: Active | null,
): Promise<Offered[]> {
  const limited = limit.max !== null || limit.perPipeline !== null;
  const keyList = keys.map(() => '?').join(', ');
  // In a subquery, not a join: FOR UPDATE would lock the pipeline rows too.
  const ofTrust = trust === 'all' ? '' : ' AND EXISTS (SELECT 1 FROM pipelines p WHERE p.id = attempts.pipeline_id AND p.trusted = ?)';
  const trustParams = trust === 'all' ? [] : [trust === 'trusted' ? 1 : 0];
  // The project's quota and the agent's pool's price ride along (scalar subqueries, which the
  // lock clause does not lock): a project without a quota, the usual one, costs no round trip more.
  const lockCandidates = async (): Promise<Candidate[]> =>
    f.tx.all<Candidate>(
      'SELECT id, job_id, pipeline_id, resource_group, reserved_until, (SELECT monthly_minutes FROM projects WHERE id = ?) AS monthly_minutes, ' +
        '(SELECT cost_factor_milli FROM pools WHERE name = ?) AS cost_factor_milli ' +
        `FROM attempts WHERE status = 'pending' AND project_id = ? AND tag_key IN (${keyList}) ` +
        `AND (offered_until IS NULL OR offered_until < ?)${ofTrust} ORDER BY priority DESC, id LIMIT ?${f.db.lockClause('skip')}`,
      // Room to skip candidates held back by a pipeline limit or a busy resource group.
      [projectId, agent.pool, projectId, ...keys, at, ...trustParams, Math.max(want * 4, 16)],
    );
  let candidates = await lockCandidates();
  if (candidates.length === 0) return [];
  const factorMilli = candidates[0]!.cost_factor_milli === null ? DEFAULT_COST_FACTOR_MILLI : Number(candidates[0]!.cost_factor_milli);
  // Minutes are reserved only for a project with a quota, and only where they cost something:
  // a free pool's jobs run whatever the balance (RUNNING.md, "Compute minutes and quotas").
  const quotaMinutes = candidates[0]!.monthly_minutes === null || factorMilli === 0 ? null : Number(candidates[0]!.monthly_minutes);
  const counts = limited || candidates.some((c) => c.resource_group !== null);
  const active = known ?? { total: 0, byProject: new Map(), byPipeline: new Map(), groups: new Map() };
  if ((counts || quotaMinutes !== null) && f.db.name !== 'sqlite') {
    // Counting what runs, or what is left of the project's minutes, is only sound while no other
    // instance adds to it: hold the project.
    await f.tx.get(`SELECT id FROM projects WHERE id = ?${f.db.lockClause('wait')}`, [projectId]);
    if (counts) Object.assign(active, await activeOf(f, at));
    candidates = await lockCandidates();
  } else if (counts && known === null) {
    Object.assign(active, await activeOf(f, at));
  }
  // A project with nothing left takes nothing; the take goes on to the other projects.
  let available = quotaMinutes === null ? Number.POSITIVE_INFINITY : await availableAtTakeIn(f, projectId, quotaMinutes, at);
  if (available <= 0) return [];
  const out: Offered[] = [];
  for (const c of candidates) {
    // One offer per project per round: the caller re-ranks projects by their new counts.
    if (out.length >= 1) break;
    const pipelineId = Number(c.pipeline_id);
    const hold = limitHold(active, settings, limit, projectId, pipelineId, c.resource_group);
    // The fleet's and the project's limits hold every later candidate back too; a pipeline's
    // limit or a busy group only this one.
    if (hold?.code === 'max_running' || hold?.code === 'project_max_running') break;
    if (hold) continue;
    if (c.resource_group !== null) {
      // In order: the group's oldest waiting attempt goes first, whoever can run it.
      const oldest = await f.tx.get<{ id: number | string }>(
        "SELECT MIN(id) AS id FROM attempts WHERE status = 'pending' AND project_id = ? AND resource_group = ?",
        [projectId, c.resource_group],
      );
      if (oldest && Number(oldest.id) !== Number(c.id)) continue;
    }
    const hash = tokenHashes[out.length];
    if (hash === undefined) break;
    // The attempt is billed at the pool's price now, and holds its first slice from the offer on.
    const slice = quotaMinutes === null ? null : offerSlice(settings.leaseMs, factorMilli, available, at);
    const row = await f.tx.get<AttemptRow>(
      'UPDATE attempts SET agent_id = ?, token_hash = ?, offered_until = ?, pool = ?, cost_factor_milli = ?, reserved_until = ? ' +
        `WHERE id = ? AND status = 'pending' AND (offered_until IS NULL OR offered_until < ?) RETURNING ${ATTEMPT_COLUMNS}`,
      [agent.id, hash, at + settings.offerTtlMs, agent.pool, factorMilli, slice?.reservedUntil ?? null, c.id, at],
    );
    if (!row) continue;
    const previousUntil = c.reserved_until === null ? null : Number(c.reserved_until);
    if (slice !== null || previousUntil !== null) await reserveAtOfferIn(f, Number(c.id), projectId, slice?.amountMs ?? 0, previousUntil, at);
    if (slice !== null) available -= slice.amountMs;
    add(active, projectId, pipelineId, Number(c.job_id), c.resource_group);
    out.push({ attemptId: asAttemptId(Number(c.id)), jobId: Number(c.job_id), pipelineId, projectId, row });
  }
  return out;
}
