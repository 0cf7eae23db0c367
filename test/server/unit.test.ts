import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isGantryError } from '../../src/domain/errors.js';
import { AgentAuthCache } from '../../src/server/fleet/agent-auth-cache.js';
import { parseRange } from '../../src/server/logs/log-routes.js';
import type { Agent } from '../../src/store/fleet.js';
import { loadOrCreateSecretsKey, SecretBox, variableContext } from '../../src/server/secrets.js';
import { parseListen } from '../../src/server/start.js';
import { generateToken, hashToken } from '../../src/server/tokens.js';
import { requestFingerprint } from '../../src/server/trigger.js';

describe('server parts', () => {
  it('an authenticated agent is remembered for the time to live only, and forgotten on demand', () => {
    const cache = new AgentAuthCache(2_000, 3);
    const agent = { id: 1, name: 'a' } as unknown as Agent;
    cache.set('h1', agent, 1_000);
    assert.equal(cache.get('h1', 2_999), agent);
    assert.equal(cache.get('h1', 3_000), undefined);
    cache.set('h1', agent, 5_000);
    cache.forget('h1');
    assert.equal(cache.get('h1', 5_001), undefined);
    // Bounded: a full cache starts over rather than grow.
    for (const h of ['a', 'b', 'c', 'd']) cache.set(h, agent, 10_000);
    assert.equal(cache.get('a', 10_001), undefined);
    assert.equal(cache.get('d', 10_001), agent);
  });

  it('a Range header gives a byte range, the whole log, or unsatisfiable', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 10 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 100 });
    assert.deepEqual(parseRange('bytes=90-500', 100), { start: 90, end: 100 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 100 });
    assert.deepEqual(parseRange('bytes=-500', 100), { start: 0, end: 100 });
    assert.equal(parseRange(undefined, 100), null);
    assert.equal(parseRange('bytes=5-1', 100), null);
    assert.equal(parseRange('bytes=0-1,5-6', 100), null);
    assert.equal(parseRange('items=0-1', 100), null);
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  });

  it('a sealed variable opens only with its own context and key, and its nonce changes every time', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-secrets-'));
    try {
      const file = path.join(dir, 'secrets.key');
      const key = loadOrCreateSecretsKey(file);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(loadOrCreateSecretsKey(file), key);
      const box = new SecretBox(key);
      const a = box.seal('hunter2', variableContext(1, 'PASSWORD'));
      const b = box.seal('hunter2', variableContext(1, 'PASSWORD'));
      assert.notEqual(a.nonce, b.nonce);
      assert.notEqual(a.ciphertext, b.ciphertext);
      assert.equal(box.open(a, variableContext(1, 'PASSWORD')), 'hunter2');
      assert.throws(() => box.open(a, variableContext(2, 'PASSWORD')), (e) => isGantryError(e) && e.code === 'GANTRY_E_SECRETS');
      const other = new SecretBox(Buffer.alloc(32, 7));
      assert.throws(() => other.open(a, variableContext(1, 'PASSWORD')), (e) => isGantryError(e) && e.code === 'GANTRY_E_SECRETS');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tokens are random and long, and stored as their SHA-256', () => {
    const t = generateToken('admin');
    assert.match(t, /^gantry_admin_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(generateToken('admin'), t);
    assert.match(hashToken(t), /^[0-9a-f]{64}$/);
  });

  it('a request fingerprint ignores key order but not values', () => {
    const a = requestFingerprint({ ref: 'main', variables: { A: '1', B: '2' } });
    assert.equal(requestFingerprint({ variables: { B: '2', A: '1' }, ref: 'main' }), a);
    assert.notEqual(requestFingerprint({ ref: 'main', variables: { A: '1', B: '3' } }), a);
  });

  it('--listen takes HOST:PORT, [IPv6]:PORT or :PORT, and refuses anything else', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':9000'), { host: '0.0.0.0', port: 9000 });
    for (const bad of ['8080', 'host:', 'h:99999', 'a:b']) {
      assert.throws(() => parseListen(bad), (e) => isGantryError(e) && e.code === 'GANTRY_E_USAGE', bad);
    }
  });
});
