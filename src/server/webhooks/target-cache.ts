// The webhook intake's read (a project and its secret for one provider), kept for a few seconds.
// In a storm every delivery to a project asks the same question; answered from memory, the
// intake's only store work is the batched insert, so a storm cannot take the database
// connections the agents' transactions need. What it costs: a secret rotated or a ref filter
// changed on another instance is seen here up to TTL_MS later (at once on this instance, which
// forgets the project when it changes it). An unknown project is never kept: it is not a storm
// worth serving, and a project made a moment ago must not be missed.

import type { WebhookProvider } from '../../domain/git-event.js';
import type { ProjectId } from '../../domain/ids.js';
import type { Project, SealedSecret, Store } from '../../store/store.js';

export const TTL_MS = 2_000;
/** Projects × providers remembered at once; past it the oldest go. */
const MAX_ENTRIES = 1_000;

export interface WebhookTarget {
  project: Project;
  secret: SealedSecret | null;
}

export class WebhookTargetCache {
  private readonly entries = new Map<string, { target: WebhookTarget; until: number }>();

  constructor(
    private readonly store: Pick<Store, 'getWebhookTarget'>,
    private readonly now: () => number = Date.now,
  ) {}

  async get(idOrName: ProjectId | string, provider: WebhookProvider): Promise<WebhookTarget | null> {
    const key = `${typeof idOrName === 'number' ? 'id' : 'name'}:${idOrName}:${provider}`;
    const hit = this.entries.get(key);
    if (hit && hit.until > this.now()) return hit.target;
    const target = await this.store.getWebhookTarget(idOrName, provider);
    this.entries.delete(key);
    if (target === null) return null;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { target, until: this.now() + TTL_MS });
    return target;
  }

  /** This instance changed the project (its secret, its filters, its name): read it afresh. */
  forget(projectId: ProjectId): void {
    for (const [key, e] of this.entries) if (e.target.project.id === projectId) this.entries.delete(key);
  }
}
