// Users, sessions, sign-in attempts, project members and personal tokens in the store, the contract both stores pass (run by
// sqlite.test.ts and postgres.test.ts).

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.js';

const at = 1_000_000;

export function runUsersContract(label: string, open: () => Promise<Store>): void {
  describe(`Users contract: ${label}`, () => {
    const opened: Store[] = [];
    async function fresh(): Promise<Store> {
      const s = await open();
      opened.push(s);
      return s;
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    it('a user is created once per username, read back with its hash, listed without it', async () => {
      const store = await fresh();
      assert.equal(await store.users.countUsers(), 0);
      const alice = await store.users.createUser({ username: 'alice', passwordHash: '$scrypt$x', admin: true, createdAt: at });
      assert.deepEqual(alice, { id: alice!.id, username: 'alice', admin: true, disabled: false, createdAt: at, updatedAt: at });
      assert.equal(await store.users.createUser({ username: 'alice', passwordHash: '$scrypt$y', admin: false, createdAt: at }), null);
      await store.users.createUser({ username: 'bob', passwordHash: '$scrypt$z', admin: false, createdAt: at + 1 });
      assert.equal((await store.users.getUser('alice'))!.passwordHash, '$scrypt$x');
      assert.equal(await store.users.getUser('nobody'), null);
      const listed = await store.users.listUsers();
      assert.deepEqual(listed.map((u) => u.username), ['alice', 'bob']);
      assert.equal('passwordHash' in listed[0]!, false);
      assert.equal(await store.users.countUsers(), 2);
      // A rehash replaces only the hash it was made from: a password changed meanwhile stays.
      await store.users.rehashPassword('alice', '$scrypt$old', '$scrypt$new');
      assert.equal((await store.users.getUser('alice'))!.passwordHash, '$scrypt$x');
      await store.users.rehashPassword('alice', '$scrypt$x', '$scrypt$new');
      assert.equal((await store.users.getUser('alice'))!.passwordHash, '$scrypt$new');
    });

    it('a session is found until it expires; disabling the user deletes its sessions; a new password keeps only the one that set it', async () => {
      const store = await fresh();
      const u = (await store.users.createUser({ username: 'carol', passwordHash: 'h1', admin: false, createdAt: at }))!;
      for (const hash of ['s1', 's2', 's3']) await store.users.createSession({ hash, userId: u.id, createdAt: at, lastSeenAt: at, expiresAt: at + 1000 });
      const found = await store.users.findSession('s1', at + 10);
      assert.equal(found!.user.username, 'carol');
      assert.equal(found!.session.expiresAt, at + 1000);
      assert.equal(await store.users.findSession('s1', at + 1000), null, 'expired');
      await store.users.touchSession('s1', at + 100, 60);
      assert.equal((await store.users.findSession('s1', at + 101))!.session.lastSeenAt, at + 100);
      await store.users.touchSession('s1', at + 120, 60);
      assert.equal((await store.users.findSession('s1', at + 121))!.session.lastSeenAt, at + 100, 'throttled');

      const changed = await store.users.updateUser('carol', { passwordHash: 'h2' }, at + 200, 's2');
      assert.equal(changed!.updatedAt, at + 200);
      assert.equal((await store.users.getUser('carol'))!.passwordHash, 'h2');
      assert.equal(await store.users.findSession('s1', at + 201), null);
      assert.notEqual(await store.users.findSession('s2', at + 201), null);
      assert.equal(await store.users.findSession('s3', at + 201), null);

      await store.users.updateUser('carol', { disabled: true }, at + 300);
      assert.equal(await store.users.findSession('s2', at + 301), null);
      // Even a session row written after the disable does not sign a disabled user in.
      await store.users.createSession({ hash: 's4', userId: u.id, createdAt: at, lastSeenAt: at, expiresAt: at + 1000 });
      assert.equal(await store.users.findSession('s4', at + 301), null);
      assert.equal(await store.users.updateUser('nobody', { admin: true }, at), null);

      assert.equal(await store.users.deleteSession('s4'), true);
      assert.equal(await store.users.deleteSession('s4'), false);
      await store.users.createSession({ hash: 'old', userId: u.id, createdAt: at, lastSeenAt: at, expiresAt: at + 5 });
      assert.ok((await store.users.pruneSessions(at + 10, at)) >= 1);
    });

    it('sign-in attempts: `limit` per subject in the window, then refused with when to retry; a success clears the user', async () => {
      const store = await fresh();
      const window = 1000;
      const subjects = ['user:dave', 'addr:10.0.0.1'];
      const claims = [];
      for (let i = 0; i < 3; i++) claims.push(await store.users.claimSignIn(subjects, at + i * 10, window, 3));
      assert.ok(claims.every((c) => c.allowed));
      const refused = await store.users.claimSignIn(subjects, at + 50, window, 3);
      assert.deepEqual(refused, { allowed: false, retryAt: at + window });
      // Another address is still limited by the user's subject; another user from the address too.
      assert.equal((await store.users.claimSignIn(['user:dave', 'addr:10.0.0.2'], at + 50, window, 3)).allowed, false);
      assert.equal((await store.users.claimSignIn(['user:erin', 'addr:10.0.0.1'], at + 50, window, 3)).allowed, false);
      // The oldest leaves the window: one more may try.
      const later = await store.users.claimSignIn(subjects, at + window + 1, window, 3);
      assert.equal(later.allowed, true);
      // A success clears the user's failures but not the address's others.
      await store.users.releaseSignIn(later.allowed ? later.attemptIds : [], 'user:dave');
      assert.equal((await store.users.claimSignIn(['user:dave', 'addr:10.0.0.3'], at + window + 2, window, 3)).allowed, true);
      assert.equal((await store.users.claimSignIn(['user:frank', 'addr:10.0.0.1'], at + window + 2, window, 3)).allowed, true);
      assert.equal((await store.users.claimSignIn(['user:frank', 'addr:10.0.0.1'], at + window + 3, window, 3)).allowed, false);
    });

    it('concurrent claims never pass the limit', async () => {
      const store = await fresh();
      const results = await Promise.all(Array.from({ length: 12 }, () => store.users.claimSignIn(['user:gina'], at, 1000, 5)));
      assert.equal(results.filter((r) => r.allowed).length, 5);
    });

    it("members: a role per project and user, changed in place, listed by name; a user's roles by project", async () => {
      const store = await fresh();
      const web = (await store.createProject('web', '/w', at))!;
      const api = (await store.createProject('api', '/a', at))!;
      const ann = (await store.users.createUser({ username: 'ann', passwordHash: 'h', admin: false, createdAt: at }))!;
      const ben = (await store.users.createUser({ username: 'ben', passwordHash: 'h', admin: false, createdAt: at }))!;
      assert.deepEqual(await store.users.getUserById(ann.id), ann);
      const made = await store.users.setMember(web.id, ben.id, 'viewer', at, true);
      assert.deepEqual(made, { projectId: web.id, userId: ben.id, username: 'ben', role: 'viewer', grantedBy: 'manual', createdAt: at, updatedAt: at });
      await store.users.setMember(web.id, ann.id, 'maintainer', at, true);
      await store.users.setMember(api.id, ben.id, 'developer', at, true);
      const changed = await store.users.setMember(web.id, ben.id, 'developer', at + 5, true);
      assert.deepEqual(changed, { ...made, role: 'developer', updatedAt: at + 5 });
      assert.deepEqual((await store.users.listMembers(web.id)).map((m) => [m.username, m.role]), [['ann', 'maintainer'], ['ben', 'developer']]);
      assert.deepEqual([...(await store.users.rolesOf(ben.id))].sort(), [[web.id, 'developer'], [api.id, 'developer']].sort());
      assert.equal(await store.users.removeMember(api.id, ben.id, true), true);
      assert.equal(await store.users.removeMember(api.id, ben.id, true), false);
      assert.deepEqual([...(await store.users.rolesOf(ben.id))], [[web.id, 'developer']]);
    });

    it('the last maintainer is neither demoted nor removed unless the caller may (an admin); concurrent demotions leave one', async () => {
      const store = await fresh();
      const p = (await store.createProject('solo', '/s', at))!;
      const users = await Promise.all(['cat', 'dan'].map(async (username) => (await store.users.createUser({ username, passwordHash: 'h', admin: false, createdAt: at }))!));
      const [cat, dan] = users as [NonNullable<(typeof users)[0]>, NonNullable<(typeof users)[0]>];
      await store.users.setMember(p.id, cat.id, 'maintainer', at, true);
      assert.equal(await store.users.setMember(p.id, cat.id, 'developer', at, true), 'last-maintainer');
      assert.equal(await store.users.removeMember(p.id, cat.id, true), 'last-maintainer');
      await store.users.setMember(p.id, dan.id, 'maintainer', at, true);
      // Two maintainers demote each other at once: one change wins, one maintainer stays.
      const results = await Promise.all([store.users.setMember(p.id, cat.id, 'viewer', at, true), store.users.setMember(p.id, dan.id, 'viewer', at, true)]);
      assert.equal(results.filter((r) => r === 'last-maintainer').length, 1);
      assert.equal((await store.users.listMembers(p.id)).filter((m) => m.role === 'maintainer').length, 1);
      // An admin may leave a project without maintainers.
      const last = (await store.users.listMembers(p.id)).find((m) => m.role === 'maintainer')!;
      assert.equal(await store.users.removeMember(p.id, last.userId, false), true);
      assert.equal((await store.users.listMembers(p.id)).filter((m) => m.role === 'maintainer').length, 0);
    });

    it('personal tokens: stored by hash with their user, narrowing and expiry; listed per user; revoked only by their user', async () => {
      const store = await fresh();
      const p = (await store.createProject('web', '/w', at))!;
      const eve = (await store.users.createUser({ username: 'eve', passwordHash: 'h', admin: false, createdAt: at }))!;
      const fay = (await store.users.createUser({ username: 'fay', passwordHash: 'h', admin: false, createdAt: at }))!;
      const t = await store.users.createPersonalToken({ hash: 'pat1', userId: eve.id, description: 'laptop', projects: [p.id], readOnly: true, expiresAt: at + 1000, createdAt: at });
      assert.deepEqual(t, {
        id: t.id,
        hash: 'pat1',
        kind: 'personal',
        projectId: null,
        createdAt: at,
        lastUsedAt: null,
        description: 'laptop',
        userId: eve.id,
        expiresAt: at + 1000,
        readOnly: true,
        projects: [p.id],
      });
      assert.deepEqual(await store.findToken('pat1'), t);
      const open = await store.users.createPersonalToken({ hash: 'pat2', userId: eve.id, description: 'ci', projects: null, readOnly: false, expiresAt: null, createdAt: at + 1 });
      assert.deepEqual([open.projects, open.readOnly, open.expiresAt], [null, false, null]);
      assert.deepEqual((await store.users.listPersonalTokens(eve.id)).map((x) => x.hash), ['pat1', 'pat2']);
      assert.deepEqual(await store.users.listPersonalTokens(fay.id), []);
      assert.equal(await store.users.deletePersonalToken(fay.id, t.id), false);
      assert.equal(await store.users.deletePersonalToken(eve.id, t.id), true);
      assert.equal(await store.findToken('pat1'), null);
      // Other tokens read back with the personal fields empty.
      await store.addToken({ hash: 'adm', kind: 'admin', projectId: null, createdAt: at });
      const admin = (await store.findToken('adm'))!;
      assert.deepEqual([admin.userId, admin.expiresAt, admin.readOnly, admin.projects], [null, null, false, null]);
    });
  });
}
