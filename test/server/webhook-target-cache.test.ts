// The webhook intake's few-second memory of a project and its secret (src/server/webhooks/target-cache.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TTL_MS, WebhookTargetCache, type WebhookTarget } from '../../src/server/webhooks/target-cache.js';

function storeOf(targets: Map<string, WebhookTarget>) {
  const asked: string[] = [];
  return {
    asked,
    async getWebhookTarget(idOrName: number | string, provider: string) {
      asked.push(`${idOrName}/${provider}`);
      return targets.get(`${idOrName}/${provider}`) ?? null;
    },
  };
}

const target = (id: number, ciphertext: string) => ({ project: { id, name: `p${id}` }, secret: { ciphertext, nonce: 'n' } }) as unknown as WebhookTarget;

describe('the webhook target cache', () => {
  it('a storm of deliveries to one project reads the store once per TTL; an unknown project is asked every time', async () => {
    let now = 1_000_000;
    const targets = new Map([['demo/github', target(1, 'old')]]);
    const store = storeOf(targets);
    const cache = new WebhookTargetCache(store as never, () => now);
    for (let i = 0; i < 100; i++) assert.equal((await cache.get('demo', 'github'))?.secret?.ciphertext, 'old');
    assert.equal(store.asked.length, 1);
    // Rotated on another instance: seen once the entry is older than the TTL.
    targets.set('demo/github', target(1, 'new'));
    now += TTL_MS - 1;
    assert.equal((await cache.get('demo', 'github'))?.secret?.ciphertext, 'old');
    now += 1;
    assert.equal((await cache.get('demo', 'github'))?.secret?.ciphertext, 'new');
    assert.equal(store.asked.length, 2);
    // Providers and id/name keys are apart; nothing is kept for a project that does not exist.
    await cache.get('demo', 'gitlab');
    await cache.get('nope', 'github');
    await cache.get('nope', 'github');
    assert.deepEqual(store.asked.slice(2), ['demo/gitlab', 'nope/github', 'nope/github']);
  });

  it('the instance that changes a project forgets it at once', async () => {
    const targets = new Map([['demo/github', target(1, 'old')], ['other/github', target(2, 'x')]]);
    const store = storeOf(targets);
    const cache = new WebhookTargetCache(store as never, () => 0);
    await cache.get('demo', 'github');
    await cache.get('other', 'github');
    targets.set('demo/github', target(1, 'new'));
    cache.forget(1 as never);
    assert.equal((await cache.get('demo', 'github'))?.secret?.ciphertext, 'new');
    await cache.get('other', 'github');
    assert.deepEqual(store.asked, ['demo/github', 'other/github', 'demo/github']);
  });
});
