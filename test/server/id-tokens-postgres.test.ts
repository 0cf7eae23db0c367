// Job identity tokens on PostgreSQL (id-tokens-suite.ts), and what a fleet adds: two server
// instances on one database sign with the same key and publish the same set, so a relying party
// verifies a token whichever instance signed it and whichever instance it asks for keys; a
// rotation on one is the other's at its next token.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { testPostgres } from '../helpers/postgres.js';
import { fleetsOn, freePort } from '../fleet/fleet-harness.js';
import { getJson, idTokenSuite, kidOf, verifyWith } from './id-tokens-suite.js';

const postgres = await testPostgres('job identity tokens on PostgreSQL', 2);
if (postgres) {
  const pgUrl = async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`;
  idTokenSuite('PostgreSQL', pgUrl);

  describe('job identity tokens of two server instances on one PostgreSQL database', () => {
    const fleet = fleetsOn(pgUrl);

    it("both publish the same keys, each verifies the other's tokens, and a rotation on one is used by the other", async () => {
      const f = await fleet({
        '.gantry.yml': 'job:\n  id_tokens:\n    T:\n      aud: https://vault.example.com\n  script:\n    - printf \'%s\' "$T" > "$OUT/$CI_PIPELINE_ID.jwt"\n',
      });
      // One issuer for the fleet: the address of its load balancer.
      const issuer = 'https://gantry.example.com';
      const env = { GANTRY_PUBLIC_URL: `${issuer}/` };
      await f.startServer({ env });
      const portB = await freePort();
      await f.startServer({ port: portB, env });
      const urlA = f.url;
      const urlB = `http://127.0.0.1:${portB}`;
      // The only agent talks to A: every token is signed by A.
      await f.startAgent({ server: urlA });
      await f.project();
      const out = f.sharedDir('tokens');
      const run = async (): Promise<string> => {
        const p = await f.trigger('demo', { OUT: out });
        assert.equal((await f.waitPipeline(p.id)).status, 'success');
        return fs.readFileSync(path.join(out, `${p.id}.jwt`), 'utf8');
      };
      const keysOf = async (url: string) => (await getJson<Parameters<typeof verifyWith>[0]>(`${url}/oauth/discovery/keys`)).body;

      for (const url of [urlA, urlB]) {
        const d = (await getJson<{ issuer: string; jwks_uri: string }>(`${url}/.well-known/openid-configuration`)).body;
        assert.deepEqual([d.issuer, d.jwks_uri], [issuer, `${issuer}/oauth/discovery/keys`]);
      }
      const first = await run();
      const [a1, b1] = [await keysOf(urlA), await keysOf(urlB)];
      assert.deepEqual(a1, b1, 'one key set');
      assert.equal(verifyWith(b1, first, { audience: 'https://vault.example.com', issuer }).iss, issuer);

      // B rotates; A signs the next token with B's new key, and both publish both keys.
      const rotated = await f.api<{ kid: string }>('POST', '/admin/id-token-keys/rotate', undefined, urlB);
      assert.equal(rotated.status, 200);
      const second = await run();
      assert.equal(kidOf(second), rotated.body.kid);
      const [a2, b2] = [await keysOf(urlA), await keysOf(urlB)];
      assert.deepEqual(a2, b2);
      assert.deepEqual(a2.keys.map((k) => k.kid), [rotated.body.kid, kidOf(first)]);
      for (const t of [first, second]) for (const set of [a2, b2]) verifyWith(set, t, { audience: 'https://vault.example.com', issuer });
    });
  });
}
