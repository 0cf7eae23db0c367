// The audit log and protected refs in the store, the contract both stores pass (run by
// sqlite.test.ts and postgres.test.ts): an entry commits with its change and only then, pages
// newest first by project or for the instance, and old entries are pruned.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { AuditEntry } from '../../src/store/audit.js';
import type { Store } from '../../src/store/store.js';
import { asUserId } from '../../src/store/users.js';

const at = 1_000_000;

export function runAuditContract(label: string, open: () => Promise<Store>): void {
  describe(`Audit contract: ${label}`, () => {
    const opened: Store[] = [];
    async function fresh(): Promise<Store> {
      const s = await open();
      opened.push(s);
      return s;
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
      at,
      action: 'variable.set',
      actor: { kind: 'admin-token', tokenId: 1 },
      projectId: null,
      target: { type: 'variable', id: 'K' },
      address: '127.0.0.1',
      details: null,
      ...over,
    });

    it('a change writes its entry in its own transaction; a change that did not happen writes none', async () => {
      const store = await fresh();
      const p = await store.ensureProject('demo', '/d', at);
      await store.putVariable({ projectId: p.id, key: 'K', ciphertext: 'c', nonce: 'n', masked: true, protected: true, updatedAt: at }, () =>
        entry({ projectId: p.id, details: { masked: true, protected: true } }),
      );
      // Deleting what is not there: the AuditFor sees false and makes no entry.
      const onlyIfGone = (gone: boolean) => (gone ? entry({ action: 'variable.delete', projectId: p.id, target: { type: 'variable', id: 'NOPE' } }) : null);
      assert.equal(await store.deleteVariable(p.id, 'NOPE', onlyIfGone), false);
      assert.equal(await store.deleteVariable(p.id, 'K', (gone) => (gone ? entry({ action: 'variable.delete', projectId: p.id }) : null)), true);
      const list = await store.audit.list({ projectId: p.id, limit: 10 });
      assert.deepEqual(
        list.items.map((e) => [e.action, e.target.id, e.details]),
        [
          ['variable.delete', 'K', null],
          ['variable.set', 'K', { masked: true, protected: true }],
        ],
      );
      assert.equal(list.next, null);
      assert.deepEqual(list.items[1]!.actor, { kind: 'admin-token', tokenId: 1 });
      assert.equal(list.items[1]!.address, '127.0.0.1');
      assert.equal(list.items[1]!.projectId, p.id);

      // A refused member change (the last maintainer) writes nothing; the entry of one that went through is there.
      const u = await store.users.createUser({ username: 'max', passwordHash: 'h', admin: false, createdAt: at });
      await store.users.setMember(p.id, u!.id, 'maintainer', at, true, () => entry({ action: 'member.set', projectId: p.id, target: { type: 'member', id: 'max' } }));
      assert.equal(await store.users.removeMember(p.id, u!.id, true, () => entry({ action: 'member.remove', projectId: p.id })), 'last-maintainer');
      assert.deepEqual((await store.audit.list({ projectId: p.id, limit: 10 })).items.map((e) => e.action), ['member.set', 'variable.delete', 'variable.set']);
    });

    it('an entry that cannot be written rolls its change back', async () => {
      const store = await fresh();
      const p = await store.ensureProject('demo', '/d', at);
      // A non-serializable detail (a BigInt) makes the entry's write throw inside the transaction.
      await assert.rejects(
        store.setProtectedRefs(p.id, { branches: ['main'], tags: [] }, () => entry({ action: 'protected_refs.set', projectId: p.id, details: { n: 1n } as never })),
      );
      assert.deepEqual((await store.getProject(p.id))!.protectedRefs, { branches: [], tags: [] });
      assert.equal(await store.setProtectedRefs(p.id, { branches: ['main', 'release/*'], tags: ['v*'] }), true);
      assert.deepEqual((await store.getProject(p.id))!.protectedRefs, { branches: ['main', 'release/*'], tags: ['v*'] });
      assert.equal(await store.setProtectedRefs(9_999 as never, { branches: [], tags: [] }), false);
    });

    it('entries page newest first, per project or all, and old ones are pruned', async () => {
      const store = await fresh();
      const a = await store.ensureProject('a', '/a', at);
      const b = await store.ensureProject('b', '/b', at);
      for (let i = 0; i < 5; i++) await store.audit.record(entry({ at: at + i, projectId: a.id, target: { type: 'variable', id: `A${i}` } }));
      for (let i = 0; i < 2; i++) await store.audit.record(entry({ at: at + 10 + i, projectId: b.id, target: { type: 'variable', id: `B${i}` } }));
      await store.audit.record(entry({ at: at + 20, action: 'user.create', projectId: null, target: { type: 'user', id: 'zed' }, actor: { kind: 'user', userId: asUserId(1), username: 'ada', via: 'session' } }));
      const first = await store.audit.list({ projectId: a.id, limit: 2 });
      assert.deepEqual(first.items.map((e) => e.target.id), ['A4', 'A3']);
      const second = await store.audit.list({ projectId: a.id, limit: 2, beforeId: first.next! });
      assert.deepEqual(second.items.map((e) => e.target.id), ['A2', 'A1']);
      const third = await store.audit.list({ projectId: a.id, limit: 2, beforeId: second.next! });
      assert.deepEqual(third.items.map((e) => e.target.id), ['A0']);
      assert.equal(third.next, null);
      assert.deepEqual((await store.audit.list({ projectId: b.id, limit: 10 })).items.map((e) => e.target.id), ['B1', 'B0']);
      const all = await store.audit.list({ limit: 100 });
      assert.deepEqual(all.items.map((e) => e.target.id), ['zed', 'B1', 'B0', 'A4', 'A3', 'A2', 'A1', 'A0']);
      assert.deepEqual(all.items[0]!.actor, { kind: 'user', userId: 1, username: 'ada', via: 'session' });
      assert.equal(await store.audit.prune(at + 3), 3);
      assert.deepEqual((await store.audit.list({ limit: 100 })).items.map((e) => e.target.id), ['zed', 'B1', 'B0', 'A4', 'A3']);
    });

    it('a pipeline records whether its ref was protected; a variable whether it is protected', async () => {
      const store = await fresh();
      const p = await store.ensureProject('demo', '/d', at);
      const base = { projectId: p.id, sha: 'a'.repeat(40), source: 'push' as const, variables: {}, fileVariables: {}, pipelineFile: '.gantry.yml', jobs: [], createdAt: at };
      const yes = await store.createPipeline({ ...base, ref: 'main', protectedRef: true });
      const no = await store.createPipeline({ ...base, ref: 'dev' });
      assert.equal((await store.getPipelineOnly(yes.pipeline.id))!.protectedRef, true);
      assert.equal((await store.getPipelineOnly(no.pipeline.id))!.protectedRef, false);
      assert.deepEqual((await store.getProject(p.id))!.protectedRefs, { branches: [], tags: [] });
    });
  });
}
