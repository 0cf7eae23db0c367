// Pull requests from forks, end to end: a real `gantry server` and `gantry agent` on loopback,
// pipelines started by signed webhooks. A fork's jobs wait for a sandboxed agent whose isolation
// check passed (an unisolated agent beside it never gets them), get no project variables, and
// their caches live apart: what a fork saves under a key is never restored by a pipeline of the
// project's own branches, and a fork does not read theirs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';
import { ROOT } from '../helpers/gantry.js';
import { sandboxUnavailable } from '../helpers/sandbox-host.js';
import { Fleet, TEST_LEASE_MS } from './fleet-harness.js';

const PIPELINE = `job:
  rules:
    - if: $CI
  cache: {key: deps, paths: [cache-dir/]}
  script:
    - echo "secret length=\${#TOPSECRET}"
    - if [ -f cache-dir/v ]; then echo "restored=$(cat cache-dir/v)"; else echo "restored=nothing"; fi
    - mkdir -p cache-dir && echo "$CI_PIPELINE_SOURCE-$CI_COMMIT_SHORT_SHA" > cache-dir/v
`;

describe('pull requests from forks (SQLite fleet)', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });
  // The fork's job needs a sandboxed agent whose check passed: a real one, where this host can.
  const noSandbox = sandboxUnavailable();
  const skip = noSandbox !== null && process.env.CI !== 'true' ? `this host cannot run the sandbox: ${noSandbox}` : false;
  if (skip) console.log(`# skipping the fork test: ${skip}`);

  it('a fork’s jobs wait for a sandboxed agent, run only there, get no project secrets and cannot plant or read the caches of the project’s own branches; trusted pipelines get both', { skip }, async () => {
    if (noSandbox) assert.fail(`CI=true: the sandbox must be available here:\n${noSandbox}`);
    const f = new Fleet({ '.gantry.yml': PIPELINE });
    fleets.push(f);
    await f.startServer();
    // An agent that does not isolate its jobs: it runs the trusted pipelines, never the fork's.
    await f.startAgent({ isolation: 'none', name: 'unisolated' });
    await f.project();
    // Fork pipelines run without a maintainer's approval here (test/server/gates-suite.ts tests that gate).
    assert.equal((await f.api('PATCH', '/projects/demo', { forkApproval: 'none' })).status, 200);
    assert.equal((await f.api('PUT', '/projects/demo/variables/TOPSECRET', { value: 'hunter22-pw', masked: true })).status, 204);
    const hook = await f.api<{ secret: string }>('POST', '/projects/demo/webhooks', { provider: 'gitea' });
    assert.equal(hook.status, 201);
    const secret = hook.body.secret;
    const main = f.sb.git('rev-parse', 'HEAD').trim();
    // The fork's commit, kept by the forge under refs/pull/7/head of the project's repository.
    f.sb.git('checkout', '-q', '-b', 'faster');
    f.sb.write('README', 'from a fork\n');
    f.sb.commit('fork work');
    const forkHead = f.sb.git('rev-parse', 'HEAD').trim();
    f.sb.git('checkout', '-q', 'main');
    f.sb.git('update-ref', 'refs/pull/7/head', forkHead);

    let n = 0;
    async function deliver(event: string, payload: unknown): Promise<number> {
      const body = Buffer.from(JSON.stringify(payload));
      const id = `fork-test-${++n}`;
      const res = await fetch(`${f.url}/api/v1/webhooks/gitea/demo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gitea-event': event, 'x-gitea-delivery': id, ...signatureHeaders('gitea', body, secret) },
        body: new Uint8Array(body),
      });
      assert.equal(res.status, 202, await res.clone().text());
      for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
        const items = (await f.api<{ items: Array<{ deliveryId: string; status: string; pipelineId: number | null; reason: string | null }> }>('GET', '/projects/demo/webhooks/deliveries')).body.items;
        const d = items.find((x) => x.deliveryId === id);
        if (d?.status === 'done') return d.pipelineId!;
        if (d && d.status !== 'queued' && d.status !== 'processing') throw new Error(`delivery ${d.status}: ${d.reason}`);
      }
      throw new Error(`delivery ${id} did not finish`);
    }
    const fixture = (name: string, shas: Record<string, string>) => {
      let text = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'webhooks', `${name}.json`), 'utf8');
      for (const [from, to] of Object.entries(shas)) text = text.replaceAll(from, to);
      return JSON.parse(text) as Record<string, unknown>;
    };
    async function run(pipelineId: number): Promise<string> {
      const done = await f.waitPipeline(pipelineId);
      assert.equal(done.status, 'success', JSON.stringify(done));
      return (await f.log(done.jobs[0]!.id)).toString();
    }

    // 1. A push to main: the secret is there, no cache yet, main's cache saved.
    const push = { ...fixture('gitea-push', { bffeb74224043ba2feb48d137756c8a9331c449a: main }), ref: 'refs/heads/main', before: '0'.repeat(40) };
    const first = await run(await deliver('push', push));
    assert.match(first, /secret length=11/);
    assert.match(first, /restored=nothing/);

    // 2. The fork's pull request: no secret, main's cache not restored, its own save kept apart.
    const prId = await deliver('pull_request', fixture('gitea-pull-request-opened-from-fork', { '4ac3f1a0d0e71c4d4c1e2f9c8b0e6a1d2c3b4a59': forkHead, '28e1879d029cb852e4844d9c718537df08844e03': main }));
    const pr = await f.api<{ trusted: boolean; source: string }>('GET', `/pipelines/${prId}`);
    assert.equal(pr.body.trusted, false);
    assert.equal(pr.body.source, 'merge_request_event');
    // The only agent runs jobs unisolated: the fork's job waits, and the queue says why.
    for (let reason = ''; reason !== 'no_sandbox_agent'; await new Promise((r) => setTimeout(r, 50))) {
      const items = (await f.api<{ items: { reason: { code: string; requirement?: string } }[] }>('GET', '/queue?project=demo')).body.items;
      assert.equal(items.length, 1);
      reason = items[0]!.reason.code;
      if (reason === 'no_sandbox_agent') assert.equal(items[0]!.reason.requirement, 'untrusted');
    }
    // It still waits a lease later: the unisolated agent, polling all along, is never given it.
    await new Promise((r) => setTimeout(r, TEST_LEASE_MS));
    assert.equal((await f.pipeline(prId)).jobs[0]!.status, 'pending');
    // A sandboxed agent comes: its isolation check passes at start, and the fork's job runs there.
    await f.startAgent({ isolation: 'sandbox', name: 'sandboxed' });
    const fork = await run(prId);
    const forkJob = await f.api<{ attemptList: { agent: string | null }[] }>('GET', `/jobs/${(await f.pipeline(prId)).jobs[0]!.id}`);
    assert.deepEqual(forkJob.body.attemptList.map((a) => a.agent), ['sandboxed']);
    assert.match(fork, /secret length=0/);
    assert.match(fork, /restored=nothing/);

    // 3. main again: restores main's own cache, not the fork's.
    const second = await run(await deliver('push', { ...push, before: main }));
    assert.match(second, /secret length=11/);
    assert.match(second, new RegExp(`restored=push-${main.slice(0, 8)}`));

    // 4. The fork again (synchronized from the fork): it reads what the fork saved, nothing else.
    const again = fixture('gitea-pull-request-opened-from-fork', { '4ac3f1a0d0e71c4d4c1e2f9c8b0e6a1d2c3b4a59': forkHead, '28e1879d029cb852e4844d9c718537df08844e03': main });
    (again as { action: string }).action = 'synchronized';
    const againId = await deliver('pull_request', again);
    const forkAgain = await run(againId);
    const againJob = await f.api<{ attemptList: { agent: string | null }[] }>('GET', `/jobs/${(await f.pipeline(againId)).jobs[0]!.id}`);
    assert.deepEqual(againJob.body.attemptList.map((a) => a.agent), ['sandboxed']);
    assert.match(forkAgain, new RegExp(`restored=merge_request_event-${forkHead.slice(0, 8)}`));
  });
});
