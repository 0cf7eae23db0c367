// Live streams keep to the access their caller has now, not the access it had when it opened one:
// a stream (SSE: the queue, the agents, a pipeline's events, a job's log) is ended when its
// caller's session or token stops working, or the caller may no longer see what it streams. The
// client's EventSource then reconnects and meets the answer any request would get (401, 404), or,
// for streams narrowed to what the caller may see, a narrower stream.
//
// Checked again every `periodMs` on every instance, and at once on this instance after a change
// of people or roles made here (sign-out, a user disabled, a token revoked, a member removed).

import type { FastifyRequest } from 'fastify';
import type { Store } from '../store/store.js';
import { principalOf } from './auth.js';
import { isRole, levelOn, may, type Principal } from './policy.js';

interface Watched {
  request: FastifyRequest;
  end: () => void;
  checking: boolean;
}

export class StreamAccess {
  private readonly watched = new Set<Watched>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    periodMs: number,
  ) {
    this.timer = setInterval(() => this.recheckAll(), periodMs);
    this.timer.unref();
  }

  /** Ends `end`'s stream once the request's caller may no longer have it; returns the unwatch. */
  watch(request: FastifyRequest, end: () => void): () => void {
    // Unauthenticated streams (none today) have nothing to lose.
    if (request.principal === null) return () => {};
    const w: Watched = { request, end, checking: false };
    this.watched.add(w);
    return () => this.watched.delete(w);
  }

  get size(): number {
    return this.watched.size;
  }

  recheckAll(): void {
    for (const w of this.watched) void this.check(w);
  }

  close(): void {
    clearInterval(this.timer);
    this.watched.clear();
  }

  private async check(w: Watched): Promise<void> {
    if (w.checking) return;
    w.checking = true;
    try {
      if (!(await this.stillAllowed(w.request))) {
        this.watched.delete(w);
        w.end();
      }
    } catch {
      // The store failed to answer: keep the stream, the next check asks again.
    } finally {
      w.checking = false;
    }
  }

  private async stillAllowed(request: FastifyRequest): Promise<boolean> {
    let now: Principal;
    try {
      now = await principalOf(request, this.store, this.now());
    } catch {
      return false; // the session ended, the token was revoked or expired, the user disabled
    }
    const access = request.routeOptions.config.access;
    if (access === 'admin') return may(now, { kind: 'administer' });
    if (isRole(access)) {
      const target = request.target;
      return target === null || may(now, { kind: 'project', projectId: target.projectId, role: access });
    }
    return !sightNarrowed(request.principal!, now);
  }
}

/** Whether `now` sees less than `then` did: a stream narrowed to `then`'s projects would show too much. */
function sightNarrowed(then: Principal, now: Principal): boolean {
  if (then.kind !== 'user' || now.kind !== 'user') return false;
  if (then.user.admin && !now.user.admin) return true;
  for (const projectId of then.roles.keys()) if (levelOn(then, projectId) !== null && levelOn(now, projectId) === null) return true;
  return false;
}
