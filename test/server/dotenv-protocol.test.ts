// `artifacts:reports:dotenv` on the agent protocol, on SQLite (and PostgreSQL when reachable,
// required under CI=true), tested as a hostile agent would probe it: whatever breaks GitLab's rules
// (app/services/ci/parse_dotenv_artifact_service.rb: 20 variables, 5 KiB, keys of
// app/models/concerns/ci/has_variable.rb's form) is refused with one stable code and records
// nothing; the server stays up and the honest completion that follows is taken. The job a
// completion makes ready is offered the newest attempt's variables, only if it takes that job's
// artifacts.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { asJobId } from '../../src/domain/ids.js';
import { defaultSchedulerSettings } from '../../src/server/app.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sandbox, type Sandbox } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { startHarness, type Harness } from './harness.js';
import { ProtocolAgent, type Offer } from './protocol-agent.js';

const PIPELINE = `stages: [build, test]
build:
  stage: build
  retry: 1
  script: [echo]
  artifacts: { reports: { dotenv: build.env } }
lint:
  stage: build
  script: [echo]
test:
  stage: test
  needs: [build]
  script: [echo]
none:
  stage: test
  dependencies: []
  script: [echo]
`;

function dotenvSuite(label: string, openStore: (home: string) => Promise<Store>): void {
  describe(`dotenv on the agent protocol (${label})`, () => {
    let h: Harness;
    let repo: Sandbox;
    before(async () => {
      h = await startHarness(openStore, { deps: { settings: defaultSchedulerSettings({ leaseMs: 60_000 }) } });
      repo = sandbox({ '.gantry.yml': PIPELINE });
      assert.equal((await h.api('POST', '/projects', { name: 'app', gitUrl: repo.repo })).status, 201);
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    it("an agent's malformed or oversized dotenv (1 MB, 21 variables, keys with = or a newline, a NUL) is refused 400 GANTRY_E_DOTENV_INVALID and records nothing; the newest attempt's reach only the jobs that take its artifacts", async () => {
      const p = (await (await h.api('POST', '/projects/app/pipelines', { ref: 'main' })).json()) as { id: number; jobs: { id: number; name: string }[] };
      const agent = new ProtocolAgent(h.url, h.agent, 2);
      const first = await agent.take(2);
      const build = first.find((o) => o.jobName === 'build')!;
      const lint = first.find((o) => o.jobName === 'lint')!;
      const complete = (o: Offer, dotenv: unknown) =>
        agent.call('POST', `/attempts/${o.attemptId}/complete`, { json: { status: 'success', exitCode: 0, failureReason: null, logEnd: 0, dotenv }, attemptToken: o.attemptToken });
      const many = Array.from({ length: 21 }, (_, i) => ({ key: `K${i}`, value: 'v' }));
      const hostile: [string, unknown][] = [
        ['1 MB value', [{ key: 'BIG', value: 'x'.repeat(1_000_000) }]],
        ['past 5 KiB', [{ key: 'BIG', value: 'x'.repeat(5200) }]],
        ['21 variables', many],
        ['a key with =', [{ key: 'A=B', value: '1' }]],
        ['a key with a newline', [{ key: 'A\nB', value: '1' }]],
        ['a key with a NUL', [{ key: 'A\u0000', value: '1' }]],
        ['an empty key', [{ key: '', value: '1' }]],
        ['a key past 255', [{ key: 'K'.repeat(256), value: '1' }]],
        ['a value with a newline', [{ key: 'A', value: 'one\nB=two' }]],
        ['a value with a NUL', [{ key: 'A', value: 'a\u0000b' }]],
        ['a key given twice', [{ key: 'A', value: '1' }, { key: 'A', value: '2' }]],
      ];
      for (const [what, dotenv] of hostile) {
        const r = await complete(build, dotenv);
        assert.equal(r.status, 400, what);
        assert.equal((r.body.error as { code: string }).code, 'GANTRY_E_DOTENV_INVALID', what);
      }
      // Not the shape at all: the schema's answer.
      for (const shape of ['A=1', [{ key: 'A' }], [{ key: 'A', value: { x: 1 } }], [{ key: 'A', value: '1', extra: true }]]) {
        const r = await complete(build, shape);
        assert.equal(r.status, 400, JSON.stringify(shape));
        assert.equal((r.body.error as { code: string }).code, 'GANTRY_E_INVALID_REQUEST');
      }
      // Past the route's body limit: refused before it is parsed.
      assert.equal((await complete(build, [{ key: 'HUGE', value: 'x'.repeat(2 * 1024 * 1024) }])).status, 413);
      assert.equal((await h.store.dotenv.ofJob(asJobId(p.jobs.find((j) => j.name === 'build')!.id))), null, 'nothing recorded');

      // The attempt is still running: its honest completion (a failure, so it is retried) is taken.
      await agent.finish(build, 'failed', { dotenv: [{ key: 'V', value: 'first' }, { key: 'OLD', value: 'only-first' }] });
      await agent.finish(lint, 'success', { dotenv: [{ key: 'LINT', value: 'l' }] });
      const [retried] = await agent.take(1);
      assert.equal(retried!.jobName, 'build');
      // Exactly at the limits passes: 20 variables, 5120 bytes as KEY=VALUE lines (9 + 18 * 6 + 4,998 + 5).
      const atLimits = [{ key: 'V', value: 'second' }, ...Array.from({ length: 18 }, (_, i) => ({ key: `K${String(i).padStart(2, '0')}`, value: 'v' })), { key: 'PAD', value: 'x'.repeat(4998) }];
      await agent.finish(retried!, 'success', { dotenv: atLimits });

      const next = await agent.take(2);
      const test = next.find((o) => o.jobName === 'test')!;
      const none = next.find((o) => o.jobName === 'none')!;
      // needs: [build] gets build's newest attempt's (not attempt 1's OLD), not lint's; dependencies: [] gets none.
      const received = test.variables.dotenv as Record<string, string>;
      assert.equal(received.V, 'second');
      assert.equal(received.OLD, undefined);
      assert.equal(received.LINT, undefined);
      assert.equal(Object.keys(received).length, 20);
      assert.deepEqual(none.variables.dotenv, {});
      for (const o of next) await agent.finish(o, 'success');

      const buildJob = p.jobs.find((j) => j.name === 'build')!;
      const detail = (await (await h.api('GET', `/jobs/${buildJob.id}`)).json()) as { dotenv: { key: string; value: string }[]; attemptList: unknown[] };
      assert.equal(detail.attemptList.length, 2);
      assert.deepEqual(detail.dotenv, atLimits);
      const lintJob = p.jobs.find((j) => j.name === 'lint')!;
      assert.deepEqual(((await (await h.api('GET', `/jobs/${lintJob.id}`)).json()) as { dotenv: unknown }).dotenv, [{ key: 'LINT', value: 'l' }]);
    });
  });
}

dotenvSuite('sqlite', async (home) => openSqliteStore(`${home}/gantry.db`));
const postgres = await testPostgres('dotenv on the agent protocol on PostgreSQL');
if (postgres) dotenvSuite('postgres', async () => openPostgresStore(postgres.url, { schema: await postgres.freshSchema(), maxConnections: 4 }));
