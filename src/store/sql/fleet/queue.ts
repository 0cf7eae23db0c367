// Why each pending attempt waits: the queue page's question. The answer applies the take's own
// rules (take.ts: tags, then the fleet's, the project's and the pipeline's limits, a busy
// resource group, the group's order) to one read-only snapshot, and adds what the take leaves to
// the agents: whether any online agent has the tags, whether one of them is sandbox-ready when
// the job needs the sandbox (sandboxRequirement(), as the take evaluates it), and whether those
// have a free slot. A project with a quota whose minutes are spent waits for minutes first (`quota`).
//
// It is an explanation, not a promise: the next take decides, and between the two an agent may
// come or go. A pending attempt no rule holds back is `ready`: the next request of a matching
// agent is offered it.

import { asAgentId, type QueueEntry, type QueueReason, type SchedulerSettings } from '../../fleet.js';
import { asAttemptId, asJobId, asPipelineId, asProjectId, type ProjectId } from '../../../domain/ids.js';
import type { EpochMs } from '../../store.js';
import { agentOnline, tagKeyMatches } from './fleet-tx.js';
import { activeOf, limitHold, type ProjectLimits } from './take.js';
import { agentIsSandboxReady, jobSandboxRequirement, type NetworkPolicy } from '../../../domain/isolation.js';
import { isolationOf } from './agents.js';
import { sandboxSettingsOf } from '../rows.js';
import { minutesOf } from '../../../domain/compute-minutes.js';
import { balanceIn, type LedgerRead } from './ledger.js';
import { rankParts } from '../../../domain/fair-share.js';

type Id = number | string;

interface PendingRow {
  id: Id;
  job_id: Id;
  number: Id;
  queued_at: Id | null;
  project_id: Id;
  pipeline_id: Id;
  priority: Id;
  resource_group: string | null;
  tag_key: string;
  offered_until: Id | null;
  agent_id: Id | null;
  job_name: string;
  stage: string;
  ref: string;
  project_name: string;
  max_running: Id | null;
  max_running_per_pipeline: Id | null;
  trusted: Id;
  require_sandbox: Id;
  network: NetworkPolicy;
  fork_network: NetworkPolicy;
  monthly_minutes: Id | null;
}

interface AgentRow {
  id: Id;
  name: string;
  tags: string;
  concurrency: Id;
  session_id: string | null;
  last_seen_at: Id | null;
  used: Id;
  isolation: string;
  isolation_check: string | null;
}

const num = (v: Id | null) => (v === null ? null : Number(v));

export async function explainQueueIn(
  r: LedgerRead,
  at: EpochMs,
  settings: Pick<SchedulerSettings, 'maxRunning' | 'leaseMs'>,
  projects: ProjectId | readonly ProjectId[] | null,
  limit: number,
): Promise<QueueEntry[]> {
  // One project, several (what a caller may see), or all (null).
  const { tx } = r;
  const only = projects === null ? null : typeof projects === 'number' ? [projects] : projects;
  if (only !== null && only.length === 0) return [];
  const where = only === null ? '' : ` AND a.project_id IN (${only.map(() => '?').join(', ')})`;
  const rows = await tx.all<PendingRow>(
    'SELECT a.id, a.job_id, a.number, a.queued_at, a.project_id, a.pipeline_id, a.priority, a.resource_group, a.tag_key, ' +
      'a.offered_until, a.agent_id, j.name AS job_name, j.stage, p.ref, pr.name AS project_name, pr.max_running, pr.max_running_per_pipeline, ' +
      'p.trusted, pr.require_sandbox, pr.network, pr.fork_network, pr.monthly_minutes ' +
      'FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN pipelines p ON p.id = a.pipeline_id JOIN projects pr ON pr.id = a.project_id ' +
      `WHERE a.status = 'pending' AND a.tag_key IS NOT NULL${where} ORDER BY a.priority DESC, a.id LIMIT ?`,
    [...(only ?? []), limit],
  );
  if (rows.length === 0) return [];
  const active = await activeOf({ tx }, at);
  // A resource group runs its jobs oldest first (take.ts): the oldest waiting attempt of each.
  const firsts = await tx.all<{ project_id: Id; resource_group: string; id: Id; job_id: Id }>(
    'SELECT project_id, resource_group, id, job_id FROM attempts WHERE id IN ' +
      "(SELECT MIN(id) FROM attempts WHERE status = 'pending' AND resource_group IS NOT NULL GROUP BY project_id, resource_group)",
  );
  const firstOfGroup = new Map(firsts.map((f) => [`${f.project_id}\n${f.resource_group}`, { id: Number(f.id), jobId: Number(f.job_id) }]));
  // Agents with the slots their running and offered attempts use.
  const agentRows = await tx.all<AgentRow>(
    'SELECT g.id, g.name, g.tags, g.concurrency, g.session_id, g.last_seen_at, g.isolation, g.isolation_check, ' +
      "(SELECT COUNT(*) FROM attempts a WHERE a.agent_id = g.id AND (a.status = 'running' OR (a.status = 'pending' AND a.offered_until >= ?))) AS used " +
      'FROM agents g WHERE g.deregistered_at IS NULL',
    [at],
  );
  const agents = agentRows
    .filter((g) => agentOnline(g.session_id, num(g.last_seen_at), at, settings.leaseMs))
    .map((g) => ({
      id: Number(g.id),
      name: g.name,
      tags: new Set(JSON.parse(g.tags) as string[]),
      free: Number(g.concurrency) - Number(g.used),
      sandboxReady: agentIsSandboxReady(isolationOf({ ...g, isolation_limits: null })),
    }));
  const nameOf = new Map(agentRows.map((g) => [Number(g.id), g.name]));
  // Projects with a quota that have spent it: the take skips them (take.ts), whatever the agents.
  const spent = new Map<number, QueueReason & { code: 'quota' }>();
  const quotas = new Map(rows.filter((x) => x.monthly_minutes !== null).map((x) => [Number(x.project_id), { minutes: Number(x.monthly_minutes), name: x.project_name }]));
  for (const [projectId, q] of quotas) {
    const b = await balanceIn(r, projectId, q.minutes, at, false);
    if (b.availableMs !== null && b.availableMs <= 0) {
      spent.set(projectId, { code: 'quota', project: q.name, usedMinutes: minutesOf(b.consumedMs), reservedMinutes: minutesOf(b.reservedMs), totalMinutes: minutesOf((b.limitMs ?? 0) + b.grantsMs) });
    }
  }

  return rows.map((r): QueueEntry => {
    const project = Number(r.project_id);
    const limits: ProjectLimits = { max: num(r.max_running), perPipeline: num(r.max_running_per_pipeline) };
    return {
      attemptId: asAttemptId(Number(r.id)),
      attempt: Number(r.number),
      jobId: asJobId(Number(r.job_id)),
      jobName: r.job_name,
      stage: r.stage,
      pipelineId: asPipelineId(Number(r.pipeline_id)),
      projectId: asProjectId(project),
      project: r.project_name,
      ref: r.ref,
      tags: r.tag_key === '' ? [] : r.tag_key.split('\n'),
      ...rankParts(Number(r.priority)),
      resourceGroup: r.resource_group,
      queuedAt: num(r.queued_at),
      reason: reasonOf(r, limits),
    };
  });

  function reasonOf(r: PendingRow, limits: ProjectLimits): QueueReason {
    const offeredUntil = num(r.offered_until);
    if (offeredUntil !== null && offeredUntil >= at && r.agent_id !== null) {
      const agentId = Number(r.agent_id);
      return { code: 'offered', agentId: asAgentId(agentId), agentName: nameOf.get(agentId) ?? '', until: offeredUntil };
    }
    const quota = spent.get(Number(r.project_id));
    if (quota) return quota;
    const tags = r.tag_key === '' ? [] : r.tag_key.split('\n');
    const tagged = agents.filter((g) => tagKeyMatches(r.tag_key, g.tags));
    if (tagged.length === 0) return { code: 'no_agent', tags };
    const requirement = jobSandboxRequirement(sandboxSettingsOf(r), Number(r.trusted) !== 0);
    const matching = requirement === null ? tagged : tagged.filter((g) => g.sandboxReady);
    if (requirement !== null && matching.length === 0) return { code: 'no_sandbox_agent', requirement, tags };
    const project = Number(r.project_id);
    const hold = limitHold(active, settings, limits, project, Number(r.pipeline_id), r.resource_group);
    if (hold?.code === 'resource_group_busy') return { ...hold, heldByJobId: asJobId(hold.heldByJobId) };
    if (hold) return hold;
    if (r.resource_group !== null) {
      const first = firstOfGroup.get(`${project}\n${r.resource_group}`);
      if (first && first.id !== Number(r.id)) return { code: 'resource_group_order', group: r.resource_group, behindJobId: asJobId(first.jobId) };
    }
    if (matching.every((g) => g.free <= 0)) {
      return requirement === null ? { code: 'agents_busy', agents: matching.length } : { code: 'sandbox_agents_busy', requirement, agents: matching.length };
    }
    return { code: 'ready' };
  }
}
