// Two server instances on one PostgreSQL database, no leader: agents on each share the work,
// one instance killed mid-run loses nothing, and the fleet-wide limit holds across both.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { testPostgres } from '../helpers/postgres.js';
import { Fleet, freePort } from './fleet-harness.js';

const postgres = await testPostgres('two server instances on PostgreSQL', 2);
if (postgres) {
  const pgUrl = async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`;
  describe('two server instances on one PostgreSQL database', () => {
    const fleets: Fleet[] = [];
    after(async () => {
      for (const f of fleets) await f.teardown();
    });

    it('agents on each instance share the work; killing one instance mid-run loses nothing and every pipeline finishes', async () => {
      const jobs = Array.from({ length: 8 }, (_, i) => `j${i}:\n  script:\n    - for i in $(seq 1 20); do echo "j${i} $i"; sleep 0.05; done\n`).join('');
      const f = new Fleet({ '.gantry.yml': jobs }, await pgUrl());
      fleets.push(f);
      // B reaps A's agent's attempts if A is not back within a lease: the restart of a Node
      // process on a loaded 2-core machine can take longer than the 2 s lease of the other tests.
      const lease = { GANTRY_TEST_LEASE_MS: '8000' };
      const a = await f.startServer({ env: lease });
      const portB = await freePort();
      await f.startServer({ port: portB, env: lease });
      const urlB = `http://127.0.0.1:${portB}`;
      await f.startAgent({ concurrency: 2, name: 'on-a' });
      await f.startAgent({ concurrency: 2, name: 'on-b', server: urlB });
      await f.project();
      // Triggered through B: A's agent is woken by NOTIFY.
      const p = (await f.api<{ id: number }>('POST', '/projects/demo/pipelines', { ref: 'main' }, urlB)).body;
      await new Promise((r) => setTimeout(r, 400));
      await f.kill(a);
      // The agent of A keeps its jobs and reports them when an instance answers on A's address.
      await f.startServer({ env: lease });
      const done = await f.waitPipeline(p.id, undefined, 60_000);
      assert.equal(done.status, 'success', JSON.stringify(done));
      for (const j of done.jobs) {
        const lines = (await f.log(j.id)).toString().split('\n').filter((l) => l.startsWith(`${j.name} `));
        assert.equal(lines.length, 20, `${j.name}: ${lines.length} lines`);
        assert.equal(j.attempts, 1, `${j.name} was not retried`);
      }
    });

    it('GANTRY_MAX_RUNNING holds across instances: never more jobs at once in the whole fleet', async () => {
      const jobs = Array.from({ length: 8 }, (_, i) => `j${i}:\n  script:\n    - echo "start $(date +%s%N)" >> "$MARKS"\n    - sleep 0.3\n    - echo "end $(date +%s%N)" >> "$MARKS"\n`).join('');
      const f = new Fleet({ '.gantry.yml': jobs }, await pgUrl());
      fleets.push(f);
      const marks = f.sharedFile('marks');
      await f.startServer({ env: { GANTRY_MAX_RUNNING: '2' } });
      const portB = await freePort();
      await f.startServer({ port: portB, env: { GANTRY_MAX_RUNNING: '2' } });
      const urlB = `http://127.0.0.1:${portB}`;
      for (const server of [f.url, urlB, f.url, urlB]) await f.startAgent({ concurrency: 2, server });
      await f.project();
      const done = await f.waitPipeline((await f.trigger('demo', { MARKS: marks })).id, undefined, 60_000);
      assert.equal(done.status, 'success');
      const events = fs.readFileSync(marks, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([kind, t]) => ({ kind, t: BigInt(t!) }));
      events.sort((a, b) => (a.t < b.t ? -1 : 1));
      let busy = 0;
      let most = 0;
      for (const e of events) most = Math.max(most, (busy += e.kind === 'start' ? 1 : -1));
      assert.equal(events.length, 16);
      assert.equal(most, 2, 'two at once, never three, with eight slots free across the fleet');
    });
  });
}
