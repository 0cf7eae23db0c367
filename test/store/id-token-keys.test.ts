// The identity token keys in the store (src/store/id-token-keys.ts), on SQLite and PostgreSQL: the
// highest generation signs, a generation is added once however many instances race for it, a key
// is published while it signs or a token of it lives, and pruned after.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { PG_URL, testPostgres } from '../helpers/postgres.js';

function contract(label: string, open: () => Promise<Store>): void {
  describe(`identity token keys: ${label}`, () => {
    const opened: Store[] = [];
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const key = (generation: number, at: number) => ({
      generation,
      kid: `kid-${generation}-${at}`,
      alg: 'RS256',
      publicJwk: JSON.stringify({ kty: 'RSA', kid: `kid-${generation}-${at}` }),
      privateKey: { ciphertext: 'c', nonce: 'n' },
      createdAt: at,
    });

    it('the highest generation signs; of racing adds of one generation exactly one is stored', async () => {
      const store = await open();
      opened.push(store);
      assert.equal(await store.idTokenKeys.current(), null);
      const wins = await Promise.all([1, 2, 3, 4].map((i) => store.idTokenKeys.add(key(1, i))));
      assert.equal(wins.filter(Boolean).length, 1);
      const first = (await store.idTokenKeys.current())!;
      assert.equal(first.generation, 1);
      assert.equal(first.lastExp, 0);
      assert.deepEqual(first.privateKey, { ciphertext: 'c', nonce: 'n' });
      assert.equal(await store.idTokenKeys.add(key(2, 10)), true);
      assert.equal((await store.idTokenKeys.current())!.kid, 'kid-2-10');
    });

    it('a key is published while it signs or while a token it signed lives, and pruned after', async () => {
      const store = await open();
      opened.push(store);
      await store.idTokenKeys.add(key(1, 1));
      const k1 = (await store.idTokenKeys.current())!.kid;
      assert.equal(await store.idTokenKeys.noteSigning(k1, 5_000), true);
      assert.equal(await store.idTokenKeys.noteSigning(k1, 3_000), true, 'an earlier exp never shortens it');
      await store.idTokenKeys.add(key(2, 2));
      const k2 = (await store.idTokenKeys.current())!.kid;
      assert.deepEqual((await store.idTokenKeys.published(4_000)).map((k) => k.kid), [k2, k1]);
      assert.equal(await store.idTokenKeys.prune(4_000), 0);
      assert.deepEqual((await store.idTokenKeys.published(5_000)).map((k) => k.kid), [k2], 'its last token has expired');
      assert.equal(await store.idTokenKeys.prune(5_000), 1);
      assert.equal(await store.idTokenKeys.noteSigning(k1, 9_000), false, 'a pruned key signs nothing');
      // The signing key is never pruned, even with no token alive.
      assert.equal(await store.idTokenKeys.prune(1_000_000), 0);
      assert.deepEqual((await store.idTokenKeys.published(1_000_000)).map((k) => k.kid), [k2]);
    });
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-idkeys-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
contract('sqlite', () => openSqliteStore(path.join(tmp, `s${n++}`, 'gantry.db')));

const postgres = await testPostgres('identity token keys on PostgreSQL');
if (postgres) contract('postgres', async () => openPostgresStore(PG_URL, { schema: await postgres.freshSchema() }));
