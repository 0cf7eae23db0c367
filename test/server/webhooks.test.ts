// Webhook intake end to end, in-process: a real server on loopback, a real store (SQLite; and
// PostgreSQL, required under CI=true), real git repositories made by the test, GitHub's real
// payloads from @octokit/webhooks-examples and Gitea's and GitLab's documented shapes
// (test/fixtures/webhooks/).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asPipelineId } from '../../src/domain/ids.js';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { ROOT, sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';

type Provider = 'github' | 'gitea' | 'gitlab';
interface OctokitEvent {
  name: string;
  examples: Array<Record<string, unknown>>;
}
const octokit = createRequire(import.meta.url)('@octokit/webhooks-examples') as OctokitEvent[];
const examplesOf = (name: string) => structuredClone(octokit.find((e) => e.name === name)!.examples);
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'webhooks', `${name}.json`), 'utf8')) as Record<string, unknown>;
/** A fixture with its documented commit ids replaced by the test repository's. */
const fixtureWith = (name: string, shas: Record<string, string>): Record<string, unknown> => {
  let text = JSON.stringify(fixture(name));
  for (const [from, to] of Object.entries(shas)) text = text.replaceAll(from, to);
  return JSON.parse(text) as Record<string, unknown>;
};

const PIPELINE = `stages: [test]
always:
  # Rules, so that merge request pipelines have it too (a job without them is branches and tags only).
  rules:
    - if: $CI
  script: [echo "$CI_PIPELINE_SOURCE $CI_COMMIT_REF_NAME"]
docs:
  rules:
    - changes: [docs/**]
  script: [echo docs]
code:
  rules:
    - changes: [src/**]
  script: [echo code]
`;

const EVENT_HEADER: Record<Provider, string> = { github: 'x-github-event', gitea: 'x-gitea-event', gitlab: 'x-gitlab-event' };
const DELIVERY_HEADER: Record<Provider, string> = { github: 'x-github-delivery', gitea: 'x-gitea-delivery', gitlab: 'x-gitlab-event-uuid' };

interface DeliveryView {
  id: number;
  deliveryId: string;
  status: string;
  reason: string | null;
  pipelineId: number | null;
  duplicate?: boolean;
}
interface PipelineView {
  id: number;
  ref: string;
  sha: string;
  source: string;
  trusted: boolean;
  triggeredBy: unknown;
  jobs: Array<{ name: string }>;
}

/** Polls `fn` until it says yes, or throws after `timeoutMs`. */
async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let deliveries = 0;
const newDeliveryId = () => `d-${process.pid}-${++deliveries}-${Date.now()}`;

function webhookSuite(label: string, openStore: (home: string) => Promise<Store>): void {
  describe(`webhooks (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    let n = 0;
    before(async () => {
      h = await startHarness(openStore, { deps: { deliveryQueue: { pollMs: 200 } } });
      repo = sandbox({ '.gantry.yml': PIPELINE, 'src/a.txt': 'a\n', 'docs/a.md': 'a\n' });
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    async function project(): Promise<string> {
      const name = `hooked-${n++}`;
      const res = await h.api('POST', '/projects', { name, gitUrl: repo.repo });
      assert.equal(res.status, 201);
      return name;
    }
    async function secretOf(p: string, provider: Provider): Promise<{ url: string; secret: string }> {
      const res = await h.api('POST', `/projects/${p}/webhooks`, { provider });
      assert.equal(res.status, 201);
      return (await res.json()) as { url: string; secret: string };
    }
    async function send(
      provider: Provider,
      p: string,
      secret: string | null,
      event: string,
      payload: unknown,
      opts: { deliveryId?: string; headers?: Record<string, string>; raw?: Buffer } = {},
    ): Promise<{ status: number; body: DeliveryView & { error?: { code: string; message: string } } }> {
      const body = opts.raw ?? Buffer.from(JSON.stringify(payload));
      const res = await fetch(`${h.url}/api/v1/webhooks/${provider}/${p}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [EVENT_HEADER[provider]]: event,
          [DELIVERY_HEADER[provider]]: opts.deliveryId ?? newDeliveryId(),
          ...(secret === null ? {} : signatureHeaders(provider, body, secret)),
          ...opts.headers,
        },
        body: new Uint8Array(body),
      });
      return { status: res.status, body: (await res.json()) as DeliveryView & { error?: { code: string; message: string } } };
    }
    async function settled(p: string, deliveryId: string): Promise<DeliveryView> {
      let last: DeliveryView | undefined;
      await until(`delivery ${deliveryId}`, async () => {
        const items = ((await (await h.api('GET', `/projects/${p}/webhooks/deliveries?limit=100`)).json()) as { items: DeliveryView[] }).items;
        last = items.find((d) => d.deliveryId === deliveryId);
        return last !== undefined && last.status !== 'queued' && last.status !== 'processing';
      });
      return last!;
    }
    async function pipeline(id: number): Promise<PipelineView> {
      return (await (await h.api('GET', `/pipelines/${id}`)).json()) as PipelineView;
    }
    async function predefined(id: number): Promise<Record<string, string>> {
      return (await h.store.getPipeline(asPipelineId(id)))!.pipeline.predefinedVariables;
    }
    const head = (ref = 'HEAD') => repo.git('rev-parse', ref).trim();

    it('a signed GitHub push runs the pushed commit’s own pipeline file, CI_PIPELINE_SOURCE=push, rules:changes from before..after', async () => {
      const p = await project();
      const { url, secret } = await secretOf(p, 'github');
      assert.match(url, new RegExp(`/api/v1/webhooks/github/\\d+$`));
      // A branch whose pipeline file differs from the default branch's: the pushed one is used.
      repo.git('checkout', '-q', '-b', 'feature-gh');
      const before = head();
      repo.write('.gantry.yml', `${PIPELINE}only-on-feature:\n  script: [echo feature]\n`);
      repo.write('src/b.txt', 'b\n');
      repo.commit('feature work');
      const after = head();
      repo.git('checkout', '-q', 'main');
      const payload = examplesOf('push').find((e) => e.deleted === false && String(e.ref).startsWith('refs/heads/'))!;
      Object.assign(payload, { ref: 'refs/heads/feature-gh', before, after, created: false });
      const id = newDeliveryId();
      const r = await send('github', p, secret, 'push', payload, { deliveryId: id });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.status, 'queued');
      const d = await settled(p, id);
      assert.equal(d.status, 'done', JSON.stringify(d));
      const pl = await pipeline(d.pipelineId!);
      assert.equal(pl.source, 'push');
      assert.equal(pl.sha, after);
      assert.equal(pl.ref, 'feature-gh');
      assert.equal(pl.trusted, true);
      assert.deepEqual(pl.triggeredBy, { kind: 'forge_user', provider: 'github', name: 'Codertocat' });
      // src/ changed, docs/ did not; the feature branch's own file adds a job.
      assert.deepEqual(pl.jobs.map((j) => j.name).sort(), ['always', 'code', 'only-on-feature']);
      const vars = await predefined(pl.id);
      assert.equal(vars.CI_PIPELINE_SOURCE, 'push');
      assert.equal(vars.CI_COMMIT_BRANCH, 'feature-gh');
      assert.equal(vars.CI_COMMIT_BEFORE_SHA, before);
    });

    it('a new branch counts every rules:changes as changed (GitLab’s rule), a tag push runs with CI_COMMIT_TAG', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'github');
      const sha = head('main');
      repo.git('tag', '-f', 'v9.9.9', sha);
      const [created] = examplesOf('push').filter((e) => e.created === true && String(e.ref).startsWith('refs/heads/'));
      Object.assign(created!, { ref: 'refs/heads/main', after: sha });
      const branchId = newDeliveryId();
      assert.equal((await send('github', p, secret, 'push', created, { deliveryId: branchId })).status, 202);
      const tag = examplesOf('push').find((e) => e.created === true && String(e.ref).startsWith('refs/tags/'))!;
      Object.assign(tag, { ref: 'refs/tags/v9.9.9', after: sha });
      const tagId = newDeliveryId();
      assert.equal((await send('github', p, secret, 'push', tag, { deliveryId: tagId })).status, 202);
      const branch = await pipeline((await settled(p, branchId)).pipelineId!);
      assert.deepEqual(branch.jobs.map((j) => j.name).sort(), ['always', 'code', 'docs']);
      const tagged = await settled(p, tagId);
      assert.equal(tagged.status, 'done', JSON.stringify(tagged));
      const vars = await predefined(tagged.pipelineId!);
      assert.equal(vars.CI_COMMIT_TAG, 'v9.9.9');
      assert.equal(vars.CI_COMMIT_BRANCH, undefined);
    });

    it('a bad, missing or other project’s signature is 401 GANTRY_E_WEBHOOK_SIGNATURE and stores nothing; so is an unknown project', async () => {
      const p = await project();
      const other = await project();
      const { secret } = await secretOf(p, 'github');
      const { secret: otherSecret } = await secretOf(other, 'github');
      const { secret: gitlabSecret } = await secretOf(p, 'gitlab');
      const payload = examplesOf('push')[0];
      const cases: Array<[Provider, string, string | null, Record<string, string>?]> = [
        ['github', p, null],
        ['github', p, otherSecret],
        ['github', p, secret, { 'x-hub-signature-256': 'sha256=00' }],
        ['github', p, secret, { 'x-hub-signature-256': `sha1=${'0'.repeat(40)}` }],
        ['gitea', p, secret], // no gitea secret made for p
        ['gitlab', p, null],
        ['gitlab', p, `${gitlabSecret}x`],
        ['github', 'no-such-project', secret],
        ['github', '999999', secret],
      ];
      for (const [provider, proj, s, headers] of cases) {
        const r = await send(provider, proj, s, 'push', payload, headers ? { headers } : {});
        assert.equal(r.status, 401, `${provider} ${proj} ${JSON.stringify(headers)}`);
        assert.equal(r.body.error!.code, 'GANTRY_E_WEBHOOK_SIGNATURE');
      }
      // A body altered after signing.
      const body = Buffer.from(JSON.stringify(payload));
      const res = await fetch(`${h.url}/api/v1/webhooks/github/${p}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', ...signatureHeaders('github', body, secret) },
        body: new Uint8Array(Buffer.concat([body, Buffer.from(' ')])),
      });
      assert.equal(res.status, 401);
      const items = ((await (await h.api('GET', `/projects/${p}/webhooks/deliveries`)).json()) as { items: unknown[] }).items;
      assert.deepEqual(items, []);
    });

    it('the secret is returned once and stored encrypted; a second call rotates it and the old one stops verifying', async () => {
      const p = await project();
      const first = await secretOf(p, 'github');
      const projectId = Number(first.url.split('/').pop());
      const sealed = await h.store.getWebhookSecret(projectId as never, 'github');
      assert.ok(sealed && !sealed.ciphertext.includes(first.secret) && !Buffer.from(sealed.ciphertext, 'base64').toString('latin1').includes(first.secret));
      // Used once before the rotation, so the intake remembers it (webhooks/target-cache.ts): a leaked
      // secret must stop working on this instance the moment it is rotated, not 2 s later.
      assert.equal((await send('github', p, first.secret, 'ping', examplesOf('ping')[0])).status, 200);
      const second = await secretOf(p, 'github');
      assert.notEqual(second.secret, first.secret);
      assert.equal((await send('github', p, first.secret, 'ping', examplesOf('ping')[0])).status, 401);
      const pong = await send('github', p, second.secret, 'ping', examplesOf('ping')[0]);
      assert.equal(pong.status, 200);
      assert.deepEqual(pong.body, { status: 'pong' });
    });

    it('ten concurrent copies of one delivery make one delivery and one pipeline', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'gitea');
      const payload = fixtureWith('gitea-push', { bffeb74224043ba2feb48d137756c8a9331c449a: head('main'), '28e1879d029cb852e4844d9c718537df08844e03': head('main~0') });
      (payload as { ref: string }).ref = 'refs/heads/main';
      const id = newDeliveryId();
      const answers = await Promise.all(Array.from({ length: 10 }, () => send('gitea', p, secret, 'push', payload, { deliveryId: id })));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
      assert.equal(answers.filter((a) => a.body.duplicate === true).length, 9);
      const d = await settled(p, id);
      assert.equal(d.status, 'done');
      const listed = ((await (await h.api('GET', `/projects/${p}/pipelines`)).json()) as { items: unknown[] }).items;
      assert.equal(listed.length, 1);
      // A redelivery later (the forge's "Redeliver" button) is a duplicate too.
      const again = await send('gitea', p, secret, 'push', payload, { deliveryId: id });
      assert.equal(again.status, 200);
      assert.equal(again.body.pipelineId, d.pipelineId);
    });

    it('every GitHub example payload is answered 2xx: deletions, closed or labeled pull requests and other events with the reason they were ignored', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'github');
      // Nothing may reach git (the examples' commits are not in this repository): filters drop what would run.
      assert.equal((await h.api('PUT', `/projects/${p}/ref-filters`, { branches: ['no-such-branch'], tags: ['no-such-tag'] })).status, 200);
      let seen = 0;
      for (const group of octokit) {
        for (const payload of group.examples) {
          const r = await send('github', p, secret, group.name, payload);
          seen++;
          assert.ok(r.status === 200 || r.status === 202, `${group.name}: ${r.status} ${JSON.stringify(r.body)}`);
          if (group.name === 'ping') continue;
          assert.equal(r.body.status, 'ignored', `${group.name} ${JSON.stringify(r.body)}`);
          const action = (payload as { action?: string }).action;
          if (group.name === 'push' && (payload as { deleted: boolean }).deleted) assert.match(r.body.reason!, /was deleted/);
          else if (group.name === 'push') assert.match(r.body.reason!, /matches none of the project's (branch|tag) filters/);
          else if (group.name === 'pull_request' && ['opened', 'synchronize', 'reopened'].includes(action!)) assert.match(r.body.reason!, /target branch "master"/);
          else if (group.name === 'pull_request') assert.match(r.body.reason!, new RegExp(`action "${action}" does not start pipelines`));
          else assert.match(r.body.reason!, new RegExp(`GitHub event "${group.name}" does not start pipelines`));
        }
      }
      assert.ok(seen > 300, `only ${seen} examples`);
    });

    it('a GitHub payload sent form-encoded is read from its payload field', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'github');
      const raw = Buffer.from(`payload=${encodeURIComponent(JSON.stringify(examplesOf('ping')[0]))}`);
      const r = await send('github', p, secret, 'ping', null, { raw, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(r.status, 200);
    });

    it('a payload over 25 MiB is 413 GANTRY_E_TOO_LARGE; signed garbage and a missing event header are 400 GANTRY_E_WEBHOOK_PAYLOAD; nothing stored', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'github');
      const big = Buffer.alloc(25 * 1024 * 1024 + 1, 0x20);
      const r = await send('github', p, secret, 'push', null, { raw: big });
      assert.equal(r.status, 413);
      assert.equal(r.body.error!.code, 'GANTRY_E_TOO_LARGE');
      const garbage = await send('github', p, secret, 'push', null, { raw: Buffer.from('{not json') });
      assert.equal(garbage.status, 400);
      assert.equal(garbage.body.error!.code, 'GANTRY_E_WEBHOOK_PAYLOAD');
      const noRef = await send('github', p, secret, 'push', { before: 'x' });
      assert.equal(noRef.status, 400);
      assert.match(noRef.body.error!.message, /ref/);
      const body = Buffer.from('{}');
      const res = await fetch(`${h.url}/api/v1/webhooks/github/${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...signatureHeaders('github', body, secret) }, body: new Uint8Array(body) });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'GANTRY_E_WEBHOOK_PAYLOAD');
      const items = ((await (await h.api('GET', `/projects/${p}/webhooks/deliveries`)).json()) as { items: unknown[] }).items;
      assert.deepEqual(items, []);
    });

    it('a Gitea pull request from a fork runs untrusted with the merge request variables and changes from the merge base', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'gitea');
      const base = head('main');
      // The forge keeps a fork's pull request head under refs/pull/N/head of the target repository.
      repo.git('checkout', '-q', '-b', 'faster', base);
      repo.write('docs/b.md', 'b\n');
      repo.commit('docs from a fork');
      const forkHead = head();
      repo.git('checkout', '-q', 'main');
      repo.git('update-ref', 'refs/pull/7/head', forkHead);
      repo.write('src/c.txt', 'main moved on\n');
      repo.commit('main moves after the fork');
      const payload = fixtureWith('gitea-pull-request-opened-from-fork', { '4ac3f1a0d0e71c4d4c1e2f9c8b0e6a1d2c3b4a59': forkHead, '28e1879d029cb852e4844d9c718537df08844e03': base });
      const id = newDeliveryId();
      const r = await send('gitea', p, secret, 'pull_request', payload, { deliveryId: id });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const d = await settled(p, id);
      assert.equal(d.status, 'done', JSON.stringify(d));
      const pl = await pipeline(d.pipelineId!);
      assert.equal(pl.source, 'merge_request_event');
      assert.equal(pl.trusted, false);
      assert.equal(pl.ref, 'refs/pull/7/head');
      // The request's author.
      assert.deepEqual(pl.triggeredBy, { kind: 'forge_user', provider: 'gitea', name: 'contributor' });
      // Only docs/ changed since the merge base (main's later src/ change is not the request's).
      assert.deepEqual(pl.jobs.map((j) => j.name).sort(), ['always', 'docs']);
      const vars = await predefined(pl.id);
      assert.equal(vars.CI_PIPELINE_SOURCE, 'merge_request_event');
      assert.equal(vars.CI_MERGE_REQUEST_IID, '7');
      assert.equal(vars.CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, 'faster');
      assert.equal(vars.CI_MERGE_REQUEST_TARGET_BRANCH_NAME, 'main');
      assert.equal(vars.CI_MERGE_REQUEST_DIFF_BASE_SHA, base);
      assert.equal(vars.CI_MERGE_REQUEST_TITLE, 'Make the build faster');
      assert.equal(vars.CI_COMMIT_REF_NAME, 'faster');
      // The same request updated from the base repository itself is trusted.
      const sync = fixtureWith('gitea-pull-request-synchronized', { '4ac3f1a0d0e71c4d4c1e2f9c8b0e6a1d2c3b4a59': forkHead, '28e1879d029cb852e4844d9c718537df08844e03': base });
      const syncId = newDeliveryId();
      assert.equal((await send('gitea', p, secret, 'pull_request', sync, { deliveryId: syncId })).status, 202);
      assert.equal((await pipeline((await settled(p, syncId)).pipelineId!)).trusted, true);
      const closed = await send('gitea', p, secret, 'pull_request', fixture('gitea-pull-request-closed'));
      assert.equal(closed.status, 202);
      assert.match(closed.body.reason!, /action "closed" does not start pipelines/);
      // Forgejo's header names.
      const forgejo = await send('gitea', p, null, 'pull_request', fixture('gitea-pull-request-closed'), {
        headers: { 'x-forgejo-signature': signatureHeaders('gitea', Buffer.from(JSON.stringify(fixture('gitea-pull-request-closed'))), secret)['x-gitea-signature']!, 'x-forgejo-event': 'pull_request' },
      });
      assert.equal(forgejo.status, 202);
    });

    it('GitLab: push, tag push and merge requests with new commits run; a deleted branch, a title edit and a merge are ignored', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'gitlab');
      const sha = head('main');
      const parent = head('main~1');
      repo.git('tag', '-f', 'v1.0.0', sha);
      repo.git('update-ref', 'refs/merge-requests/1/head', sha);
      const shas = { da1560886d4f094c3e6c9ef40349f7d38b5d27d7: sha, '95790bf891e76fee5e1747ab589903a6a1f80f22': parent };
      const runs: Array<[string, string, string, string]> = [
        ['gitlab-push', 'Push Hook', 'push', 'jsmith'],
        ['gitlab-tag-push', 'Tag Push Hook', 'push', 'jsmith'],
        ['gitlab-merge-request-open-from-fork', 'Merge Request Hook', 'merge_request_event', 'root'],
        ['gitlab-merge-request-update-new-commits', 'Merge Request Hook', 'merge_request_event', 'root'],
      ];
      for (const [name, event, source, who] of runs) {
        const id = newDeliveryId();
        const r = await send('gitlab', p, secret, event, fixtureWith(name, shas), { deliveryId: id });
        assert.equal(r.status, 202, `${name}: ${JSON.stringify(r.body)}`);
        const d = await settled(p, id);
        assert.equal(d.status, 'done', `${name}: ${JSON.stringify(d)}`);
        const pl = await pipeline(d.pipelineId!);
        assert.equal(pl.source, source, name);
        assert.equal(pl.trusted, name !== 'gitlab-merge-request-open-from-fork', name);
        assert.deepEqual(pl.triggeredBy, { kind: 'forge_user', provider: 'gitlab', name: who }, name);
      }
      const ignoredOnes: Array<[string, string, RegExp]> = [
        ['gitlab-push-branch-deleted', 'Push Hook', /refs\/heads\/old-feature was deleted/],
        ['gitlab-merge-request-update-title-only', 'Merge Request Hook', /without new commits/],
        ['gitlab-merge-request-merge', 'Merge Request Hook', /action "merge" does not start pipelines/],
      ];
      for (const [name, event, reason] of ignoredOnes) {
        const r = await send('gitlab', p, secret, event, fixtureWith(name, shas));
        assert.equal(r.status, 202, name);
        assert.equal(r.body.status, 'ignored', name);
        assert.match(r.body.reason!, reason, name);
      }
    });

    it('branch and tag filters drop pushes with the reason (202) and let matching ones through', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'gitlab');
      const put = await h.api('PUT', `/projects/${p}/ref-filters`, { branches: ['main', 'release/**'], tags: ['v*'] });
      assert.deepEqual(await put.json(), { branches: ['main', 'release/**'], tags: ['v*'] });
      assert.deepEqual(await (await h.api('GET', `/projects/${p}/ref-filters`)).json(), { branches: ['main', 'release/**'], tags: ['v*'] });
      const sha = head('main');
      repo.git('branch', '-f', 'release/2.x/hotfix', sha);
      repo.git('branch', '-f', 'wip', sha);
      repo.git('tag', '-f', 'nightly-1', sha);
      const push = (ref: string) => ({ ...fixtureWith('gitlab-push', { da1560886d4f094c3e6c9ef40349f7d38b5d27d7: sha }), ref, before: '0'.repeat(40) });
      const wip = await send('gitlab', p, secret, 'Push Hook', push('refs/heads/wip'));
      assert.equal(wip.status, 202);
      assert.equal(wip.body.status, 'ignored');
      assert.match(wip.body.reason!, /branch "wip" matches none of the project's branch filters \("main", "release\/\*\*"\)/);
      const nightly = await send('gitlab', p, secret, 'Tag Push Hook', { ...push('refs/tags/nightly-1'), object_kind: 'tag_push' });
      assert.match(nightly.body.reason!, /tag "nightly-1" matches none/);
      const release = await send('gitlab', p, secret, 'Push Hook', push('refs/heads/release/2.x/hotfix'));
      assert.equal(release.body.status, 'queued');
      assert.equal(((await h.api('PUT', `/projects/${p}/ref-filters`, { branches: null, tags: null })).status), 200);
      assert.equal((await send('gitlab', p, secret, 'Push Hook', push('refs/heads/wip'))).body.status, 'queued');
    });

    it('a pipeline file that does not compile fails the delivery with the reason; none is made', async () => {
      const p = await project();
      const { secret } = await secretOf(p, 'github');
      repo.git('checkout', '-q', '-b', 'broken');
      repo.write('.gantry.yml', 'job:\n  script: [true]\n  needs: [nope]\n');
      repo.commit('broken');
      const sha = head();
      repo.git('checkout', '-q', 'main');
      const payload = Object.assign(examplesOf('push').find((e) => e.created === true && String(e.ref).startsWith('refs/heads/'))!, { ref: 'refs/heads/broken', after: sha });
      const id = newDeliveryId();
      await send('github', p, secret, 'push', payload, { deliveryId: id });
      const d = await settled(p, id);
      assert.equal(d.status, 'failed');
      assert.match(d.reason!, /GANTRY_E_PIPELINE_INVALID/);
      assert.equal(d.pipelineId, null);
    });
  });
}

webhookSuite('SQLite', async (home) => openSqliteStore(path.join(home, 'gantry.db')));

const pg = await testPostgres('webhooks on PostgreSQL');
if (pg) webhookSuite('PostgreSQL', async () => openPostgresStore(pg.url, { schema: await pg.freshSchema() }));

describe('a delivery recorded before a crash', () => {
  it('is turned into its pipeline by the next server on the same store, once', async () => {
    const repo = sandbox({ '.gantry.yml': PIPELINE });
    const store = await openSqliteStore(path.join(repo.base, 'gantry.db'));
    // The first server records and answers but never processes: as if it died right after the 2xx.
    const first = await startHarness(async () => store, { deps: { deliveryQueue: false } });
    let next: Harness | null = null;
    try {
      await first.api('POST', '/projects', { name: 'crashy', gitUrl: repo.repo });
      const { secret } = (await (await first.api('POST', '/projects/crashy/webhooks', { provider: 'github' })).json()) as { secret: string };
      const payload = Object.assign(examplesOf('push').find((e) => e.created === true && String(e.ref).startsWith('refs/heads/'))!, {
        ref: 'refs/heads/main',
        after: repo.git('rev-parse', 'HEAD').trim(),
      });
      const body = Buffer.from(JSON.stringify(payload));
      const res = await fetch(`${first.url}/api/v1/webhooks/github/crashy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'crash-1', ...signatureHeaders('github', body, secret) },
        body: new Uint8Array(body),
      });
      assert.equal(res.status, 202);
      await first.app.close();
      const projectId = (await store.getProject('crashy'))!.id;
      assert.equal((await store.listDeliveries(projectId, 10))[0]!.status, 'queued');
      // The next server on the same store takes the delivery when it starts.
      next = await startHarness(async () => store, { deps: { deliveryQueue: { pollMs: 100 } } });
      await until('the delivery to be done', async () => (await store.listDeliveries(projectId, 10))[0]!.status === 'done');
      const [d] = await store.listDeliveries(projectId, 10);
      assert.ok(d!.pipelineId !== null);
      assert.equal((await store.listPipelines({ projectId })).items.length, 1);
    } finally {
      if (next) await next.close();
      else await store.close();
      fs.rmSync(first.base, { recursive: true, force: true });
      repo.cleanup();
    }
  });
});
