// Job identity tokens end to end (docs/API.md, "Job identity tokens"): a real `gantry server` and
// `gantry agent` on loopback, a job that writes its tokens into a shared directory and prints one,
// and an independent JOSE library (jsonwebtoken) that verifies them with the keys the server
// publishes. Run on SQLite and on PostgreSQL (id-tokens-sqlite.test.ts, id-tokens-postgres.test.ts).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';
import { ROOT } from '../helpers/gantry.js';
import { fleetsOn, HOST_ISOLATION, type Fleet } from '../fleet/fleet-harness.js';

interface Jwks {
  keys: (crypto.JsonWebKey & { kid: string; alg: string; use: string })[];
}
type Claims = jwt.JwtPayload & Record<string, unknown>;

const PIPELINE = `deploy:
  environment: production
  timeout: 10m
  id_tokens:
    VAULT_TOKEN:
      aud: https://vault.example.com
    CLOUD_TOKEN:
      aud: [sts.amazonaws.com, "https://iam.example.com/$CI_PROJECT_PATH"]
  script:
    - printf '%s' "$VAULT_TOKEN" > "\${OUT:-.}/$CI_PIPELINE_ID-vault.jwt"
    - printf '%s' "$CLOUD_TOKEN" > "\${OUT:-.}/$CI_PIPELINE_ID-cloud.jwt"
    - echo "whole token=$VAULT_TOKEN"
    - echo "claims part=$(printf '%s' "$VAULT_TOKEN" | cut -d. -f2)"
`;

export async function getJson<T>(url: string): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

/** Verifies `token` with jsonwebtoken against the key of its `kid` in `set`, as a relying party does. */
export function verifyWith(set: Jwks, token: string, opts: { audience: string; issuer: string }): Claims {
  const header = jwt.decode(token, { complete: true })!.header;
  const jwk = set.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} is published (${set.keys.map((k) => k.kid).join(', ')})`);
  assert.equal(header.alg, 'RS256');
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  return jwt.verify(token, key, { algorithms: ['RS256'], audience: opts.audience, issuer: opts.issuer }) as Claims;
}

export const kidOf = (token: string): string => jwt.decode(token, { complete: true })!.header.kid!;

export function idTokenSuite(label: string, db: () => Promise<string | null>): void {
  describe(`job identity tokens (${label})`, () => {
    const fleet = fleetsOn(db);

    async function runDeploy(f: Fleet, out: string, token?: string): Promise<{ pipelineId: number; jobId: number; vault: string; cloud: string; log: string }> {
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${token ?? f.adminToken}` };
      const res = await fetch(`${f.url}/api/v1/projects/demo/pipelines`, { method: 'POST', headers, body: JSON.stringify({ ref: 'main', variables: { OUT: out } }) });
      assert.equal(res.status, 201, await res.clone().text());
      const p = (await res.json()) as { id: number };
      const done = await f.waitPipeline(p.id);
      const jobId = done.jobs[0]!.id;
      const log = (await f.log(jobId)).toString();
      assert.equal(done.status, 'success', log);
      return {
        pipelineId: p.id,
        jobId,
        vault: fs.readFileSync(path.join(out, `${p.id}-vault.jwt`), 'utf8'),
        cloud: fs.readFileSync(path.join(out, `${p.id}-cloud.jwt`), 'utf8'),
        log,
      };
    }

    it("a job's tokens verify against the published keys with GitLab's claims, aud a string or a list, exp at the job's timeout, masked in the log", async () => {
      const f = await fleet({ '.gantry.yml': PIPELINE });
      await f.startServer();
      await f.startAgent();
      await f.project();
      assert.equal((await f.api('PUT', '/projects/demo/protected-refs', { branches: ['main'], tags: [] })).status, 200);
      // A person triggers it, with a personal token: user_login is theirs.
      assert.equal((await f.api('POST', '/users', { username: 'dana', password: 'correct horse battery', admin: true })).status, 201);
      const personal = (await f.api<{ token: string }>('POST', '/users/dana/tokens', { description: 'test' })).body.token;
      const out = f.sharedDir('tokens');

      // The discovery document names the server's own URL (no GANTRY_PUBLIC_URL: the bound one).
      const discovery = await getJson<{ issuer: string; jwks_uri: string; id_token_signing_alg_values_supported: string[] }>(`${f.url}/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200);
      assert.equal(discovery.body.issuer, f.url);
      assert.equal(discovery.body.jwks_uri, `${f.url}/oauth/discovery/keys`);
      assert.deepEqual(discovery.body.id_token_signing_alg_values_supported, ['RS256']);

      const before = Math.floor(Date.now() / 1000);
      const run = await runDeploy(f, out, personal);
      const after = Math.ceil(Date.now() / 1000);
      const set = (await getJson<Jwks>(discovery.body.jwks_uri)).body;
      assert.ok(set.keys.every((k) => k.kty === 'RSA' && k.alg === 'RS256' && k.use === 'sig' && !('d' in k)), 'public RSA keys only');

      const project = (await f.api<{ id: number }>('GET', '/projects/demo')).body;
      const sha = f.sb.git('rev-parse', 'HEAD').trim();
      const vault = verifyWith(set, run.vault, { audience: 'https://vault.example.com', issuer: f.url });
      assert.equal(vault.aud, 'https://vault.example.com');
      const { iat, nbf, exp, jti, ...rest } = vault;
      assert.ok(iat! >= before && iat! <= after, `iat ${iat} in [${before}, ${after}]`);
      assert.equal(nbf, iat! - 5);
      assert.equal(exp, iat! + 600, 'exp is the job timeout (10m) from the offer');
      assert.match(String(jti), /^[0-9a-f-]{36}$/);
      assert.deepEqual(rest, {
        iss: f.url,
        aud: 'https://vault.example.com',
        sub: 'project_path:demo:ref_type:branch:ref:main',
        project_id: String(project.id),
        project_path: 'demo',
        ref: 'main',
        ref_type: 'branch',
        ref_path: 'refs/heads/main',
        ref_protected: 'true',
        pipeline_id: String(run.pipelineId),
        pipeline_source: 'api',
        job_id: String(run.jobId),
        sha,
        user_login: 'dana',
        environment: 'production',
        environment_protected: 'false',
        runner_environment: 'self-hosted',
      });
      // The list audience: an array claim, any of its members accepted; the variable expanded.
      const cloud = verifyWith(set, run.cloud, { audience: 'sts.amazonaws.com', issuer: f.url });
      assert.deepEqual(cloud.aud, ['sts.amazonaws.com', 'https://iam.example.com/demo']);
      verifyWith(set, run.cloud, { audience: 'https://iam.example.com/demo', issuer: f.url });
      assert.notEqual(cloud.jti, vault.jti);
      assert.throws(() => verifyWith(set, run.vault, { audience: 'sts.amazonaws.com', issuer: f.url }), /audience invalid/);
      assert.throws(() => verifyWith(set, run.vault, { audience: 'https://vault.example.com', issuer: 'https://elsewhere.example' }), /issuer invalid/);
      // A token that has expired no longer verifies.
      assert.throws(() => jwt.verify(run.vault, crypto.createPublicKey({ key: set.keys.find((k) => k.kid === kidOf(run.vault))!, format: 'jwk' }), { clockTimestamp: exp! + 1 }), /jwt expired/);

      // The whole token is masked; its claims part (no signature) is not a secret and shows.
      assert.match(run.log, /whole token=\[MASKED\]/);
      assert.ok(!run.log.includes(run.vault) && !run.log.includes(run.vault.split('.')[2]!), 'neither the token nor its signature is in the log');
      assert.ok(run.log.includes(`claims part=${run.vault.split('.')[1]}`));

      // Triggered by the admin token: no person, no user_login.
      const byToken = await runDeploy(f, out);
      assert.equal(verifyWith(set, byToken.vault, { audience: 'https://vault.example.com', issuer: f.url }).user_login, undefined);
    });

    it('after a key rotation, tokens signed by the old key still verify against the published set and new tokens use the new key', async () => {
      const f = await fleet({ '.gantry.yml': PIPELINE });
      await f.startServer();
      await f.startAgent();
      await f.project();
      const out = f.sharedDir('tokens');
      const first = await runDeploy(f, out);
      const oldKid = kidOf(first.vault);
      const rotated = await f.api<{ kid: string; alg: string; published: string[] }>('POST', '/admin/id-token-keys/rotate');
      assert.equal(rotated.status, 200);
      assert.notEqual(rotated.body.kid, oldKid);
      assert.equal(rotated.body.alg, 'RS256');
      assert.deepEqual(rotated.body.published, [rotated.body.kid, oldKid], 'the new key first, the old one while its tokens live');
      const second = await runDeploy(f, out);
      assert.equal(kidOf(second.vault), rotated.body.kid);
      const set = (await getJson<Jwks>(`${f.url}/oauth/discovery/keys`)).body;
      assert.deepEqual(set.keys.map((k) => k.kid), [rotated.body.kid, oldKid]);
      for (const t of [first.vault, second.vault]) verifyWith(set, t, { audience: 'https://vault.example.com', issuer: f.url });
      // The rotation is in the audit log, by the admin token.
      const audit = await f.api<{ items: { action: string; actor: { kind: string } }[] }>('GET', '/audit');
      assert.equal(audit.body.items.find((e) => e.action === 'id_token_key.rotate')?.actor.kind, 'admin-token');
    });

    // A fork's job runs only on a sandboxed agent whose isolation check passed (SECURITY.md).
    const noSandbox = HOST_ISOLATION === 'none' ? 'this host cannot run the sandbox, which a fork\'s job needs' : false;
    it("a fork's job gets no token unless the project allows it, and then ref_protected is false", { skip: noSandbox }, async () => {
      const f = await fleet({ '.gantry.yml': PIPELINE.replace('deploy:\n', 'deploy:\n  rules:\n    - if: $CI\n') });
      await f.startServer();
      await f.startAgent({ waitForCheck: true });
      await f.project();
      // Fork pipelines run without a maintainer's approval here (gates-suite.ts tests that gate).
      assert.equal((await f.api('PATCH', '/projects/demo', { forkApproval: 'none' })).status, 200);
      assert.equal((await f.api('PUT', '/projects/demo/protected-refs', { branches: ['main', 'faster'], tags: [] })).status, 200);
      assert.equal((await f.api<{ forkIdTokens: boolean }>('GET', '/projects/demo')).body.forkIdTokens, false);
      const out = f.sharedDir('tokens');
      assert.equal((await f.api('PUT', '/projects/demo/variables/OUT', { value: out })).status, 204);
      const hook = await f.api<{ secret: string }>('POST', '/projects/demo/webhooks', { provider: 'gitea' });
      const main = f.sb.git('rev-parse', 'HEAD').trim();
      f.sb.git('checkout', '-q', '-b', 'faster');
      f.sb.write('README', 'from a fork\n');
      f.sb.commit('fork work');
      const forkHead = f.sb.git('rev-parse', 'HEAD').trim();
      f.sb.git('checkout', '-q', 'main');
      f.sb.git('update-ref', 'refs/pull/7/head', forkHead);
      let n = 0;
      const deliver = async (action: string): Promise<number> => {
        let text = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'webhooks', 'gitea-pull-request-opened-from-fork.json'), 'utf8');
        text = text.replaceAll('4ac3f1a0d0e71c4d4c1e2f9c8b0e6a1d2c3b4a59', forkHead).replaceAll('28e1879d029cb852e4844d9c718537df08844e03', main);
        const payload = { ...(JSON.parse(text) as Record<string, unknown>), action };
        const body = Buffer.from(JSON.stringify(payload));
        const id = `id-token-fork-${++n}`;
        const res = await fetch(`${f.url}/api/v1/webhooks/gitea/demo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-gitea-event': 'pull_request', 'x-gitea-delivery': id, ...signatureHeaders('gitea', body, hook.body.secret) },
          body: new Uint8Array(body),
        });
        assert.equal(res.status, 202, await res.clone().text());
        for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
          const items = (await f.api<{ items: { deliveryId: string; status: string; pipelineId: number | null; reason: string | null }[] }>('GET', '/projects/demo/webhooks/deliveries')).body.items;
          const d = items.find((x) => x.deliveryId === id);
          if (d?.status === 'done') return d.pipelineId!;
          if (d && d.status !== 'queued' && d.status !== 'processing') throw new Error(`delivery ${d.status}: ${d.reason}`);
        }
        throw new Error(`delivery ${id} did not finish`);
      };

      // By default: no token, and the log says why. (A fork gets no project variable, OUT
      // included: its job writes into its workspace.)
      const refused = await f.waitPipeline(await deliver('opened'));
      const refusedLog = (await f.log(refused.jobs[0]!.id)).toString();
      assert.equal((await f.api<{ trusted: boolean }>('GET', `/pipelines/${refused.id}`)).body.trusted, false);
      assert.match(refusedLog, /WARNING: id_tokens: this pipeline comes from a fork and project demo gives forks no identity tokens \(forkIdTokens\), so VAULT_TOKEN, CLOUD_TOKEN are not set/);
      assert.match(refusedLog, /whole token=\n/);

      // Allowed: the fork's token, never as a protected ref's, for the request's source branch.
      assert.equal((await f.api<{ forkIdTokens: boolean }>('PATCH', '/projects/demo', { forkIdTokens: true })).body.forkIdTokens, true);
      const allowed = await f.waitPipeline(await deliver('synchronized'));
      const allowedLog = (await f.log(allowed.jobs[0]!.id)).toString();
      assert.match(allowedLog, /whole token=\[MASKED\]/);
      const claimsPart = /claims part=([A-Za-z0-9_-]+)/.exec(allowedLog)![1]!;
      const claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString()) as Claims;
      assert.equal(claims.ref_protected, 'false');
      assert.equal(claims.pipeline_source, 'merge_request_event');
      assert.equal(claims.pipeline_id, String(allowed.id));
      assert.equal(claims.sha, forkHead);
      assert.equal(claims.sub, `project_path:demo:ref_type:branch:ref:${claims.ref}`);
    });
  });
}
