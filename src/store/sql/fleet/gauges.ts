// The fleet as Prometheus gauges see it (docs/API.md, "Metrics"): agents by pool and state, running
// and pending jobs by pool, the oldest pending job's age by pool. Read from the store at scrape
// time, so every server instance answers the same.
//
// A running attempt's pool is where it was offered. A pending job has no pool yet (tags choose
// agents, the pool is where it ends up): it counts for every pool with an agent whose tags it
// matches, the agents that left within a week included, so a pool of ephemeral agents that are
// all gone still shows the work waiting for it (what an autoscaler reads). A job no known agent
// matches counts under the pool "". An offered job counts for its agent's pool only.

import type { FleetGauges, QueueEntry, SchedulerSettings } from '../../fleet.js';
import type { EpochMs } from '../../store.js';
import type { SqlExecutor } from '../dialect.js';
import { agentOnline, tagKeyMatches, tagKeyOf } from './fleet-tx.js';

const GONE_AGENTS_KEPT_MS = 7 * 24 * 3600_000;

export async function fleetGaugesIn(tx: SqlExecutor, at: EpochMs, settings: Pick<SchedulerSettings, 'leaseMs'>, queue: readonly QueueEntry[]): Promise<FleetGauges> {
  const agentRows = await tx.all<{ id: number | string; pool: string; tags: string; session_id: string | null; last_seen_at: number | string | null; deregistered_at: number | string | null; busy: number | string }>(
    "SELECT ag.id, ag.pool, ag.tags, ag.session_id, ag.last_seen_at, ag.deregistered_at, (SELECT COUNT(*) FROM attempts a WHERE a.agent_id = ag.id AND a.status = 'running') AS busy " +
      'FROM agents ag WHERE ag.deregistered_at IS NULL OR ag.deregistered_at >= ?',
    [at - GONE_AGENTS_KEPT_MS],
  );
  const priced = await tx.all<{ name: string }>('SELECT name FROM pools');
  const running = await tx.all<{ pool: string | null; n: number | string }>(
    "SELECT COALESCE(a.pool, ag.pool) AS pool, COUNT(*) AS n FROM attempts a LEFT JOIN agents ag ON ag.id = a.agent_id WHERE a.status = 'running' AND a.agent_id IS NOT NULL GROUP BY COALESCE(a.pool, ag.pool)",
  );

  const pools = new Set<string>(priced.map((p) => p.name));
  const agents = new Map<string, number>();
  /** Each pool's tag sets, as sets of tags. */
  const tagSets = new Map<string, Set<string>[]>();
  const poolOfAgent = new Map<number, string>();
  for (const r of agentRows) {
    pools.add(r.pool);
    poolOfAgent.set(Number(r.id), r.pool);
    const sets = tagSets.get(r.pool) ?? [];
    sets.push(new Set(JSON.parse(r.tags) as string[]));
    tagSets.set(r.pool, sets);
    if (r.deregistered_at !== null) continue;
    const online = agentOnline(r.session_id, r.last_seen_at === null ? null : Number(r.last_seen_at), at, settings.leaseMs);
    const state = !online ? 'offline' : Number(r.busy) > 0 ? 'busy' : 'idle';
    agents.set(`${r.pool}\n${state}`, (agents.get(`${r.pool}\n${state}`) ?? 0) + 1);
  }

  const pending = new Map<string, { count: number }>();
  const oldest = new Map<string, number>();
  for (const e of queue) {
    const key = tagKeyOf(e.tags);
    const into =
      e.reason.code === 'offered'
        ? [poolOfAgent.get(e.reason.agentId) ?? '']
        : [...tagSets].filter(([, sets]) => sets.some((tags) => tagKeyMatches(key, tags))).map(([pool]) => pool);
    for (const pool of into.length > 0 ? into : ['']) {
      const k = `${pool}\n${e.reason.code}`;
      const p = pending.get(k) ?? { count: 0 };
      p.count++;
      pending.set(k, p);
      if (e.queuedAt !== null) oldest.set(pool, Math.min(oldest.get(pool) ?? e.queuedAt, e.queuedAt));
    }
  }

  return {
    pools: [...pools].sort(),
    agents: [...agents].map(([k, count]) => {
      const [pool, state] = k.split('\n') as [string, 'idle' | 'busy' | 'offline'];
      return { pool, state, count };
    }),
    running: running.map((r) => ({ pool: r.pool ?? '', count: Number(r.n) })),
    pending: [...pending].map(([k, p]) => {
      const [pool, reason] = k.split('\n') as [string, string];
      return { pool, reason, count: p.count };
    }),
    oldestPendingAt: [...oldest].map(([pool, queuedAt]) => ({ pool, queuedAt })),
  };
}
