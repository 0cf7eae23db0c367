// A server killed (SIGKILL) right after it answered a webhook 202, before any pipeline was made:
// the restarted server, or another instance on PostgreSQL, makes the delivery's pipeline, once.
// Real `gantry server` processes on loopback; the crash point is GANTRY_TEST_CRASH_AT.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { signatureHeaders } from '../../src/server/webhooks/signature.js';
import { testPostgres } from '../helpers/postgres.js';
import { Fleet, freePort, type Proc } from './fleet-harness.js';

const PIPELINE = 'build:\n  script: [echo built]\n';

async function exited(p: Proc): Promise<void> {
  const end = Date.now() + 20_000;
  while (p.child.exitCode === null && p.child.signalCode === null) {
    if (Date.now() > end) throw new Error(`the server did not die:\n${p.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function crashSuite(name: string, db: () => Promise<string | null>, otherInstance: boolean): void {
  describe(`a webhook answered, then the server killed (${name})`, () => {
    const fleets: Fleet[] = [];
    after(async () => {
      for (const f of fleets) await f.teardown();
    });

    it(`the delivery's pipeline is made ${otherInstance ? 'by the other instance' : 'when the server is started again'}, once`, async () => {
      const f = new Fleet({ '.gantry.yml': PIPELINE }, await db());
      fleets.push(f);
      await f.startServer();
      await f.project();
      const { secret } = (await f.api<{ secret: string }>('POST', '/projects/demo/webhooks', { provider: 'gitlab' })).body;
      await f.kill(f.procs[0]!);
      const armed = await f.startServer({ env: { GANTRY_TEST_CRASH_AT: 'delivery.answered' } });
      // On PostgreSQL a second instance runs all along, on another port: it takes the delivery.
      const otherPort = otherInstance ? await freePort() : 0;
      const other = otherInstance ? await f.startServer({ port: otherPort }) : null;
      const sha = f.sb.git('rev-parse', 'HEAD').trim();
      const body = Buffer.from(JSON.stringify({ object_kind: 'push', ref: 'refs/heads/main', before: '0'.repeat(40), after: sha, checkout_sha: sha }));
      const res = await fetch(`${f.url}/api/v1/webhooks/gitlab/demo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': 'crash-uuid-1', ...signatureHeaders('gitlab', body, secret) },
        body: new Uint8Array(body),
      });
      assert.equal(res.status, 202);
      await exited(armed);
      assert.equal(armed.child.signalCode, 'SIGKILL');
      assert.match(armed.output(), /crash point delivery\.answered reached/);
      if (!other) await f.startServer();
      const base = other ? `http://127.0.0.1:${otherPort}` : f.url;
      let pipelines: Array<{ id: number; source: string }> = [];
      for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        pipelines = (await f.api<{ items: Array<{ id: number; source: string }> }>('GET', '/projects/demo/pipelines', undefined, base)).body.items;
        if (pipelines.length > 0) break;
      }
      assert.equal(pipelines.length, 1);
      assert.equal(pipelines[0]!.source, 'push');
      // The forge's retry of the same delivery, to whichever instance: a duplicate, no second pipeline.
      const again = await fetch(`${base}/api/v1/webhooks/gitlab/demo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': 'crash-uuid-1', ...signatureHeaders('gitlab', body, secret) },
        body: new Uint8Array(body),
      });
      assert.equal(again.status, 200);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await f.api<{ items: unknown[] }>('GET', '/projects/demo/pipelines', undefined, base)).body.items.length, 1);
    });
  });
}

crashSuite('SQLite', async () => null, false);
const pg = await testPostgres('webhook crash on PostgreSQL');
if (pg) {
  crashSuite('PostgreSQL', async () => {
    const schema = await pg.freshSchema();
    return `${pg.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  }, true);
}
