// Commit statuses back to the forge, end to end: a real `gantry server` process, a real agent
// running the pipeline, and a local HTTP server standing in for GitHub, Gitea and GitLab that
// records every request (real HTTP over loopback; nothing leaves the machine).

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/store/open.js';
import { testPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/processes.js';
import { Fleet, freePort } from './fleet-harness.js';

interface Recorded {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, string>;
}

/** A forge stand-in: records each request; `answer` decides the status and how long it takes. */
class Recorder {
  readonly requests: Recorded[] = [];
  answer: (r: Recorded) => { status: number; delayMs?: number; headers?: Record<string, string> } = () => ({ status: 201 });
  private readonly server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const r: Recorded = { url: req.url ?? '', headers: req.headers, body: JSON.parse(text || '{}') as Record<string, string> };
      const a = this.answer(r);
      setTimeout(() => {
        // Recorded when answered: the order the forge took them in.
        if (a.status < 300) this.requests.push(r);
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end('{}');
      }, a.delayMs ?? 0);
    });
  });
  url = '';

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  statesFor(prefix: string): string[] {
    return this.requests.filter((r) => r.url.startsWith(prefix)).map((r) => r.body.state!);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const PIPELINE = `check:
  script:
    - echo "checking $CI_COMMIT_SHA"
    - sleep 0.3
    - test "$FAIL" != yes
`;

/** States only move forward: no state after a later one, none twice in a row. */
function assertInOrder(states: string[], order: string[], label: string): void {
  const ranks = states.map((s) => order.indexOf(s));
  assert.ok(ranks.every((r) => r >= 0), `${label}: unexpected state in ${states.join(',')}`);
  for (let i = 1; i < ranks.length; i++) assert.ok(ranks[i]! > ranks[i - 1]!, `${label}: ${states.join(' -> ')}`);
}

describe('commit statuses to the forge', () => {
  const fleets: Fleet[] = [];
  const recorders: Recorder[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
    for (const r of recorders) await r.close();
  });

  it('a pipeline run by an agent is reported to GitHub, Gitea and GitLab in each one\'s request shape, newer states never before older ones', async () => {
    const forge = await new Recorder().listen();
    recorders.push(forge);
    // The first GitHub status is answered slowly: the pipeline ends meanwhile, and its end must
    // still arrive after (not before, not instead of a lost) the first one.
    let slowed = false;
    forge.answer = (r) => {
      if (r.url.startsWith('/gh/') && !slowed) {
        slowed = true;
        return { status: 201, delayMs: 1_200 };
      }
      return { status: 201 };
    };
    const f = new Fleet({ '.gantry.yml': PIPELINE });
    fleets.push(f);
    await f.startServer({ env: { GANTRY_PUBLIC_URL: 'https://ci.example/' } });
    await f.startAgent();
    const forges = [
      ['hub', { provider: 'github', baseUrl: `${forge.url}/gh`, repository: 'octo/hello', token: 'tok-gh' }],
      ['tea', { provider: 'gitea', baseUrl: `${forge.url}/gitea/`, repository: 'octo/hello', token: 'tok-gitea', context: 'ci/gantry' }],
      ['lab', { provider: 'gitlab', baseUrl: `${forge.url}/gl`, repository: 'group/sub/hello', token: 'tok-gl' }],
    ] as const;
    for (const [name, body] of forges) {
      await f.project(name);
      const put = await f.api<Record<string, unknown>>('PUT', `/projects/${name}/forge`, body);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.token, undefined);
    }
    const hub = await f.trigger('hub');
    const tea = await f.trigger('tea');
    const lab = await f.trigger('lab', { FAIL: 'yes' });
    for (const p of [hub, tea, lab]) await f.waitPipeline(p.id);
    assert.equal((await f.pipeline(lab.id)).status, 'failed');
    const sha = (await f.api<{ sha: string }>('GET', `/pipelines/${hub.id}`)).body.sha;

    await waitFor('the final statuses', () =>
      forge.statesFor('/gh/').at(-1) === 'success' && forge.statesFor('/gitea/').at(-1) === 'success' && forge.statesFor('/gl/').at(-1) === 'failed',
    );
    assertInOrder(forge.statesFor('/gh/'), ['pending', 'success'], 'github');
    assertInOrder(forge.statesFor('/gitea/'), ['pending', 'success'], 'gitea');
    assertInOrder(forge.statesFor('/gl/'), ['pending', 'running', 'failed'], 'gitlab');
    assert.deepEqual(forge.statesFor('/gh/'), ['pending', 'success'], 'the slow first answer held the second back, and both arrived');

    const gh = forge.requests.find((r) => r.url.startsWith('/gh/'))!;
    assert.equal(gh.url, `/gh/repos/octo/hello/statuses/${sha}`);
    assert.equal(gh.headers.authorization, 'Bearer tok-gh');
    assert.equal(gh.headers.accept, 'application/vnd.github+json');
    assert.equal(gh.headers['x-github-api-version'], '2022-11-28');
    assert.match(String(gh.headers['user-agent']), /^gantry\//);
    assert.deepEqual(gh.body, { state: 'pending', context: 'gantry', description: `Gantry pipeline #${hub.id} is running`, target_url: `https://ci.example/pipelines/${hub.id}` });

    const gt = forge.requests.filter((r) => r.url.startsWith('/gitea/')).at(-1)!;
    assert.equal(gt.url, `/gitea/api/v1/repos/octo/hello/statuses/${sha}`);
    assert.equal(gt.headers.authorization, 'token tok-gitea');
    assert.deepEqual(gt.body, { state: 'success', context: 'ci/gantry', description: `Gantry pipeline #${tea.id} passed`, target_url: `https://ci.example/pipelines/${tea.id}` });

    const gl = forge.requests.filter((r) => r.url.startsWith('/gl/')).at(-1)!;
    assert.equal(gl.url, `/gl/api/v4/projects/group%2Fsub%2Fhello/statuses/${sha}`);
    assert.equal(gl.headers['private-token'], 'tok-gl');
    assert.equal(gl.headers.authorization, undefined);
    assert.deepEqual(gl.body, { state: 'failed', ref: 'main', name: 'gantry', description: `Gantry pipeline #${lab.id} failed`, target_url: `https://ci.example/pipelines/${lab.id}` });

    // The token is stored sealed: neither the API nor the database shows it.
    const shown = await f.api<Record<string, unknown>>('GET', '/projects/hub/forge');
    assert.deepEqual(Object.keys(shown.body).sort(), ['baseUrl', 'context', 'provider', 'repository', 'updatedAt']);
    const store = await openStore(f.storeUrl);
    try {
      const c = await store.forge.getConfig((await store.getProject('hub'))!.id);
      assert.ok(c && !c.ciphertext.includes('tok-gh') && !Buffer.from(c.ciphertext, 'base64').toString('latin1').includes('tok-gh'));
    } finally {
      await store.close();
    }
  });

  it('a status the forge could not take while the server was killed arrives after the restart', async () => {
    const forge = await new Recorder().listen();
    recorders.push(forge);
    forge.answer = () => ({ status: 503 });
    const f = new Fleet({ '.gantry.yml': PIPELINE });
    fleets.push(f);
    const server = await f.startServer();
    await f.startAgent();
    await f.project('down');
    await f.api('PUT', '/projects/down/forge', { provider: 'github', baseUrl: forge.url, repository: 'o/r', token: 't' });
    const p = await f.trigger('down');
    await f.waitPipeline(p.id);
    // Killed between two tries of the final status (a kill during a try would leave that try's
    // claim to run out first, a minute): the outbox holds it with the forge's refusal.
    const watch = await openStore(f.storeUrl);
    try {
      const until = Date.now() + 10_000;
      for (;;) {
        const row = await watch.forge.getOutboxRow(p.id as never);
        if (row?.status === 'success' && row.lastError !== null && row.nextAt !== null && row.nextAt > Date.now() + 200) break;
        if (Date.now() > until) throw new Error(`no refused try of the final status: ${JSON.stringify(row)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      await f.kill(server);
    } finally {
      await watch.close();
    }
    forge.answer = () => ({ status: 201 });
    await f.startServer();
    await waitFor('the success status after the restart', () => forge.statesFor('/repos/').at(-1) === 'success', 10_000);
    assertInOrder(forge.statesFor('/repos/'), ['pending', 'success'], 'after restart');
    // The forge has the request; the server records its answer just after.
    const store = await openStore(f.storeUrl);
    try {
      let row = await store.forge.getOutboxRow(p.id as never);
      for (const until = Date.now() + 10_000; row?.sentState !== 'success' && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 20));
        row = await store.forge.getOutboxRow(p.id as never);
      }
      assert.deepEqual([row!.sentState, row!.nextAt, row!.lastError], ['success', null, null]);
    } finally {
      await store.close();
    }
  });

  it('a forge that answers 429 with Retry-After is asked again when it said, not sooner', async () => {
    const forge = await new Recorder().listen();
    recorders.push(forge);
    let refusedAt = 0;
    forge.answer = () => {
      if (refusedAt === 0) refusedAt = Date.now();
      return refusedAt > 0 && Date.now() - refusedAt < 100 ? { status: 429, headers: { 'retry-after': '4' } } : { status: 201 };
    };
    const f = new Fleet({ '.gantry.yml': 'quick:\n  script: [echo ok]\n' });
    fleets.push(f);
    await f.startServer();
    await f.project('limited');
    await f.api('PUT', '/projects/limited/forge', { provider: 'github', baseUrl: forge.url, repository: 'o/r', token: 't' });
    const p = await f.trigger('limited');
    const store = await openStore(f.storeUrl);
    try {
      let row = await store.forge.getOutboxRow(p.id as never);
      for (const until = Date.now() + 10_000; !(row?.lastError ?? '').includes('429') && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 20));
        row = await store.forge.getOutboxRow(p.id as never);
      }
      assert.match(row?.lastError ?? '', /429/);
      // Four seconds from the refusal (the backoff alone would have said one).
      assert.ok(row!.nextAt! - refusedAt >= 3_900 && row!.nextAt! - refusedAt <= 5_000, `next try ${row!.nextAt! - refusedAt} ms after the refusal`);
    } finally {
      await store.close();
    }
    await waitFor('the status after the wait', () => forge.requests.length > 0, 10_000);
    assert.ok(Date.now() - refusedAt >= 3_900, 'not asked again before Retry-After ran out');
  });

  describe('two server instances on one PostgreSQL', async () => {
    const pg = await testPostgres('forge statuses from two PostgreSQL instances');
    if (!pg) return;

    it('both instances drain the outbox; each pipeline\'s states reach a slow forge once each and in order', async () => {
      const forge = await new Recorder().listen();
      recorders.push(forge);
      // Every pipeline's first status is answered slowly, so its end is written while it is in flight.
      const seen = new Set<string>();
      forge.answer = (r) => {
        const first = !seen.has(r.url);
        seen.add(r.url);
        return { status: 201, delayMs: first ? 700 : 0 };
      };
      const f = new Fleet({ '.gantry.yml': PIPELINE }, `${pg.url}?options=${encodeURIComponent(`-c search_path=${await pg.freshSchema()}`)}`);
      fleets.push(f);
      await f.startServer();
      const portB = await freePort();
      await f.startServer({ port: portB });
      await f.startAgent({ concurrency: 3 });
      await f.startAgent({ concurrency: 3, server: `http://127.0.0.1:${portB}` });
      await f.project('pair');
      await f.api('PUT', '/projects/pair/forge', { provider: 'gitlab', baseUrl: forge.url, repository: '7', token: 't' });
      const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => f.trigger('pair', { FAIL: i % 2 ? 'yes' : 'no' })));
      const finals = await Promise.all(runs.map((p) => f.waitPipeline(p.id)));
      // Each pipeline has its own commit here only by id: the statuses carry it in the description.
      const statesOf = (id: number) => forge.requests.filter((r) => r.body.description!.startsWith(`Gantry pipeline #${id} `)).map((r) => r.body.state!);
      await waitFor('every final status', () => finals.every((p) => statesOf(p.id).at(-1) === (p.status === 'success' ? 'success' : 'failed')), 20_000);
      await new Promise((r) => setTimeout(r, 500));
      for (const p of finals) assertInOrder(statesOf(p.id), ['pending', 'running', p.status === 'success' ? 'success' : 'failed'], `pipeline ${p.id}`);
    });
  });
});
