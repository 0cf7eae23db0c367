// Where an instance's open long polls wait: job requests for ready work, heartbeats for cancels.
// Wake-ups come from the fleet store's events (this instance's commits, and other instances'
// through LISTEN); a wake-up only makes a waiter look again in the store, so a lost or duplicate
// one costs at most a safety tick, never a job. The tick (every second, while polls wait) asks
// the store once which tag keys have pending attempts not on offer, and wakes only the waiters
// those could go to: what a lost NOTIFY, an expired offer or a freed limit left waiting.

import type { AgentId, FleetEvents } from '../../store/fleet.js';
import { tagKeyMatches } from '../../store/sql/fleet/fleet-tx.js';

interface ReadyWaiter {
  tags: ReadonlySet<string>;
  wake(): void;
}

const SAFETY_TICK_MS = 1_000;

export class AgentHub {
  private readonly ready = new Set<ReadyWaiter>();
  private readonly cancels = new Map<AgentId, Set<() => void>>();
  private readonly timer: NodeJS.Timeout;
  private isClosed = false;
  private readonly onReady = (keys: string[]) => {
    for (const w of this.ready) if (keys.some((k) => tagKeyMatches(k, w.tags))) w.wake();
  };
  private readonly onCancel = (agent: AgentId) => {
    for (const wake of this.cancels.get(agent) ?? []) wake();
  };

  private ticking = false;

  constructor(
    private readonly events: FleetEvents,
    /** Tag keys of pending attempts that are not on offer now (one cheap query). */
    private readonly offerableTagKeys: () => Promise<string[]>,
  ) {
    events.on('ready', this.onReady);
    events.on('cancel', this.onCancel);
    this.timer = setInterval(() => void this.tick(), SAFETY_TICK_MS);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.ready.size === 0) return;
    this.ticking = true;
    try {
      const keys = await this.offerableTagKeys();
      if (keys.length > 0 && !this.isClosed) this.onReady(keys);
    } catch {
      // The store is unreachable: no poll could take anything now; the next tick asks again.
    } finally {
      this.ticking = false;
    }
  }

  /** The instance is shutting down: waits end at once and polls answer without work. */
  get closed(): boolean {
    return this.isClosed;
  }

  get waitingPolls(): number {
    return this.ready.size;
  }

  /**
   * Every waiting poll takes again: what an agent may take changed (its isolation check came in),
   * and its poll waits under the facts it had.
   */
  wakeAll(): void {
    for (const w of this.ready) w.wake();
  }

  /** Resolves when work for these tags may be ready, after `ms`, or when `signal` aborts. */
  waitForWork(tags: ReadonlySet<string>, ms: number, signal: AbortSignal): Promise<void> {
    return this.wait(ms, signal, (wake) => {
      const w: ReadyWaiter = { tags, wake };
      this.ready.add(w);
      return () => this.ready.delete(w);
    });
  }

  /** Resolves when a cancel is requested for one of the agent's attempts, after `ms`, or on abort. */
  waitForCancel(agent: AgentId, ms: number, signal: AbortSignal): Promise<void> {
    return this.wait(ms, signal, (wake) => {
      let set = this.cancels.get(agent);
      if (!set) this.cancels.set(agent, (set = new Set()));
      set.add(wake);
      return () => {
        set.delete(wake);
        if (set.size === 0) this.cancels.delete(agent);
      };
    });
  }

  private wait(ms: number, signal: AbortSignal, enlist: (wake: () => void) => () => void): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted || ms <= 0 || this.isClosed) return resolve();
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        leave();
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      const leave = enlist(done);
    });
  }

  close(): void {
    this.isClosed = true;
    clearInterval(this.timer);
    this.events.off('ready', this.onReady);
    this.events.off('cancel', this.onCancel);
    for (const w of this.ready) w.wake();
    for (const set of this.cancels.values()) for (const wake of set) wake();
  }
}
