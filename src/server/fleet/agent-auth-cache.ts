// Agents by token hash, kept for a moment so an agent's requests (a log upload, a start, a
// completion: several per job) do not each begin with a database round trip to authenticate.
//
// Why a stale entry is harmless: an agent's token and id never change, and nothing an agent does
// rests on the cached row alone. A poll and a heartbeat check the session in the database and go
// on with the agent's row as it is now; a start, a log upload and a completion are fenced by the
// attempt's own token, which a deregistration or a new session invalidates (its attempts end,
// its offers return to the queue). So a deregistered agent is refused by those fences at once and
// by authentication within `ttlMs`.

import type { Agent } from '../../store/fleet.js';

export class AgentAuthCache {
  private readonly entries = new Map<string, { agent: Agent; until: number }>();

  constructor(
    private readonly ttlMs = 2_000,
    private readonly max = 10_000,
  ) {}

  get(tokenHash: string, now: number): Agent | undefined {
    const e = this.entries.get(tokenHash);
    if (!e) return undefined;
    if (e.until > now) return e.agent;
    this.entries.delete(tokenHash);
    return undefined;
  }

  set(tokenHash: string, agent: Agent, now: number): void {
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(tokenHash, { agent, until: now + this.ttlMs });
  }

  forget(tokenHash: string): void {
    this.entries.delete(tokenHash);
  }
}
