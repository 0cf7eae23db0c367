// Trigger tokens and forge configurations through the HTTP API of a real in-process server
// (SQLite) over loopback, with a real git repository.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { hashToken } from '../../src/server/tokens.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';

const PIPELINE = `build:
  script: [echo "$CI_PIPELINE_SOURCE"]
`;

describe('trigger tokens and forge configurations', () => {
  let h: Harness;
  let repo: Sandbox;
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    repo = sandbox({ '.gantry.yml': PIPELINE });
    for (const name of ['web', 'other']) assert.equal((await h.api('POST', '/projects', { name, gitUrl: repo.repo })).status, 201);
  });
  after(async () => {
    await h.close();
    repo.cleanup();
  });

  const trigger = (project: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${h.url}/api/v1/projects/${project}/trigger`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  it('a trigger token is shown once, listed without its value, starts pipelines with CI_PIPELINE_SOURCE=trigger, and is revoked', async () => {
    const res = await h.api('POST', '/projects/web/trigger-tokens', { description: 'from jenkins' });
    assert.equal(res.status, 201);
    const made = (await res.json()) as { id: number; token: string; description: string; lastUsedAt: null };
    assert.match(made.token, /^gantry_trigger_[A-Za-z0-9_-]{43}$/);
    assert.equal(made.description, 'from jenkins');
    // Stored as its hash only.
    assert.equal((await h.store.findToken(hashToken(made.token)))!.kind, 'trigger');

    const byBody = await trigger('web', { token: made.token, ref: 'main', variables: { WHY: 'upstream' } });
    assert.equal(byBody.status, 201);
    const p = (await byBody.json()) as { id: number; source: string; triggeredBy: unknown };
    assert.equal(p.source, 'trigger');
    assert.deepEqual(p.triggeredBy, { kind: 'trigger_token', tokenId: made.id, name: 'from jenkins' });
    const stored = (await h.store.getPipeline(p.id as never))!.pipeline;
    assert.equal(stored.predefinedVariables.CI_PIPELINE_SOURCE, 'trigger');
    assert.deepEqual(stored.variables, { WHY: 'upstream' });

    const byBearer = await trigger('web', { ref: 'main' }, { authorization: `Bearer ${made.token}`, 'idempotency-key': 'up-1' });
    assert.equal(byBearer.status, 201);
    const replay = await trigger('web', { ref: 'main' }, { authorization: `Bearer ${made.token}`, 'idempotency-key': 'up-1' });
    assert.equal(replay.status, 200);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');

    const listed = (await (await h.api('GET', '/projects/web/trigger-tokens')).json()) as { items: Array<Record<string, unknown>> };
    assert.equal(listed.items.length, 1);
    assert.deepEqual(Object.keys(listed.items[0]!).sort(), ['createdAt', 'description', 'id', 'lastUsedAt']);
    assert.notEqual(listed.items[0]!.lastUsedAt, null);
    assert.deepEqual((await (await h.api('GET', '/projects/other/trigger-tokens')).json()) as unknown, { items: [] });

    assert.equal((await h.api('DELETE', `/projects/other/trigger-tokens/${made.id}`)).status, 404);
    assert.equal((await h.api('DELETE', `/projects/web/trigger-tokens/${made.id}`)).status, 204);
    const revoked = await trigger('web', { token: made.token, ref: 'main' });
    assert.equal(revoked.status, 401);
    assert.equal(await code(revoked), 'GANTRY_E_UNAUTHENTICATED');
  });

  it("GitLab's trigger form is read as JSON is: curl -F (multipart) and URL-encoded token, ref and variables[KEY]", async () => {
    const made = (await (await h.api('POST', '/projects/web/trigger-tokens', { description: 'gitlab script' })).json()) as { token: string };
    const url = `${h.url}/api/v1/projects/web/trigger`;
    const variablesOf = async (res: Response) => {
      assert.equal(res.status, 201, await res.clone().text());
      const id = ((await res.json()) as { id: number }).id;
      return (await h.store.getPipeline(id as never))!.pipeline.variables;
    };
    // What `curl -F token=... -F ref=main -F "variables[DEPLOY]=true"` sends.
    const form = new FormData();
    form.append('token', made.token);
    form.append('ref', 'main');
    form.append('variables[DEPLOY]', 'true');
    form.append('variables[NOTE]', 'a b=c&d');
    assert.deepEqual(await variablesOf(await fetch(url, { method: 'POST', body: form })), { DEPLOY: 'true', NOTE: 'a b=c&d' });
    // The same URL-encoded, as `curl --data` or a webhook form sends it.
    const encoded = new URLSearchParams({ token: made.token, ref: 'main', 'variables[DEPLOY]': 'false' });
    assert.deepEqual(await variablesOf(await fetch(url, { method: 'POST', body: encoded })), { DEPLOY: 'false' });
    // A form gets JSON's checks: no ref, an unknown field, a bad key, a file.
    const noRef = await fetch(url, { method: 'POST', body: new URLSearchParams({ token: made.token }) });
    assert.equal(noRef.status, 400);
    assert.equal(await code(noRef), 'GANTRY_E_INVALID_REQUEST');
    const unknown = await fetch(url, { method: 'POST', body: new URLSearchParams({ token: made.token, ref: 'main', colour: 'red' }) });
    assert.equal(unknown.status, 400);
    const badKey = await fetch(url, { method: 'POST', body: new URLSearchParams({ token: made.token, ref: 'main', 'variables[1 bad]': 'x' }) });
    assert.equal(badKey.status, 400);
    const withFile = new FormData();
    withFile.append('token', made.token);
    withFile.append('ref', 'main');
    withFile.append('payload', new Blob(['x'.repeat(1000)]), 'payload.bin');
    const file = await fetch(url, { method: 'POST', body: withFile });
    assert.ok(file.status === 413 || file.status === 400, `a file: ${file.status}`);
    assert.match(await code(file), /^GANTRY_E_/);
    // A wrong token in a form is refused as in JSON.
    const wrong = await fetch(url, { method: 'POST', body: new URLSearchParams({ token: 'gantry_trigger_nope', ref: 'main' }) });
    assert.equal(wrong.status, 401);
  });

  it('a trigger token can do nothing else: other routes are 403, another project is 403, no or an unknown token is 401', async () => {
    const { token } = (await (await h.api('POST', '/projects/web/trigger-tokens', {})).json()) as { token: string };
    const as = { authorization: `Bearer ${token}` };
    for (const [method, p, body] of [
      ['GET', '/projects', undefined],
      ['GET', '/projects/web', undefined],
      ['GET', '/projects/web/pipelines', undefined],
      ['POST', '/projects/web/pipelines', { ref: 'main' }],
      ['POST', '/projects/web/trigger-tokens', {}],
      ['GET', '/projects/web/schedules', undefined],
      ['PUT', '/projects/web/variables/X', { value: 'y' }],
    ] as const) {
      const res = await h.api(method, p, body, as);
      assert.equal(res.status, 403, `${method} ${p}`);
      assert.equal(await code(res), 'GANTRY_E_FORBIDDEN');
    }
    const elsewhere = await trigger('other', { token, ref: 'main' });
    assert.equal(elsewhere.status, 403);
    assert.equal((await trigger('web', { ref: 'main' })).status, 401);
    assert.equal((await trigger('web', { token: 'gantry_trigger_nope', ref: 'main' })).status, 401);
    // The admin token is not a trigger token.
    assert.equal((await trigger('web', { token: h.admin, ref: 'main' })).status, 401);
    const bad = await trigger('web', { token, ref: 'main', extra: 1 });
    assert.equal(bad.status, 400);
    assert.equal(await code(bad), 'GANTRY_E_INVALID_REQUEST');
    const missing = await trigger('web', { token, ref: 'nope' });
    assert.equal(missing.status, 422);
    assert.equal(await code(missing), 'GANTRY_E_REF_NOT_FOUND');
  });

  it('a forge configuration is set, read without its token, replaced and removed; bad ones are 400 with the field', async () => {
    assert.equal((await h.api('GET', '/projects/web/forge')).status, 404);
    const put = await h.api('PUT', '/projects/web/forge', { provider: 'github', repository: 'octo/hello', token: 'ghp_secret' });
    assert.equal(put.status, 200);
    const shown = (await put.json()) as Record<string, unknown>;
    assert.deepEqual({ ...shown, updatedAt: 'x' }, { provider: 'github', baseUrl: 'https://api.github.com', repository: 'octo/hello', context: 'gantry', updatedAt: 'x' });
    assert.deepEqual(await (await h.api('GET', '/projects/web/forge')).json(), shown);
    const lab = await h.api('PUT', '/projects/web/forge', { provider: 'gitlab', baseUrl: 'https://git.example.com/', repository: '42', token: 't', context: 'ci' });
    assert.equal(((await lab.json()) as { baseUrl: string }).baseUrl, 'https://git.example.com');
    for (const [body, field] of [
      [{ provider: 'gitea', repository: 'o/r', token: 't' }, 'body.baseUrl'],
      [{ provider: 'github', baseUrl: 'ftp://x', repository: 'o/r', token: 't' }, 'body.baseUrl'],
      [{ provider: 'github', baseUrl: 'https://u:p@x', repository: 'o/r', token: 't' }, 'body.baseUrl'],
      [{ provider: 'github', repository: 'just-one', token: 't' }, 'body.repository'],
      [{ provider: 'gitlab', repository: 'a b/c', token: 't' }, 'body.repository'],
      [{ provider: 'bitbucket', repository: 'o/r', token: 't' }, 'body.provider'],
      [{ provider: 'github', repository: 'o/r' }, 'body.token'],
    ] as const) {
      const res = await h.api('PUT', '/projects/web/forge', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const err = ((await res.json()) as { error: { code: string; field: string } }).error;
      assert.deepEqual([err.code, err.field], ['GANTRY_E_INVALID_REQUEST', field]);
    }
    assert.equal((await h.api('DELETE', '/projects/web/forge')).status, 204);
    assert.equal((await h.api('DELETE', '/projects/web/forge')).status, 404);
  });
});
