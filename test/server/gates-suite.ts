// The gates end to end (docs/API.md, "Approvals"): a real `gantry server` and `gantry agent` on
// loopback, people with personal tokens, pull requests from a fork delivered as signed GitHub
// webhooks (GitHub's own payload from @octokit/webhooks-examples, its head moved to a fork and to
// this test's commits), and deployments to a protected environment. Run on SQLite and on
// PostgreSQL (gates-sqlite.test.ts, gates-postgres.test.ts).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';
import { gantry } from '../helpers/gantry.js';
import { fleetsOn, type Fleet } from '../fleet/fleet-harness.js';

const PASSWORD = 'a-password-long-enough';
interface OctokitEvent {
  name: string;
  examples: Array<Record<string, unknown>>;
}
const octokit = createRequire(import.meta.url)('@octokit/webhooks-examples') as OctokitEvent[];

interface PipelineJson {
  id: number;
  status: string;
  trusted: boolean;
  approval: { reason: string; approvedBy: string | null; approvedAt: string | null } | null;
  jobs: Array<{ id: number; name: string; status: string; failureReason: string | null; environment: string | null }>;
}
interface AuditJson {
  items: Array<{ action: string; actor: { username?: string }; target: { type: string; id: string | null }; details: Record<string, unknown> | null }>;
}

/** People of project demo with personal tokens: name → token. */
async function people(f: Fleet, roles: Record<string, 'viewer' | 'developer' | 'maintainer'>): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const [username, role] of Object.entries(roles)) {
    assert.equal((await f.api('POST', '/users', { username, password: PASSWORD })).status, 201);
    assert.equal((await f.api('PUT', `/projects/demo/members/${username}`, { role })).status, 200);
    tokens[username] = (await f.api<{ token: string }>('POST', `/users/${username}/tokens`, { description: 'test' })).body.token;
  }
  return tokens;
}

async function as<T>(f: Fleet, token: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${f.url}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

const errorCode = (r: { body: unknown }) => (r.body as { error?: { code: string } }).error?.code;

export function gatesSuite(label: string, db: () => Promise<string | null>): void {
  describe(`gates (${label})`, () => {
    const fleet = fleetsOn(db);

    it('a fork’s pull request runs nothing until a maintainer approves it; a developer cannot; reject cancels; each push asks again unless its author is approved always; first-time asks once per author', async () => {
      const f = await fleet({ '.gantry.yml': 'job:\n  rules:\n    - if: $CI\n  script: [echo "fork job ran"]\n' });
      await f.startServer();
      await f.startAgent();
      await f.project();
      const t = await people(f, { max: 'maintainer', dev: 'developer' });
      const secret = (await f.api<{ secret: string }>('POST', '/projects/demo/webhooks', { provider: 'github' })).body.secret;
      const main = f.sb.git('rev-parse', 'HEAD').trim();

      /** A new commit on the fork's branch, kept by the forge under refs/pull/N/head. */
      let commits = 0;
      const forkPush = (number: number): string => {
        f.sb.git('checkout', '-q', '-B', `fork-${number}`, main);
        f.sb.write('README', `fork work ${++commits}\n`);
        f.sb.commit(`fork work ${commits}`);
        const sha = f.sb.git('rev-parse', 'HEAD').trim();
        f.sb.git('checkout', '-q', 'main');
        f.sb.git('update-ref', `refs/pull/${number}/head`, sha);
        return sha;
      };
      let deliveries = 0;
      /** GitHub's "pull_request opened" example, from a fork (another head repository), signed with the project's secret. */
      async function deliver(action: 'opened' | 'synchronize', number: number, sha: string, author = 'Codertocat'): Promise<PipelineJson> {
        const payload = structuredClone(octokit.find((e) => e.name === 'pull_request')!.examples.find((e) => e.action === 'opened')!) as Record<string, any>;
        payload.action = action;
        payload.number = number;
        payload.pull_request.number = number;
        payload.pull_request.user.login = author;
        payload.pull_request.head.sha = sha;
        payload.pull_request.head.repo = { ...payload.pull_request.head.repo, id: 99_000 + number, full_name: `${author}/Hello-World`, clone_url: `https://github.com/${author}/Hello-World.git` };
        payload.pull_request.base.ref = 'main';
        const body = Buffer.from(JSON.stringify(payload));
        const id = `gates-${++deliveries}`;
        const res = await fetch(`${f.url}/api/v1/webhooks/github/demo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-github-event': 'pull_request', 'x-github-delivery': id, ...signatureHeaders('github', body, secret) },
          body: new Uint8Array(body),
        });
        assert.equal(res.status, 202, await res.clone().text());
        for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
          const items = (await f.api<{ items: Array<{ deliveryId: string; status: string; pipelineId: number | null; reason: string | null }> }>('GET', '/projects/demo/webhooks/deliveries')).body.items;
          const d = items.find((x) => x.deliveryId === id);
          if (d?.status === 'done') return (await f.api<PipelineJson>('GET', `/pipelines/${d.pipelineId}`)).body;
          if (d && d.status !== 'queued' && d.status !== 'processing') throw new Error(`delivery ${d.status}: ${d.reason}`);
        }
        throw new Error(`delivery ${id} did not finish`);
      }
      const succeeds = async (id: number) => assert.equal((await f.waitPipeline(id)).status, 'success');

      // 1. The default (all): the fork's pipeline waits, says why, and nothing of it is queued.
      assert.equal((await f.api<{ forkApproval: string }>('GET', '/projects/demo')).body.forkApproval, 'all');
      const first = await deliver('opened', 2, forkPush(2));
      assert.equal(first.trusted, false);
      assert.equal(first.status, 'waiting_for_approval');
      assert.match(first.approval!.reason, /a pull request from a fork by Codertocat \(github\): a maintainer must approve each push/);
      assert.deepEqual(first.jobs.map((j) => j.status), ['created']);
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal((await f.pipeline(first.id)).status, 'waiting_for_approval');
      assert.deepEqual((await f.api<{ items: unknown[] }>('GET', '/queue?project=demo')).body.items, []);
      assert.equal((await f.api<{ items: Array<{ status: string }> }>('GET', '/projects/demo/pipelines?status=waiting_for_approval')).body.items.length, 1);

      // A developer may not approve (or reject) it; the pipeline does not move.
      const refused = await as(f, t.dev!, 'POST', `/pipelines/${first.id}/approve`, { scope: 'once' });
      assert.equal(refused.status, 403);
      assert.equal(errorCode(refused), 'GANTRY_E_FORBIDDEN');
      assert.equal((await as(f, t.dev!, 'POST', `/pipelines/${first.id}/reject`, {})).status, 403);
      assert.equal((await f.pipeline(first.id)).status, 'waiting_for_approval');

      // A maintainer approves it: it runs (on the sandboxed agent), and says who approved it.
      const approved = await as<PipelineJson>(f, t.max!, 'POST', `/pipelines/${first.id}/approve`, { scope: 'once' });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.approval!.approvedBy, 'max');
      await succeeds(first.id);
      assert.match((await f.log(first.jobs[0]!.id)).toString(), /fork job ran/);
      // Twice is a conflict, not a second run.
      const again = await as(f, t.max!, 'POST', `/pipelines/${first.id}/approve`, {});
      assert.equal(again.status, 409);
      assert.equal(errorCode(again), 'GANTRY_E_NOT_WAITING_FOR_APPROVAL');

      // 2. A new push to the request needs a new approval; rejected, it is canceled and never runs.
      const second = await deliver('synchronize', 2, forkPush(2));
      assert.equal(second.status, 'waiting_for_approval');
      const rejected = await as<PipelineJson>(f, t.max!, 'POST', `/pipelines/${second.id}/reject`, { comment: 'mines coins' });
      assert.equal(rejected.status, 200);
      assert.equal(rejected.body.status, 'canceled');
      assert.deepEqual(rejected.body.jobs.map((j) => j.status), ['canceled']);

      // 3. Approved always: this push runs, and the author's next pull request runs at once.
      const third = await deliver('synchronize', 2, forkPush(2));
      assert.equal(third.status, 'waiting_for_approval');
      assert.equal((await as(f, t.max!, 'POST', `/pipelines/${third.id}/approve`, { scope: 'always' })).status, 200);
      await succeeds(third.id);
      const authors = await as<{ items: Array<{ provider: string; author: string; approvedBy: string }> }>(f, t.max!, 'GET', '/projects/demo/fork-authors');
      assert.deepEqual(authors.body.items.map((a) => [a.provider, a.author, a.approvedBy]), [['github', 'Codertocat', 'max']]);
      assert.equal((await as(f, t.dev!, 'GET', '/projects/demo/fork-authors')).status, 403);
      const fourth = await deliver('opened', 3, forkPush(3));
      assert.equal(fourth.approval, null);
      assert.notEqual(fourth.status, 'waiting_for_approval');
      await succeeds(fourth.id);
      // Removed from the list, the author waits again.
      assert.equal((await as(f, t.max!, 'DELETE', '/projects/demo/fork-authors/github/Codertocat')).status, 204);
      assert.equal((await deliver('synchronize', 3, forkPush(3))).status, 'waiting_for_approval');

      // 4. first-time: a new author waits once; after one approved pipeline their pushes run.
      assert.equal((await f.api<{ forkApproval: string }>('PATCH', '/projects/demo', { forkApproval: 'first-time' })).body.forkApproval, 'first-time');
      const newcomer = await deliver('opened', 4, forkPush(4), 'octonew');
      assert.match(newcomer.approval!.reason, /a first pull request from a fork by octonew/);
      // The CLI says so, and approves it.
      const cli = { GANTRY_TOKEN: t.max!, GANTRY_SERVER: f.url };
      const approvedByCli = await gantry(f.sb, ['approve', '--pipeline', String(newcomer.id)], cli);
      assert.equal(approvedByCli.code, 0, approvedByCli.stderr);
      assert.match(approvedByCli.out, new RegExp(`pipeline #${newcomer.id} approved`));
      await succeeds(newcomer.id);
      const known = await deliver('synchronize', 4, forkPush(4), 'octonew');
      assert.equal(known.approval, null);
      await succeeds(known.id);
      // none: forks run at once (untrusted all the same).
      await f.api('PATCH', '/projects/demo', { forkApproval: 'none' });
      const free = await deliver('opened', 5, forkPush(5), 'stranger');
      assert.equal(free.approval, null);
      assert.equal(free.trusted, false);

      // Every decision is in the audit log, by whom, in the project's.
      const audit = (await as<AuditJson>(f, t.max!, 'GET', '/projects/demo/audit?limit=100')).body.items;
      const decisions = audit.filter((e) => e.action.startsWith('pipeline.') || e.action === 'fork_author.remove').reverse();
      assert.deepEqual(
        decisions.map((e) => [e.action, e.actor.username, e.target.id, e.details?.scope ?? null]),
        [
          ['pipeline.approve', 'max', String(first.id), 'once'],
          ['pipeline.reject', 'max', String(second.id), null],
          ['pipeline.approve', 'max', String(third.id), 'always'],
          ['fork_author.remove', 'max', 'Codertocat', null],
          ['pipeline.approve', 'max', String(newcomer.id), 'once'],
        ],
      );
      assert.equal(decisions[1]!.details!.comment, 'mines coins');
    });

    it('a deployment to a protected environment waits for approvals from people other than who triggered it, each counted once; a rejection fails it; the environment lists its deployments', async () => {
      const f = await fleet({
        '.gantry.yml':
          'build:\n  script: [echo built]\n' +
          'deploy:\n  stage: deploy\n  environment: production\n  id_tokens:\n    T:\n      aud: https://vault.example.com\n' +
          '  script:\n    - echo deployed\n    - echo "claims=$(printf \'%s\' "$T" | cut -d. -f2)"\n',
      });
      await f.startServer();
      await f.startAgent();
      await f.project();
      const t = await people(f, { max: 'maintainer', mia: 'maintainer', nat: 'maintainer', dev: 'developer', vic: 'viewer' });
      // Protect it: one approval. A developer may not; the environment shows.
      assert.equal((await as(f, t.dev!, 'PUT', '/projects/demo/environments/production', { requiredApprovals: 1 })).status, 403);
      const put = await as<{ requiredApprovals: number; deployers: string[] }>(f, t.max!, 'PUT', '/projects/demo/environments/production', { requiredApprovals: 1 });
      assert.deepEqual(put.body, { name: 'production', requiredApprovals: 1, deployers: [] });

      const trigger = async (token: string): Promise<PipelineJson> => {
        const r = await as<PipelineJson>(f, token, 'POST', '/projects/demo/pipelines', { ref: 'main' });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body;
      };
      const deployOf = (p: { jobs: Array<{ id: number; name: string; status: string }> }) => p.jobs.find((j) => j.name === 'deploy')!;
      const waiting = (p: { jobs: Array<{ id: number; name: string; status: string }> }) => deployOf(p).status === 'waiting_for_approval';

      // 1. max triggers: build runs, deploy waits; max's own approval is refused; mia's releases it.
      const one = await f.waitPipeline((await trigger(t.max!)).id, waiting);
      assert.equal(one.jobs.find((j) => j.name === 'build')!.status, 'success');
      assert.equal(one.status, 'running');
      const deployId = deployOf(one).id;
      const self = await as(f, t.max!, 'POST', `/jobs/${deployId}/approve`, {});
      assert.equal(self.status, 403);
      assert.equal(errorCode(self), 'GANTRY_E_SELF_APPROVAL');
      // A developer is no approver unless named a deployer; a viewer never reaches the route.
      assert.equal(errorCode(await as(f, t.dev!, 'POST', `/jobs/${deployId}/approve`, {})), 'GANTRY_E_FORBIDDEN');
      assert.equal((await as(f, t.vic!, 'POST', `/jobs/${deployId}/approve`, {})).status, 403);
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(waiting((await f.pipeline(one.id))), 'still waiting');
      const detail = await as<{ approvals: { required: number; decisions: unknown[] } }>(f, t.vic!, 'GET', `/jobs/${deployId}`);
      assert.deepEqual(detail.body.approvals, { required: 1, deployers: [], decisions: [] });
      // By the CLI, as mia.
      const cli = await gantry(f.sb, ['approve', String(deployId), '--comment', 'ship it'], { GANTRY_TOKEN: t.mia!, GANTRY_SERVER: f.url });
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal((await f.waitPipeline(one.id)).status, 'success');
      assert.match((await f.log(deployId)).toString(), /deployed/);
      // The identity token says the environment is protected.
      const claims = JSON.parse(Buffer.from(/claims=([A-Za-z0-9_-]+)/.exec((await f.log(deployId)).toString())![1]!, 'base64url').toString()) as Record<string, string>;
      assert.deepEqual([claims.environment, claims.environment_protected], ['production', 'true']);

      // 2. Two approvals: two different people, none counted twice; a named deployer counts.
      await as(f, t.max!, 'PUT', '/projects/demo/environments/production', { requiredApprovals: 2, deployers: ['dev'] });
      const two = await f.waitPipeline((await trigger(t.max!)).id, waiting);
      const deploy2 = deployOf(two).id;
      assert.equal((await as<PipelineJson['jobs'][0]>(f, t.mia!, 'POST', `/jobs/${deploy2}/approve`, {})).body.status, 'waiting_for_approval');
      const twice = await as(f, t.mia!, 'POST', `/jobs/${deploy2}/approve`, {});
      assert.equal(twice.status, 409);
      assert.equal(errorCode(twice), 'GANTRY_E_ALREADY_APPROVED');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(waiting((await f.pipeline(two.id))), 'one approval of two');
      assert.equal((await as(f, t.nat!, 'POST', `/jobs/${deploy2}/approve`, {})).status, 200);
      assert.equal((await f.waitPipeline(two.id)).status, 'success');

      // 3. Rejected (with a comment): the job fails as deployment_rejected, and so the pipeline.
      const three = await f.waitPipeline((await trigger(t.mia!)).id, waiting);
      const deploy3 = deployOf(three).id;
      assert.equal((await as(f, t.dev!, 'POST', `/jobs/${deploy3}/reject`, {})).status, 400, 'a rejection says why');
      const no = await as<PipelineJson['jobs'][0]>(f, t.dev!, 'POST', `/jobs/${deploy3}/reject`, { comment: 'not on a Friday' });
      assert.equal(no.status, 200, JSON.stringify(no.body));
      assert.deepEqual([no.body.status, no.body.failureReason], ['failed', 'deployment_rejected']);
      assert.equal((await f.waitPipeline(three.id)).status, 'failed');

      // The environment's page: its protection, its deployments newest first with who and what.
      const envs = await as<{ items: Array<{ name: string; requiredApprovals: number; deployers: string[]; lastDeployment: { jobId: number } | null }> }>(f, t.vic!, 'GET', '/projects/demo/environments');
      assert.deepEqual(envs.body.items.map((e) => [e.name, e.requiredApprovals, e.deployers, e.lastDeployment?.jobId]), [['production', 2, ['dev'], deploy3]]);
      const list = await as<{ items: Array<{ jobId: number; status: string; triggeredBy: { name: string }; ref: string; sha: string; approvals: Array<{ name: string; decision: string; comment: string | null }> }> }>(
        f,
        t.vic!,
        'GET',
        '/projects/demo/environments/production/deployments',
      );
      assert.deepEqual(
        list.body.items.map((d) => [d.jobId, d.status, d.triggeredBy.name, d.ref, d.approvals.map((a) => `${a.name}:${a.decision}`).join(',')]),
        [
          [deploy3, 'failed', 'mia', 'main', 'dev:rejected'],
          [deploy2, 'success', 'max', 'main', 'mia:approved,nat:approved'],
          [deployId, 'success', 'max', 'main', 'mia:approved'],
        ],
      );
      assert.equal(list.body.items[2]!.approvals[0]!.comment, 'ship it');
      assert.equal(list.body.items[0]!.sha, f.sb.git('rev-parse', 'HEAD').trim());

      const audit = (await as<AuditJson>(f, t.max!, 'GET', '/projects/demo/audit?limit=100')).body.items.reverse();
      assert.deepEqual(
        audit.filter((e) => e.action.startsWith('job.') || e.action === 'environment.set').map((e) => [e.action, e.actor.username, e.target.id]),
        [
          ['environment.set', 'max', 'production'],
          ['job.approve', 'mia', String(deployId)],
          ['environment.set', 'max', 'production'],
          ['job.approve', 'mia', String(deploy2)],
          ['job.approve', 'nat', String(deploy2)],
          ['job.reject', 'dev', String(deploy3)],
        ],
      );
    });
  });
}
