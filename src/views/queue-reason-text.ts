// A queue reason (GET /queue) as a sentence, and the job it points at if any: the words the web
// UI's queue page and `gantry queue` both show. Pure, so the words are tested in Node
// (test/ui/log-rendering.test.ts, test/ui/quota-reason.test.ts).

import type { SandboxRequirement } from '../domain/isolation.js';

/** A queue entry's `reason` as the API sends it (JSON: times as ISO strings). */
export type QueueReasonJson =
  | { code: 'offered'; agentId: number; agentName: string; until: string }
  | { code: 'no_agent'; tags: string[] }
  | { code: 'max_running' | 'project_max_running' | 'pipeline_max_running'; limit: number; running: number }
  | { code: 'resource_group_busy'; group: string; heldByJobId: number }
  | { code: 'resource_group_order'; group: string; behindJobId: number }
  | { code: 'agents_busy'; agents: number }
  | { code: 'no_sandbox_agent'; requirement: NonNullable<SandboxRequirement>; tags: string[] }
  | { code: 'sandbox_agents_busy'; requirement: NonNullable<SandboxRequirement>; agents: number }
  | { code: 'quota'; project: string; usedMinutes: number; reservedMinutes: number; totalMinutes: number }
  | { code: 'ready' };

type QueueReason = QueueReasonJson;


const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function reasonText(r: QueueReason): string {
  switch (r.code) {
    case 'offered':
      return `Offered to agent ${r.agentName || `#${r.agentId}`}, waiting for it to start`;
    case 'no_agent':
      return r.tags.length === 0 ? 'No agent is online' : `No online agent has the tags ${r.tags.join(', ')}`;
    case 'max_running':
      return `Fleet limit reached: ${r.running} of ${r.limit} running (GANTRY_MAX_RUNNING)`;
    case 'project_max_running':
      return `Project limit reached: ${r.running} of ${r.limit} running`;
    case 'pipeline_max_running':
      return `Pipeline limit reached: ${r.running} of ${r.limit} running`;
    case 'resource_group_busy':
      return `Resource group ${r.group} is busy`;
    case 'resource_group_order':
      return `Resource group ${r.group}: an older job goes first`;
    case 'agents_busy':
      return r.agents === 1 ? 'The one matching agent is busy' : `All ${plural(r.agents, 'matching agent')} are busy`;
    case 'no_sandbox_agent':
      return `${needsSandbox(r.requirement)}: no sandboxed agent with a passing isolation check${r.tags.length ? ` and the tags ${r.tags.join(', ')}` : ''} is online`;
    case 'sandbox_agents_busy':
      return r.agents === 1
        ? `${needsSandbox(r.requirement)}: the one sandboxed agent with a passing isolation check is busy`
        : `${needsSandbox(r.requirement)}: all ${plural(r.agents, 'sandboxed agent')} with a passing isolation check are busy`;
    case 'quota':
      return `Waiting for compute minutes: project ${r.project} has used ${minutes(r.usedMinutes)} of its ${minutes(r.totalMinutes)} minutes this month${
        r.reservedMinutes > 0 ? `, and its running jobs hold ${minutes(r.reservedMinutes)} more` : ''
      }`;
    case 'ready':
      return 'Ready: the next matching agent takes it';
  }
}

/** Minutes as "1.0", "0.25", "12.5": at least one decimal, at most three. */
export function minutes(n: number): string {
  const s = String(Math.round(n * 1000) / 1000);
  return s.includes('.') ? s : `${s}.0`;
}

const WHY_SANDBOX: Record<NonNullable<SandboxRequirement>, string> = {
  untrusted: 'pipeline from a fork',
  project: 'the project requires the sandbox',
  network: 'network none is enforced only by the sandbox',
};
const needsSandbox = (why: NonNullable<SandboxRequirement>) => `Needs a sandboxed agent (${WHY_SANDBOX[why]})`;

/** The job a reason names (the one holding a resource group, or the one ahead in it). */
export function reasonJob(r: QueueReason): { label: string; jobId: number } | null {
  if (r.code === 'resource_group_busy') return { label: 'held by', jobId: r.heldByJobId };
  if (r.code === 'resource_group_order') return { label: 'behind', jobId: r.behindJobId };
  return null;
}
