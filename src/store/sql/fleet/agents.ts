// Agent rows: what an agent said of itself at its latest session (tags, concurrency, isolation),
// and their conversion to the store's Agent.

import { NO_ISOLATION, type AgentIsolationFacts, type IsolationCheck, type IsolationLevel } from '../../../domain/isolation.js';
import { asAgentId, type Agent, type AgentFacts } from '../../fleet.js';
import { jobLimitsOf } from '../rows.js';
import { DEFAULT_POOL } from '../../../domain/pools.js';

export interface AgentRow {
  id: number | string;
  name: string;
  tags: string;
  concurrency: number | string;
  version: string;
  platform: string;
  session_id: string | null;
  created_at: number | string;
  last_seen_at: number | string | null;
  deregistered_at: number | string | null;
  isolation: string;
  isolation_limits: string | null;
  isolation_check: string | null;
  pool: string;
}
export const AGENT_COLUMNS =
  'id, name, tags, concurrency, version, platform, session_id, created_at, last_seen_at, deregistered_at, isolation, isolation_limits, isolation_check, pool';
const numOrNull = (v: number | string | null) => (v === null ? null : Number(v));

export function toAgent(r: AgentRow): Agent {
  return {
    id: asAgentId(Number(r.id)),
    name: r.name,
    tags: JSON.parse(r.tags) as string[],
    concurrency: Number(r.concurrency),
    version: r.version,
    platform: JSON.parse(r.platform) as Record<string, string>,
    sessionId: r.session_id,
    createdAt: Number(r.created_at),
    lastSeenAt: numOrNull(r.last_seen_at),
    deregisteredAt: numOrNull(r.deregistered_at),
    isolation: isolationOf(r),
    pool: r.pool,
  };
}

/** The pool an agent said it belongs to; an agent older than pools is in `default`. */
export function poolOf(facts: AgentFacts): string {
  return facts.pool ?? DEFAULT_POOL;
}

export function isolationOf(r: Pick<AgentRow, 'isolation' | 'isolation_limits' | 'isolation_check'>): AgentIsolationFacts {
  return {
    isolation: r.isolation as IsolationLevel,
    limits: jobLimitsOf(r.isolation_limits),
    check: r.isolation_check === null ? null : (JSON.parse(r.isolation_check) as IsolationCheck),
  };
}

/** The isolation columns' values (isolation, isolation_limits, isolation_check) of what an agent said. */
export function isolationParams(facts: AgentFacts): [string, string, string | null] {
  const i = facts.isolation ?? NO_ISOLATION;
  return [i.isolation, JSON.stringify(i.limits), i.check === null ? null : JSON.stringify(i.check)];
}
