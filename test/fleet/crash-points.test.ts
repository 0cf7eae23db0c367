// The server killed (SIGKILL) at each moment where the store and an agent disagree: right after a
// transaction commits and before its answer leaves (src/server/crash-points.ts). Restarted, the
// server and the agent that kept running must agree again: the pipeline finishes, every job runs
// exactly once, and every log holds each line its script printed, once and in order.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CRASH_POINTS } from '../../src/server/crash-points.js';
import { testPostgres } from '../helpers/postgres.js';
import { Fleet, type PipelineView } from './fleet-harness.js';

const PIPELINE = `stages: [build, test]
build:
  stage: build
  script:
    - for i in $(seq 1 30); do echo "build $i"; sleep 0.01; done
test:
  stage: test
  script:
    - for i in $(seq 1 30); do echo "test $i"; done
`;

function exited(fleet: Fleet, proc: { child: { exitCode: number | null; signalCode: string | null } }, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return resolve();
      if (Date.now() > end) return reject(new Error(`the server did not reach its crash point:\n${fleet.procs.map((p) => p.output().slice(-2000)).join('\n----\n')}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

function crashSuite(name: string, db: () => Promise<string | null>): void {
  describe(`the server killed at each crash point (${name})`, () => {
    const fleets: Fleet[] = [];
    after(async () => {
      for (const f of fleets) await f.teardown();
    });

    // delivery.answered is a webhook's: test/fleet/webhook-crash.test.ts.
    for (const point of CRASH_POINTS.filter((p) => p !== 'delivery.answered')) {
      it(`killed at ${point}: restarted, the pipeline finishes, each job once, each log whole`, async () => {
        const f = new Fleet({ '.gantry.yml': PIPELINE }, await db());
        fleets.push(f);
        // The project is made before the crash point is armed, so the first instance dies only there.
        await f.startServer();
        await f.project();
        await f.kill(f.procs[0]!);
        const armed = await f.startServer({ env: { GANTRY_TEST_CRASH_AT: point } });
        await f.startAgent();
        let triggered: PipelineView | null = null;
        try {
          triggered = await f.trigger();
        } catch {
          // The crash cut the trigger's answer: at its own point, or at a take the new pipeline
          // woke before the answer left. The pipeline is found in the list after the restart.
        }
        await exited(f, armed);
        assert.equal(armed.child.signalCode, 'SIGKILL');
        assert.match(armed.output(), new RegExp(`crash point ${point.replace('.', '\\.')} reached`), 'the server died at its crash point');
        await f.startServer();
        const id = triggered?.id ?? (await f.api<{ items: PipelineView[] }>('GET', '/projects/demo/pipelines')).body.items[0]!.id;
        const done = await f.waitPipeline(id);
        assert.equal(done.status, 'success', JSON.stringify(done));
        for (const job of done.jobs) {
          const attempts = await f.attempts(job.id);
          assert.deepEqual(
            attempts.map((a) => [a.number, a.status]),
            [[1, 'success']],
            `${job.name}: one attempt, never declared lost`,
          );
          const lines = (await f.log(job.id)).toString().split('\n').filter((l) => l.startsWith(`${job.name} `));
          assert.deepEqual(lines, Array.from({ length: 30 }, (_, i) => `${job.name} ${i + 1}`));
        }
      });
    }
  });
}

crashSuite('SQLite', async () => null);

const pg = await testPostgres('crash points on PostgreSQL');
if (pg) {
  crashSuite('PostgreSQL', async () => {
    const schema = await pg.freshSchema();
    return `${pg.url}?options=-c%20search_path%3D${schema}`;
  });
}
