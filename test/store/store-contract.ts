// The behaviour every Store must have, whatever the database. Each dialect's test file calls
// runStoreContract with a factory that returns a fresh, empty store.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { isGantryError } from '../../src/domain/errors.js';
import { asAttemptId, asJobId, asPipelineId, asProjectId, type ProjectId } from '../../src/domain/ids.js';
import type { PipelineSource } from '../../src/domain/status.js';
import type { CompiledJob } from '../../src/pipeline/types.js';
import type { Job, NewPipeline, Store } from '../../src/store/store.js';
import { asScheduleId, type NewSchedule } from '../../src/store/schedules.js';
import type { SchedulerSettings } from '../../src/store/fleet.js';
import { DEFAULT_PROJECT_ISOLATION } from '../../src/domain/isolation.js';
import { NO_PROJECT_RETENTION } from '../../src/domain/retention.js';

const SETTINGS: SchedulerSettings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };

/** What a new project starts with: no limits, auto-cancel of redundant pipelines on. */
const NEW_PROJECT_SETTINGS = {
  limits: { maxRunning: null, maxRunningPerPipeline: null },
  autoCancel: true,
  refFilters: { branches: null, tags: null },
  isolation: DEFAULT_PROJECT_ISOLATION,
  protectedRefs: { branches: [], tags: [] },
  forkIdTokens: false,
  publicBadges: false,
  forkApproval: 'all',
  fairShare: { weight: 1, urgentJobs: [] },
  retention: NO_PROJECT_RETENTION,
};

export interface ContractOptions {
  /**
   * Closes nothing; opens a second store over the same database as `store` (the caller closes
   * `store` first). Given for databases that outlive a connection (files, servers).
   */
  reopen?: (store: Store) => Promise<Store>;
}

export function compiledJob(name: string, stageIndex = 0, extra: Partial<CompiledJob> = {}): CompiledJob {
  return {
    name,
    baseName: name,
    stage: `stage${stageIndex}`,
    stageIndex,
    beforeScript: [],
    script: [`echo ${name}`],
    afterScript: [],
    variables: {},
    when: 'on_success',
    allowFailure: false,
    retry: { max: 0, when: ['always'], exitCodes: null },
    timeoutSeconds: null,
    tags: [],
    needs: [],
    needsMode: 'stage',
    artifactSources: [],
    artifacts: null,
    cache: [],
    resourceGroup: null,
    interruptible: false,
    environment: null,
    priority: 0,
    parallel: null,
    location: { file: '.gantry.yml', line: 1, column: 1 },
    ...extra,
  };
}

export function newPipeline(projectId: ProjectId, extra: Partial<NewPipeline> = {}): NewPipeline {
  return {
    projectId,
    ref: 'main',
    sha: 'a'.repeat(40),
    source: 'push',
    variables: {},
    fileVariables: {},
    pipelineFile: '.gantry.yml',
    jobs: [compiledJob('build', 0), compiledJob('test', 1)],
    createdAt: 1_000,
    ...extra,
  };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isGantryError(e) && e.code === code);
}

export function runStoreContract(label: string, open: () => Promise<Store>, options: ContractOptions = {}): void {
  describe(`Store contract: ${label}`, () => {
    const opened: Store[] = [];
    async function fresh(): Promise<Store> {
      const s = await open();
      opened.push(s);
      return s;
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    /** A store with a project and a pipeline of two jobs (build in stage 0, test in stage 1). */
    async function withPipeline(jobs?: CompiledJob[]) {
      const store = await fresh();
      const project = await store.ensureProject('demo', '/src/demo', 500);
      const created = await store.createPipeline(newPipeline(project.id, jobs ? { jobs } : {}));
      return { store, project, ...created };
    }

    describe('projects', () => {
      it('ensureProject creates a project once and returns the same one afterwards', async () => {
        const store = await fresh();
        const a = await store.ensureProject('demo', '/src/demo', 100);
        const b = await store.ensureProject('demo', '/elsewhere', 200);
        assert.equal(b.id, a.id);
        assert.deepEqual(b, { id: a.id, name: 'demo', gitUrl: '/src/demo', createdAt: 100, ...NEW_PROJECT_SETTINGS });
      });

      it('a project is found by id and by name, and an unknown one is null', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', 'https://git.example/demo.git', 1);
        assert.deepEqual(await store.getProject(p.id), p);
        assert.deepEqual(await store.getProject('demo'), p);
        assert.equal(await store.getProject('nope'), null);
        assert.equal(await store.getProject(asProjectId(9999)), null);
      });

      it('listProjects returns every project in creation order', async () => {
        const store = await fresh();
        const a = await store.ensureProject('b-second-name', '/b', 1);
        const b = await store.ensureProject('a-first-name', '/a', 2);
        assert.deepEqual(
          (await store.listProjects()).map((p) => p.id),
          [a.id, b.id],
        );
      });
    });

    describe('pipelines', () => {
      it('createPipeline stores the pipeline and every job as created, with no attempts', async () => {
        const { store, pipeline, jobs, attempts } = await withPipeline();
        assert.equal(pipeline.status, 'created');
        assert.equal(pipeline.startedAt, null);
        assert.equal(pipeline.finishedAt, null);
        assert.equal(pipeline.createdAt, 1_000);
        assert.deepEqual(
          jobs.map((j) => [j.name, j.status, j.attemptCount, j.stage, j.stageIndex]),
          [
            ['build', 'created', 0, 'stage0', 0],
            ['test', 'created', 0, 'stage1', 1],
          ],
        );
        assert.deepEqual(attempts, []);
        assert.deepEqual(await store.getPipeline(pipeline.id), { pipeline, jobs, attempts: [], children: [] });
      });

      it('a job spec and the pipeline variables round-trip exactly through JSON', async () => {
        const spec = compiledJob('deploy: [linux, x64]', 2, {
          script: ['echo "ünïcödé ✓"', 'printf "a\\tb\\n"', ''],
          variables: { A: '$B', EMPTY: '', QUOTE: '"\'`', NL: 'x\ny' },
          needs: [{ job: 'build', artifacts: true, optional: false }],
          needsMode: 'dag',
          allowFailure: { exitCodes: [3, 4] },
          retry: { max: 2, when: ['script_failure', 'runner_system_failure'], exitCodes: [137] },
          artifacts: { paths: ['dist/'], exclude: [], untracked: false, when: 'always', expireInSeconds: 3600, name: null },
          cache: [
            { key: { kind: 'files', files: ['package-lock.json'], prefix: null }, paths: ['node_modules'], untracked: false, policy: 'pull', when: 'on_success', fallbackKeys: [] },
          ],
          parallel: { index: 2, total: 3 },
          priority: -5,
          timeoutSeconds: 90,
        });
        const store = await fresh();
        const project = await store.ensureProject('demo', '/src/demo', 1);
        const variables = { CI_DEBUG: 'true', 'WEIRD KEY': 'v a l', EMOJI: '🚀', EMPTY: '' };
        const fileVariables = { GLOBAL: '${CI_COMMIT_SHA}' };
        const { pipeline, jobs } = await store.createPipeline(
          newPipeline(project.id, { jobs: [spec], variables, fileVariables, source: 'api', ref: 'refs/tags/v1.0' }),
        );
        const read = await store.getPipeline(pipeline.id);
        assert.deepEqual(read!.jobs[0]!.spec, spec);
        assert.deepEqual(jobs[0]!.spec, spec);
        assert.deepEqual(read!.pipeline.variables, variables);
        assert.deepEqual(read!.pipeline.fileVariables, fileVariables);
        assert.equal(read!.pipeline.source, 'api');
        assert.equal(read!.pipeline.ref, 'refs/tags/v1.0');
      });

      it('jobs come back ordered by stage, then in definition order', async () => {
        const defs = [
          compiledJob('lint', 1),
          compiledJob('deploy', 2),
          compiledJob('compile', 0),
          compiledJob('unit', 1),
          compiledJob('e2e', 1),
          compiledJob('prepare', 0),
        ];
        const { store, pipeline, jobs } = await withPipeline(defs);
        const expected = ['compile', 'prepare', 'lint', 'unit', 'e2e', 'deploy'];
        assert.deepEqual(
          jobs.map((j) => j.name),
          expected,
        );
        assert.deepEqual(
          (await store.getPipeline(pipeline.id))!.jobs.map((j) => j.name),
          expected,
        );
      });

      it('a pipeline for an unknown project is refused and nothing is stored', async () => {
        const store = await fresh();
        await rejectsWith(store.createPipeline(newPipeline(asProjectId(4242))), 'GANTRY_E_NOT_FOUND');
        assert.deepEqual((await store.listPipelines({})).items, []);
      });

      it('getPipeline of an unknown id is null', async () => {
        const store = await fresh();
        assert.equal(await store.getPipeline(asPipelineId(777)), null);
      });

      it('createPipeline of a large pipeline stores every job', async () => {
        const defs = Array.from({ length: 202 }, (_, i) => compiledJob(`job ${i}`, i % 5));
        const { store, pipeline } = await withPipeline(defs);
        const read = await store.getPipeline(pipeline.id);
        assert.equal(read!.jobs.length, 202);
        assert.equal(new Set(read!.jobs.map((j) => j.id)).size, 202);
      });
    });

    describe('listing pipelines', () => {
      async function many() {
        const store = await fresh();
        const a = await store.ensureProject('alpha', '/a', 1);
        const b = await store.ensureProject('beta', '/b', 1);
        const ids: number[] = [];
        const sources: PipelineSource[] = ['push', 'web', 'api', 'schedule'];
        for (let i = 0; i < 45; i++) {
          const { pipeline } = await store.createPipeline(
            newPipeline(i % 3 === 0 ? b.id : a.id, {
              ref: i % 2 === 0 ? 'main' : 'feature',
              source: sources[i % 4]!,
              createdAt: 1_000 + i,
              jobs: [compiledJob('only')],
            }),
          );
          ids.push(pipeline.id);
          if (i % 5 === 0) await store.movePipeline(pipeline.id, 'running', 2_000 + i);
        }
        return { store, a, b, ids };
      }

      it('pages newest first with a cursor, every pipeline exactly once', async () => {
        const { store, ids } = await many();
        const seen: number[] = [];
        let cursor = undefined as ReturnType<typeof asPipelineId> | undefined;
        let pages = 0;
        for (;;) {
          const page = await store.listPipelines({ limit: 10, ...(cursor !== undefined ? { beforeId: cursor } : {}) });
          pages++;
          seen.push(...page.items.map((p) => p.id));
          if (page.next === null) break;
          assert.equal(page.next, page.items[page.items.length - 1]!.id);
          cursor = page.next;
        }
        assert.equal(pages, 5);
        assert.deepEqual(seen, [...ids].reverse());
      });

      it('the default page is 20 and a page is never larger than 100', async () => {
        const { store } = await many();
        const first = await store.listPipelines({});
        assert.equal(first.items.length, 20);
        assert.notEqual(first.next, null);
        const huge = await store.listPipelines({ limit: 1000 });
        assert.equal(huge.items.length, 45);
        assert.equal(huge.next, null);
      });

      it('a page that ends exactly at the last pipeline has no next cursor', async () => {
        const { store } = await many();
        const page = await store.listPipelines({ limit: 45 });
        assert.equal(page.items.length, 45);
        assert.equal(page.next, null);
      });

      it('filters by project, status, ref and source, alone and together', async () => {
        const { store, a, b } = await many();
        const all = (await store.listPipelines({ limit: 100 })).items;
        const check = async (filter: Parameters<Store['listPipelines']>[0], pred: (p: (typeof all)[number]) => boolean) => {
          const got = (await store.listPipelines({ ...filter, limit: 100 })).items.map((p) => p.id);
          const want = all.filter(pred).map((p) => p.id);
          assert.ok(want.length > 0, 'the fixture covers the filter');
          assert.deepEqual(got, want);
        };
        await check({ projectId: a.id }, (p) => p.projectId === a.id);
        await check({ projectId: b.id }, (p) => p.projectId === b.id);
        await check({ status: 'running' }, (p) => p.status === 'running');
        await check({ ref: 'feature' }, (p) => p.ref === 'feature');
        await check({ source: 'web' }, (p) => p.source === 'web');
        await check({ projectId: a.id, ref: 'main', source: 'api' }, (p) => p.projectId === a.id && p.ref === 'main' && p.source === 'api');
        await check({ projectId: b.id, status: 'created' }, (p) => p.projectId === b.id && p.status === 'created');
        assert.deepEqual((await store.listPipelines({ ref: 'nope' })).items, []);
      });

      it('a filtered listing pages with the cursor too', async () => {
        const { store, a } = await many();
        const want = (await store.listPipelines({ projectId: a.id, limit: 100 })).items.map((p) => p.id);
        const first = await store.listPipelines({ projectId: a.id, limit: 7 });
        const second = await store.listPipelines({ projectId: a.id, limit: 7, beforeId: first.next! });
        assert.deepEqual([...first.items, ...second.items].map((p) => p.id), want.slice(0, 14));
      });
    });

    describe('pipeline moves', () => {
      it('a pipeline moves forward and records when it started and finished', async () => {
        const { store, pipeline } = await withPipeline();
        assert.equal(await store.movePipeline(pipeline.id, 'pending', 1_100), true);
        assert.equal(await store.movePipeline(pipeline.id, 'running', 1_200), true);
        assert.equal(await store.movePipeline(pipeline.id, 'success', 1_300), true);
        const p = (await store.getPipeline(pipeline.id))!.pipeline;
        assert.equal(p.status, 'success');
        assert.equal(p.startedAt, 1_200);
        assert.equal(p.finishedAt, 1_300);
      });

      it('a pipeline blocked on a manual job keeps its first start when it runs again', async () => {
        const { store, pipeline } = await withPipeline();
        assert.equal(await store.movePipeline(pipeline.id, 'running', 1_200), true);
        assert.equal(await store.movePipeline(pipeline.id, 'manual', 1_300), true);
        assert.equal(await store.movePipeline(pipeline.id, 'running', 1_400), true);
        const p = (await store.getPipeline(pipeline.id))!.pipeline;
        assert.equal(p.status, 'running');
        assert.equal(p.startedAt, 1_200);
        assert.equal(p.finishedAt, null);
      });

      it('a finished pipeline cannot move again, and the refusal changes nothing', async () => {
        const { store, pipeline } = await withPipeline();
        await store.movePipeline(pipeline.id, 'running', 1_200);
        await store.movePipeline(pipeline.id, 'failed', 1_300);
        const before = (await store.getPipeline(pipeline.id))!.pipeline;
        for (const to of ['running', 'success', 'canceled', 'created', 'pending', 'manual'] as const) {
          assert.equal(await store.movePipeline(pipeline.id, to, 9_999), false, `failed -> ${to}`);
        }
        assert.deepEqual((await store.getPipeline(pipeline.id))!.pipeline, before);
      });

      it('a running pipeline cannot go back to pending or created', async () => {
        const { store, pipeline } = await withPipeline();
        await store.movePipeline(pipeline.id, 'running', 1_200);
        assert.equal(await store.movePipeline(pipeline.id, 'pending', 1_300), false);
        assert.equal(await store.movePipeline(pipeline.id, 'created', 1_300), false);
        assert.equal((await store.getPipeline(pipeline.id))!.pipeline.status, 'running');
      });

      it('a running pipeline whose every job was skipped ends skipped, with a finish time', async () => {
        const { store, pipeline } = await withPipeline();
        await store.movePipeline(pipeline.id, 'running', 1_200);
        assert.equal(await store.movePipeline(pipeline.id, 'skipped', 1_300), true);
        const p = (await store.getPipeline(pipeline.id))!.pipeline;
        assert.equal(p.status, 'skipped');
        assert.equal(p.finishedAt, 1_300);
      });

      it('moving an unknown pipeline reports false', async () => {
        const store = await fresh();
        assert.equal(await store.movePipeline(asPipelineId(31337), 'running', 1), false);
      });
    });

    describe('job moves', () => {
      it('a job moves created -> pending -> running -> success with its timestamps and exit code', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[0]!.id;
        assert.equal(await store.moveJob(id, 'pending', { at: 1_100 }), true);
        assert.equal(await store.moveJob(id, 'running', { at: 1_200 }), true);
        assert.equal(await store.moveJob(id, 'success', { at: 1_300, exitCode: 0 }), true);
        const job = (await store.getPipeline(pipeline.id))!.jobs[0]!;
        assert.equal(job.status, 'success');
        assert.equal(job.startedAt, 1_200);
        assert.equal(job.finishedAt, 1_300);
        assert.equal(job.exitCode, 0);
        assert.equal(job.failureReason, null);
        assert.equal(job.createdAt, 1_000);
      });

      it('a failed job records its exit code and failure reason', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[1]!.id;
        await store.moveJob(id, 'pending', { at: 1 });
        await store.moveJob(id, 'running', { at: 2 });
        assert.equal(await store.moveJob(id, 'failed', { at: 3, exitCode: 2, failureReason: 'script_failure' }), true);
        const job = (await store.getPipeline(pipeline.id))!.jobs[1]!;
        assert.deepEqual([job.status, job.exitCode, job.failureReason, job.finishedAt], ['failed', 2, 'script_failure', 3]);
      });

      it('a move without exit code or reason leaves them as they were', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[0]!.id;
        await store.moveJob(id, 'pending', { at: 1, exitCode: 7, failureReason: 'unknown_failure' });
        await store.moveJob(id, 'running', { at: 2 });
        const job = (await store.getPipeline(pipeline.id))!.jobs[0]!;
        assert.deepEqual([job.exitCode, job.failureReason], [7, 'unknown_failure']);
        await store.moveJob(id, 'canceled', { at: 3, exitCode: null, failureReason: null });
        const after = (await store.getPipeline(pipeline.id))!.jobs[0]!;
        assert.deepEqual([after.exitCode, after.failureReason], [null, null]);
      });

      it('a finished job cannot be moved back to running', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[0]!.id;
        await store.moveJob(id, 'pending', { at: 1 });
        await store.moveJob(id, 'running', { at: 2 });
        await store.moveJob(id, 'success', { at: 3, exitCode: 0 });
        const before = (await store.getPipeline(pipeline.id))!.jobs[0]!;
        assert.equal(await store.moveJob(id, 'running', { at: 4 }), false);
        assert.equal(await store.moveJob(id, 'failed', { at: 4, exitCode: 1, failureReason: 'script_failure' }), false);
        assert.equal(await store.moveJob(id, 'pending', { at: 4 }), false);
        assert.deepEqual((await store.getPipeline(pipeline.id))!.jobs[0]!, before);
      });

      it('a job cannot skip pending on its way to running, and the refusal changes nothing', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[0]!.id;
        assert.equal(await store.moveJob(id, 'running', { at: 5 }), false);
        assert.equal(await store.moveJob(id, 'success', { at: 5, exitCode: 0 }), false);
        const job = (await store.getPipeline(pipeline.id))!.jobs[0]!;
        assert.deepEqual([job.status, job.startedAt, job.finishedAt, job.exitCode], ['created', null, null, null]);
      });

      it('a job canceled before it ran has a finish time and no start time', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[1]!.id;
        assert.equal(await store.moveJob(id, 'canceled', { at: 9, failureReason: 'canceled' }), true);
        const job = (await store.getPipeline(pipeline.id))!.jobs[1]!;
        assert.deepEqual([job.status, job.startedAt, job.finishedAt], ['canceled', null, 9]);
      });

      it('a manual job can be played (pending) or skipped, and only once', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[0]!.id;
        assert.equal(await store.moveJob(id, 'manual', { at: 1 }), true);
        assert.equal(await store.moveJob(id, 'pending', { at: 2 }), true);
        assert.equal(await store.moveJob(id, 'manual', { at: 3 }), false);
        assert.equal((await store.getPipeline(pipeline.id))!.jobs[0]!.status, 'pending');
      });

      it('of many concurrent moves of the same job, exactly one wins', async () => {
        const { store, pipeline, jobs } = await withPipeline();
        const id = jobs[0]!.id;
        await store.moveJob(id, 'pending', { at: 1 });
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.moveJob(id, 'running', { at: 100 + i })));
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        const job = (await store.getPipeline(pipeline.id))!.jobs[0]!;
        assert.equal(job.startedAt, 100 + winner);
        const ends = await Promise.all(
          (['success', 'failed', 'canceled', 'timed_out'] as const).flatMap((to) =>
            Array.from({ length: 10 }, () => store.moveJob(id, to, { at: 500, exitCode: to === 'success' ? 0 : 1 })),
          ),
        );
        assert.equal(ends.filter(Boolean).length, 1);
      });

      it('moving an unknown job reports false', async () => {
        const store = await fresh();
        assert.equal(await store.moveJob(asJobId(424242), 'pending', { at: 1 }), false);
      });
    });

    describe('attempts', () => {
      async function runningJob() {
        const ctx = await withPipeline();
        const id = ctx.jobs[0]!.id;
        await ctx.store.moveJob(id, 'pending', { at: 1_100 });
        return { ...ctx, jobId: id };
      }

      it('createAttempt numbers attempts from 1 and counts them on the job', async () => {
        const { store, pipeline, jobId } = await runningJob();
        const a1 = await store.createAttempt(jobId, 1_200);
        assert.deepEqual(a1, {
          id: a1.id,
          jobId,
          number: 1,
          status: 'pending',
          agent: null,
          leaseExpiresAt: null,
          queuedAt: 1_200,
          startedAt: null,
          finishedAt: null,
          exitCode: null,
          failureReason: null,
          logBytes: 0,
          coverage: null,
        });
        const a2 = await store.createAttempt(jobId, 1_300);
        assert.equal(a2.number, 2);
        assert.equal((await store.getPipeline(pipeline.id))!.jobs[0]!.attemptCount, 2);
      });

      it('concurrent createAttempt calls get distinct consecutive numbers', async () => {
        const { store, jobId } = await runningJob();
        const made = await Promise.all(Array.from({ length: 12 }, (_, i) => store.createAttempt(jobId, 2_000 + i)));
        assert.deepEqual(
          made.map((a) => a.number).sort((x, y) => x - y),
          Array.from({ length: 12 }, (_, i) => i + 1),
        );
        assert.deepEqual(
          (await store.listAttempts(jobId)).map((a) => a.number),
          Array.from({ length: 12 }, (_, i) => i + 1),
        );
      });

      it('an attempt for an unknown job is refused', async () => {
        const store = await fresh();
        await rejectsWith(store.createAttempt(asJobId(999), 1), 'GANTRY_E_NOT_FOUND');
      });

      it('a finished job gets no new attempt, and its attempt count stays', async () => {
        const { store, pipeline, jobId } = await runningJob();
        await store.moveJob(jobId, 'canceled', { at: 2 });
        await rejectsWith(store.createAttempt(jobId, 3), 'GANTRY_E_ILLEGAL_TRANSITION');
        assert.equal((await store.getPipeline(pipeline.id))!.jobs[0]!.attemptCount, 0);
        assert.deepEqual(await store.listAttempts(jobId), []);
      });

      it('startAttempt hands a pending attempt to an agent with a lease, once', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.createAttempt(jobId, 1_200);
        assert.equal(await store.startAttempt(a.id, 'agent-1', 1_300, 61_300), true);
        assert.equal(await store.startAttempt(a.id, 'agent-2', 1_400, 61_400), false);
        const got = await store.getAttempt(a.id);
        assert.deepEqual([got!.status, got!.agent, got!.startedAt, got!.leaseExpiresAt], ['running', 'agent-1', 1_300, 61_300]);
      });

      it('inOneTransaction commits a step\'s moves together: a start, then an end with the next attempt', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.inOneTransaction((m) => m.createAttempt(jobId, 1_200));
        const moved = await store.inOneTransaction(async (m) => {
          await m.startAttempt(a.id, 'local', 1_300, 99_999);
          return m.moveJob(jobId, 'running', { at: 1_300 });
        });
        assert.equal(moved, true);
        const next = await store.inOneTransaction(async (m) => {
          await m.finishAttempt(a.id, { status: 'failed', at: 1_500, exitCode: 1, failureReason: 'script_failure', logBytes: 10 });
          return m.createAttempt(jobId, 1_500);
        });
        assert.equal(next.number, 2);
        assert.deepEqual(
          (await store.listAttempts(jobId)).map((x) => [x.number, x.status]),
          [
            [1, 'failed'],
            [2, 'pending'],
          ],
        );
        assert.equal((await store.getJob(jobId))!.status, 'running');
      });

      it('inOneTransaction is all or nothing: a step that throws leaves none of its moves', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.createAttempt(jobId, 1_200);
        await assert.rejects(
          store.inOneTransaction(async (m) => {
            await m.startAttempt(a.id, 'local', 1_300, 99_999);
            await m.moveJob(jobId, 'running', { at: 1_300 });
            throw new Error('the step failed');
          }),
          /the step failed/,
        );
        assert.equal((await store.getAttempt(a.id))!.status, 'pending');
        assert.equal((await store.getJob(jobId))!.status, 'pending');
      });

      it('finishAttempt records exit code, failure reason, log bytes and finish time', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.createAttempt(jobId, 1_200);
        await store.startAttempt(a.id, 'local', 1_300, 99_999);
        assert.equal(
          await store.finishAttempt(a.id, { status: 'failed', at: 1_500, exitCode: 137, failureReason: 'script_failure', logBytes: 4_096 }),
          true,
        );
        const got = await store.getAttempt(a.id);
        assert.deepEqual(
          [got!.status, got!.finishedAt, got!.exitCode, got!.failureReason, got!.logBytes],
          ['failed', 1_500, 137, 'script_failure', 4_096],
        );
      });

      it('a late duplicate finishAttempt is refused and changes nothing', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.createAttempt(jobId, 1_200);
        await store.startAttempt(a.id, 'local', 1_300, 99_999);
        await store.finishAttempt(a.id, { status: 'success', at: 1_500, exitCode: 0, failureReason: null, logBytes: 10 });
        const before = await store.getAttempt(a.id);
        assert.equal(
          await store.finishAttempt(a.id, { status: 'failed', at: 1_600, exitCode: 1, failureReason: 'agent_lost', logBytes: 5 }),
          false,
        );
        assert.equal(
          await store.finishAttempt(a.id, { status: 'success', at: 1_700, exitCode: 0, failureReason: null, logBytes: 50 }),
          false,
        );
        assert.deepEqual(await store.getAttempt(a.id), before);
      });

      it('a pending attempt can fail or be canceled but cannot succeed without running', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.createAttempt(jobId, 1_200);
        assert.equal(await store.finishAttempt(a.id, { status: 'success', at: 2, exitCode: 0, failureReason: null, logBytes: 0 }), false);
        assert.equal((await store.getAttempt(a.id))!.status, 'pending');
        assert.equal(
          await store.finishAttempt(a.id, { status: 'failed', at: 3, exitCode: null, failureReason: 'runner_system_failure', logBytes: 0 }),
          true,
        );
        const b = await store.createAttempt(jobId, 1_300);
        assert.equal(await store.finishAttempt(b.id, { status: 'canceled', at: 4, exitCode: null, failureReason: 'canceled', logBytes: 0 }), true);
        assert.equal(await store.startAttempt(b.id, 'late-agent', 5, 6), false);
      });

      it('of concurrent finishes of one attempt, exactly one wins', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.createAttempt(jobId, 1_200);
        await store.startAttempt(a.id, 'local', 1_300, 99_999);
        const results = await Promise.all(
          (['success', 'failed', 'canceled', 'timed_out'] as const).flatMap((status) =>
            Array.from({ length: 8 }, (_, i) =>
              store.finishAttempt(a.id, { status, at: 2_000 + i, exitCode: 0, failureReason: null, logBytes: i }),
            ),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
      });

      it('recorded log bytes never move backwards, not even through finishAttempt', async () => {
        const { store, jobId } = await runningJob();
        const a = await store.createAttempt(jobId, 1_200);
        await store.startAttempt(a.id, 'local', 1_300, 99_999);
        await store.recordLogBytes(a.id, 100);
        await store.recordLogBytes(a.id, 50);
        assert.equal((await store.getAttempt(a.id))!.logBytes, 100);
        await store.recordLogBytes(a.id, 300);
        await store.finishAttempt(a.id, { status: 'success', at: 2, exitCode: 0, failureReason: null, logBytes: 200 });
        assert.equal((await store.getAttempt(a.id))!.logBytes, 300);
        // Bytes may become durable after the attempt ended.
        await store.recordLogBytes(a.id, 400);
        assert.equal((await store.getAttempt(a.id))!.logBytes, 400);
      });

      it('getAttempt of an unknown id is null and listAttempts of a job without attempts is empty', async () => {
        const { store, jobId } = await runningJob();
        assert.equal(await store.getAttempt(asAttemptId(123456)), null);
        assert.deepEqual(await store.listAttempts(jobId), []);
      });

      it('getPipeline lists attempts by job (in job order), then by number', async () => {
        const defs = [compiledJob('late', 1), compiledJob('early', 0)];
        const { store, pipeline, jobs } = await withPipeline(defs);
        const [early, late] = jobs;
        assert.equal(early!.name, 'early');
        for (const j of [late!, early!]) await store.moveJob(j.id, 'pending', { at: 1 });
        await store.createAttempt(late!.id, 10);
        await store.createAttempt(early!.id, 11);
        await store.createAttempt(late!.id, 12);
        await store.createAttempt(early!.id, 13);
        const got = (await store.getPipeline(pipeline.id))!.attempts.map((a) => [a.jobId, a.number]);
        assert.deepEqual(got, [
          [early!.id, 1],
          [early!.id, 2],
          [late!.id, 1],
          [late!.id, 2],
        ]);
        const jobsAfter = (await store.getPipeline(pipeline.id))!.jobs;
        assert.deepEqual(jobsAfter.map((j) => j.attemptCount), [2, 2]);
      });
    });

    describe('fleet logs', () => {
      /** A fleet attempt running under token `tok`, as the agent routes make one. */
      async function runningAttempt() {
        const store = await fresh();
        const project = await store.ensureProject('demo', '/src/demo', 500);
        const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet' }));
        const settings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };
        const fleet = store.fleet;
        await fleet.startPipeline(pipeline.id, 1_100, settings);
        const agent = await fleet.registerAgent({ name: 'a', tags: [], concurrency: 1, version: 't', platform: {} }, 'agent-hash', 1_100);
        await fleet.openSession(agent.id, 's', agent, 1_100, settings);
        const [offer] = await fleet.takeAttempts(agent, 1, 1_200, settings, ['tok']);
        assert.ok(offer, 'the first job is offered');
        const id = offer!.attempt.id;
        assert.equal((await fleet.startAttempt(agent.id, id, 'tok', 'a', 1_300, settings)).kind, 'ok');
        return { store, fleet, id, settings };
      }

      it('appended pieces read back with their offsets and arrival times, a finished log is listed for compaction once, and compaction swaps rows for the object in one step', async () => {
        const { fleet, id, settings } = await runningAttempt();
        assert.equal((await fleet.appendLog(id, 'tok', 0, Buffer.from('hello '), 6, 1_400, 1_500)).kind, 'ok');
        assert.equal((await fleet.appendLog(id, 'tok', 6, Buffer.from([0, 255, 10]), 9, 1_600, 1_700)).kind, 'ok');
        const r = await fleet.readLogPieces(id, 7, 1 << 20);
        assert.deepEqual(r, {
          kind: 'chunks',
          pieces: [{ offset: 6, end: 9, at: 1_600, data: Buffer.from([0, 255, 10]) }],
        });
        const one = await fleet.readLogPieces(id, 0, 1);
        assert.equal(one!.kind === 'chunks' ? one!.pieces.length : -1, 1, 'maxBytes stops after whole pieces');
        const s = await fleet.logState(id);
        assert.deepEqual([s!.status, s!.received, s!.object, s!.number], ['running', 9, null, 1]);
        assert.deepEqual(await fleet.logsToCompact(10), [], 'a running attempt is not compacted');
        assert.equal(await fleet.finishLogCompaction(id, 'f'.repeat(64)), false);
        const done = await fleet.completeAttempt(id, 'tok', { status: 'success', exitCode: 0, failureReason: null, logEnd: 9 }, 1_800, settings);
        assert.equal(done.kind, 'ok');
        assert.deepEqual(await fleet.logsToCompact(10), [id]);
        assert.equal(await fleet.finishLogCompaction(id, 'a'.repeat(64)), true);
        assert.equal(await fleet.finishLogCompaction(id, 'b'.repeat(64)), false, 'once');
        assert.deepEqual(await fleet.readLogPieces(id, 0, 1 << 20), { kind: 'object', sha256: 'a'.repeat(64) });
        assert.deepEqual(await fleet.logsToCompact(10), []);
        assert.deepEqual((await fleet.logState(id))!.object, 'a'.repeat(64));
        assert.equal(await fleet.readLogPieces(asAttemptId(999_999), 0, 10), null);
      });

      it('a read from any offset starts at the piece holding it and runs on across many rows, up to maxBytes', async () => {
        const { fleet, id } = await runningAttempt();
        // 40 pieces of 10 bytes: piece k holds [10k, 10k + 10).
        for (let k = 0; k < 40; k++) assert.equal((await fleet.appendLog(id, 'tok', 10 * k, Buffer.alloc(10, k), 10 * k + 10, 2_000 + k, 3_000)).kind, 'ok');
        const starts = async (from: number, max: number) => {
          const r = await fleet.readLogPieces(id, from, max);
          return r!.kind === 'chunks' ? r!.pieces.map((p) => p.offset) : [];
        };
        assert.deepEqual(await starts(0, 25), [0, 10, 20]);
        assert.deepEqual(await starts(215, 1), [210], 'inside a piece: that piece');
        assert.deepEqual(await starts(220, 1), [220], 'at a boundary: the piece starting there');
        assert.deepEqual(await starts(5, 1 << 20), Array.from({ length: 40 }, (_, k) => 10 * k), 'more rows than one statement reads');
        assert.deepEqual(await starts(399, 1 << 20), [390]);
        assert.deepEqual(await starts(400, 1 << 20), [], 'at the end: nothing');
      });

      it('appends of many attempts at once (shared group commits) are each decided as if alone, and the log event carries the appended pieces', async () => {
        const store = await fresh();
        const project = await store.ensureProject('demo', '/src/demo', 500);
        const jobs = Array.from({ length: 6 }, (_, i) => compiledJob(`j${i}`, 0));
        const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs }));
        const settings = { leaseMs: 30_000, offerTtlMs: 10_000, maxRunning: null, agentLostRetries: 1, killGraceMs: 10_000 };
        const fleet = store.fleet;
        await fleet.startPipeline(pipeline.id, 1_100, settings);
        const agent = await fleet.registerAgent({ name: 'a', tags: [], concurrency: 6, version: 't', platform: {} }, 'agent-hash', 1_100);
        await fleet.openSession(agent.id, 's', agent, 1_100, settings);
        const tokens = jobs.map((_, i) => `tok${i}`);
        const offers = await fleet.takeAttempts(agent, 6, 1_200, settings, tokens);
        assert.equal(offers.length, 6);
        const ids = offers.map((o) => o.attempt.id);
        for (const [i, id] of ids.entries()) assert.equal((await fleet.startAttempt(agent.id, id, tokens[i]!, 'a', 1_300, settings)).kind, 'ok');
        const seen = new Map<number, Buffer[]>();
        fleet.events.on('log', (a, received, pieces) => {
          assert.ok(pieces, 'this instance appended: the pieces come with the event');
          assert.equal(pieces[pieces.length - 1]!.end, received);
          seen.set(a, [...(seen.get(a) ?? []), ...pieces.map((p) => p.data!)]);
        });
        const text = (b: Buffer | undefined) => b?.toString();
        // Every attempt runs the same story at once, each step waiting for the one before it.
        const outcomes = await Promise.all(
          ids.map(async (id, i) => {
            const t = tokens[i]!;
            const out: string[] = [];
            const step = async (token: string, start: number, data: string, end = start + data.length) => {
              const r = await fleet.appendLog(id, token, start, Buffer.from(data), end, 1_400 + start, 1_500);
              out.push(r.kind === 'ok' || r.kind === 'gap' ? `${r.kind} ${r.received}` : r.kind);
            };
            await Promise.all([step(t, 0, 'hello '), step(t, 0, 'hello ')]); // sent twice at once: stored once
            await step(t, 3, 'lo world'); // overlaps: only [6, 11) is new
            await step(t, 20, 'x'); // a gap
            await step('stale', 11, '!'); // another token
            await step(t, 11, '!\n');
            return out;
          }),
        );
        for (const [i, id] of ids.entries()) {
          assert.deepEqual(outcomes[i], ['ok 6', 'ok 6', 'ok 11', 'gap 11', 'fenced', 'ok 13'], `attempt ${id}`);
          const r = await fleet.readLogPieces(id, 0, 1 << 20);
          assert.deepEqual(
            r!.kind === 'chunks' ? r!.pieces.map((p) => [p.offset, p.end, text(p.data ?? undefined)]) : r,
            [[0, 6, 'hello '], [6, 11, 'world'], [11, 13, '!\n']],
          );
          assert.equal(Buffer.concat(seen.get(id) ?? []).toString(), 'hello world!\n', 'the events carried every new byte once');
        }
        // On PostgreSQL an append that continues the log is one statement, the rest are decided
        // under the locks: the six last steps at least went the first way.
        const continued = (fleet as unknown as { continuedAppends?: number }).continuedAppends ?? 0;
        if (store.dialect === 'postgres') assert.ok(continued >= 6, `${continued} appends in one statement`);
        else assert.equal(continued, 0);
      });

      it('the size limit replaces the chunks wholly between the head and the tail by one hole, and keeps extending it', async () => {
        const { fleet, id } = await runningAttempt();
        const limit = { headBytes: 100, tailBytes: 100 };
        for (let at = 0; at < 1_000; at += 50) {
          assert.equal((await fleet.appendLog(id, 'tok', at, Buffer.alloc(50, at / 50), at + 50, 2_000 + at, 3_000, limit)).kind, 'ok');
        }
        const r = await fleet.readLogPieces(id, 0, 1 << 20);
        assert.equal(r!.kind, 'chunks');
        const pieces = r!.kind === 'chunks' ? r!.pieces : [];
        assert.deepEqual(
          pieces.map((p) => [p.offset, p.end, p.data === null ? 'hole' : p.data[0]]),
          [[0, 50, 0], [50, 100, 1], [100, 900, 'hole'], [900, 950, 18], [950, 1_000, 19]],
        );
        assert.equal((await fleet.logState(id))!.received, 1_000, 'offsets keep counting');
      });
    });

    describe('server: projects by name, jobs by id', () => {
      it('createProject refuses a taken name and stores nothing, and concurrent creations of one name make one project', async () => {
        const store = await fresh();
        const a = await store.createProject('api', 'https://git.example/api.git', 10);
        assert.deepEqual(a, { id: a!.id, name: 'api', gitUrl: 'https://git.example/api.git', createdAt: 10, ...NEW_PROJECT_SETTINGS });
        assert.equal(await store.createProject('api', '/other', 11), null);
        const many = await Promise.all(Array.from({ length: 8 }, (_, i) => store.createProject('race', `/r${i}`, 20 + i)));
        assert.equal(many.filter((p) => p !== null).length, 1);
        assert.equal((await store.listProjects()).length, 2);
      });

      it('pageProjects pages oldest first with a cursor, every project exactly once', async () => {
        const store = await fresh();
        const ids: number[] = [];
        for (let i = 0; i < 7; i++) ids.push((await store.createProject(`p${i}`, `/p${i}`, i))!.id);
        const seen: number[] = [];
        let after: ProjectId | undefined;
        for (;;) {
          const page = await store.pageProjects({ limit: 3, afterId: after });
          seen.push(...page.items.map((p) => p.id));
          if (page.next === null) break;
          after = page.next;
        }
        assert.deepEqual(seen, ids);
        assert.equal((await store.pageProjects({ limit: 7 })).next, null);
      });

      it('getJob finds a job by id, and an unknown id is null', async () => {
        const { store, jobs } = await withPipeline();
        assert.deepEqual(await store.getJob(jobs[1]!.id), jobs[1]);
        assert.equal(await store.getJob(asJobId(999_999)), null);
      });

      it('getPipelineOnly is the pipeline of getPipeline without its jobs, and an unknown id is null', async () => {
        const { store, pipeline } = await withPipeline();
        assert.deepEqual(await store.getPipelineOnly(pipeline.id), (await store.getPipeline(pipeline.id))!.pipeline);
        assert.equal(await store.getPipelineOnly(asPipelineId(999_999)), null);
      });

      it('ping answers on an open store', async () => {
        const store = await fresh();
        await store.ping();
      });
    });

    describe('server: tokens', () => {
      it('a token is stored by its hash once, found by it, and counted by kind', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        assert.equal(await store.addToken({ hash: 'h1', kind: 'admin', projectId: null, createdAt: 5 }), true);
        assert.equal(await store.addToken({ hash: 'h1', kind: 'agent', projectId: null, createdAt: 6 }), false);
        assert.equal(await store.addToken({ hash: 'h2', kind: 'api', projectId: p.id, createdAt: 7 }), true);
        const t = await store.findToken('h1');
        assert.deepEqual(t, { id: t!.id, hash: 'h1', kind: 'admin', projectId: null, createdAt: 5, lastUsedAt: null, description: null, userId: null, expiresAt: null, readOnly: false, projects: null });
        assert.equal((await store.findToken('h2'))!.projectId, p.id);
        assert.equal(await store.findToken('nope'), null);
        assert.equal(await store.countTokens('admin'), 1);
        assert.equal(await store.countTokens('agent'), 0);
      });

      it('touchToken records a use at most once per interval', async () => {
        const store = await fresh();
        await store.addToken({ hash: 'h', kind: 'admin', projectId: null, createdAt: 1 });
        const id = (await store.findToken('h'))!.id;
        await store.touchToken(id, 1_000, 60_000);
        assert.equal((await store.findToken('h'))!.lastUsedAt, 1_000);
        await store.touchToken(id, 30_000, 60_000);
        assert.equal((await store.findToken('h'))!.lastUsedAt, 1_000);
        await store.touchToken(id, 61_000, 60_000);
        assert.equal((await store.findToken('h'))!.lastUsedAt, 61_000);
      });
    });

    describe('server: trigger tokens', () => {
      it('a trigger token belongs to its project, is listed without other kinds and revoked once', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const q = await store.ensureProject('other', '/o', 1);
        await store.addToken({ hash: 'admin', kind: 'admin', projectId: null, createdAt: 1 });
        const t = await store.createTriggerToken(p.id, 'th', 'from jenkins', 10);
        assert.deepEqual(t, { id: t.id, hash: 'th', kind: 'trigger', projectId: p.id, createdAt: 10, lastUsedAt: null, description: 'from jenkins', userId: null, expiresAt: null, readOnly: false, projects: null });
        await store.createTriggerToken(q.id, 'th2', null, 11);
        assert.deepEqual((await store.listTriggerTokens(p.id)).map((x) => x.hash), ['th']);
        assert.deepEqual(await store.findToken('th'), t);
        assert.equal(await store.deleteTriggerToken(q.id, t.id), false);
        assert.equal(await store.deleteTriggerToken(p.id, t.id), true);
        assert.equal(await store.deleteTriggerToken(p.id, t.id), false);
        assert.equal(await store.findToken('th'), null);
        assert.ok(await store.findToken('admin'));
      });
    });

    describe('schedules', () => {
      function schedule(projectId: ProjectId, extra: Partial<NewSchedule> = {}): NewSchedule {
        return { projectId, description: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin', ref: 'main', variables: { A: '1' }, active: true, nextRunAt: 10_000, at: 5, ...extra };
      }

      it('a schedule is created, read, listed, replaced and deleted within its project', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const q = await store.ensureProject('other', '/o', 1);
        const s = await store.schedules.createSchedule(schedule(p.id));
        assert.deepEqual(s, {
          id: s.id, projectId: p.id, description: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin', ref: 'main', variables: { A: '1' },
          active: true, nextRunAt: 10_000, lastFireAt: null, lastPipelineId: null, lastError: null, createdAt: 5, updatedAt: 5,
        });
        assert.deepEqual(await store.schedules.getSchedule(p.id, s.id), s);
        assert.equal(await store.schedules.getSchedule(q.id, s.id), null);
        const u = await store.schedules.updateSchedule(p.id, s.id, { ...schedule(p.id), active: false, nextRunAt: null, ref: 'dev', at: 9 });
        assert.deepEqual([u!.active, u!.nextRunAt, u!.ref, u!.updatedAt, u!.createdAt], [false, null, 'dev', 9, 5]);
        assert.equal(await store.schedules.updateSchedule(q.id, s.id, schedule(q.id)), null);
        assert.deepEqual((await store.schedules.listSchedules(p.id)).map((x) => x.id), [s.id]);
        assert.equal(await store.schedules.deleteSchedule(q.id, s.id), false);
        assert.equal(await store.schedules.deleteSchedule(p.id, s.id), true);
        assert.deepEqual(await store.schedules.listSchedules(p.id), []);
      });

      it('only active schedules whose firing has come are due, earliest first', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const late = await store.schedules.createSchedule(schedule(p.id, { nextRunAt: 200 }));
        const early = await store.schedules.createSchedule(schedule(p.id, { nextRunAt: 100 }));
        await store.schedules.createSchedule(schedule(p.id, { nextRunAt: 300 }));
        await store.schedules.createSchedule(schedule(p.id, { nextRunAt: null, active: false }));
        assert.deepEqual((await store.schedules.dueSchedules(250, 10)).map((x) => x.id), [early.id, late.id]);
      });

      it('of many claims of one firing exactly one wins, and it records the firing', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const s = await store.schedules.createSchedule(schedule(p.id, { nextRunAt: 100 }));
        const won = await Promise.all(Array.from({ length: 8 }, () => store.schedules.claimFiring(s.id, 100, 200, 5_000)));
        assert.equal(won.filter(Boolean).length, 1);
        assert.equal((await store.schedules.getSchedule(p.id, s.id))!.nextRunAt, 200);
        assert.deepEqual(await store.schedules.getFiring(s.id, 100), {
          scheduleId: s.id, fireAt: 100, status: 'claimed', claimedUntil: 5_000, attempts: 1, pipelineId: null, error: null,
        });
        // An edited schedule (its next_run_at moved) cannot be claimed at the old time.
        assert.equal(await store.schedules.claimFiring(s.id, 100, 300, 5_000), false);
        assert.equal(await store.schedules.claimFiring(asScheduleId(999), 100, 300, 5_000), false);
      });

      it('a firing whose claim ran out is taken over by one instance, then finished once', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const { pipeline } = await store.createPipeline(newPipeline(p.id));
        const s = await store.schedules.createSchedule(schedule(p.id, { nextRunAt: 100 }));
        assert.equal(await store.schedules.claimFiring(s.id, 100, 200, 1_000), true);
        assert.deepEqual(await store.schedules.staleFirings(999, 10), []);
        const [stale] = await store.schedules.staleFirings(1_001, 10);
        assert.equal(stale!.fireAt, 100);
        const took = await Promise.all([store.schedules.reclaimFiring(stale!, 2_000), store.schedules.reclaimFiring(stale!, 2_000)]);
        assert.deepEqual(took.sort(), [false, true]);
        await store.schedules.postponeFiring(s.id, 100, 3_000, 'git fetch failed');
        assert.deepEqual([(await store.schedules.getFiring(s.id, 100))!.claimedUntil, (await store.schedules.getFiring(s.id, 100))!.attempts], [3_000, 2]);
        await store.schedules.finishFiring(s.id, 100, { kind: 'created', pipelineId: pipeline.id });
        await store.schedules.finishFiring(s.id, 100, { kind: 'failed', error: 'late duplicate' });
        const f = await store.schedules.getFiring(s.id, 100);
        assert.deepEqual([f!.status, f!.pipelineId, f!.error], ['created', pipeline.id, null]);
        const after = await store.schedules.getSchedule(p.id, s.id);
        assert.deepEqual([after!.lastFireAt, after!.lastPipelineId, after!.lastError], [100, pipeline.id, null]);
        assert.deepEqual(await store.schedules.staleFirings(1e12, 10), []);
        assert.equal(await store.schedules.pruneFirings(101), 1);
        assert.equal(await store.schedules.getFiring(s.id, 100), null);
      });
    });

    describe('the take: which pending attempts an agent is offered, and in which order', () => {
      const at = 200_000;
      /** A started fleet pipeline of `jobs` in a project of `name` (made if needed); the job ids by name. */
      async function queued(store: Store, name: string, jobs: CompiledJob[]) {
        const project = await store.ensureProject(name, `/src/${name}`, 1);
        const { pipeline, jobs: made } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs }));
        await store.fleet.startPipeline(pipeline.id, at, SETTINGS);
        return { project, pipeline, id: new Map(made.map((j) => [j.name, j.id as number])) };
      }
      async function agentOf(store: Store, tags: string[] = [], concurrency = 8) {
        const agent = await store.fleet.registerAgent({ name: `box-${tags.join('-')}`, tags, concurrency, version: 't', platform: {} }, `hash-${tags.join('-')}`, at);
        await store.fleet.openSession(agent.id, `s-${tags.join('-')}`, agent, at, SETTINGS);
        return agent;
      }
      let tokens = 0;
      /** The names of the jobs offered by one take of `slots`, in the offers' order. */
      async function take(store: Store, agent: Awaited<ReturnType<typeof agentOf>>, slots: number, settings = SETTINGS): Promise<string[]> {
        const offers = await store.fleet.takeAttempts(agent, slots, at + 1, settings, Array.from({ length: slots }, () => `tok-${++tokens}`));
        return offers.map((o) => o.job.name);
      }

      it('higher priority first, then queue order; only attempts whose tags the agent has; each attempt offered once', async () => {
        const store = await fresh();
        await queued(store, 'demo', [
          compiledJob('a', 0),
          compiledJob('b', 0, { priority: 10 }),
          compiledJob('gpu', 0, { tags: ['gpu'] }),
          compiledJob('c', 0),
          compiledJob('d', 0, { priority: 10 }),
        ]);
        const plain = await agentOf(store);
        assert.deepEqual(await take(store, plain, 3), ['b', 'd', 'a']);
        assert.deepEqual(await take(store, plain, 3), ['c'], 'what is on offer is not offered again; gpu is not for this agent');
        assert.deepEqual(await take(store, plain, 3), []);
        assert.deepEqual(await take(store, await agentOf(store, ['gpu']), 3), ['gpu']);
      });

      it("fair share: one project's thousand queued attempts do not starve another's one, which goes next", async () => {
        const store = await fresh();
        await queued(store, 'big', Array.from({ length: 1000 }, (_, i) => compiledJob(`big-${i}`, 0)));
        await queued(store, 'small', [compiledJob('small-0', 0)]);
        const agent = await agentOf(store);
        // Both have nothing running: the one waiting longest first; then the one with fewer running.
        assert.deepEqual(await take(store, agent, 1), ['big-0']);
        assert.deepEqual(await take(store, agent, 1), ['small-0']);
        assert.deepEqual(await take(store, agent, 2), ['big-1', 'big-2']);
        // In one take of several slots, alike.
        const again = await fresh();
        await queued(again, 'big', Array.from({ length: 20 }, (_, i) => compiledJob(`big-${i}`, 0)));
        await queued(again, 'small', [compiledJob('small-0', 0), compiledJob('small-1', 0)]);
        assert.deepEqual(await take(again, await agentOf(again), 5), ['big-0', 'small-0', 'big-1', 'small-1', 'big-2']);
      });

      it('fair share with one slot: an agent that asks again only once its job has ended goes round the projects', async () => {
        const store = await fresh();
        await queued(store, 'big', Array.from({ length: 30 }, (_, i) => compiledJob(`big-${i}`, 0)));
        await queued(store, 'small', [compiledJob('small-0', 0), compiledJob('small-1', 0)]);
        const agent = await agentOf(store, [], 1);
        const order: string[] = [];
        for (let n = 0; n < 6; n++) {
          const hash = `one-${n}`;
          const [offer] = await store.fleet.takeAttempts(agent, 1, at + 10 * n, SETTINGS, [hash]);
          order.push(offer!.job.name);
          // Started and ended before the next ask: every project has nothing running then.
          assert.equal((await store.fleet.startAttempt(agent.id, offer!.attempt.id, hash, 'box', at + 10 * n + 1, SETTINGS)).kind, 'ok');
          const done = await store.fleet.completeAttempt(offer!.attempt.id, hash, { status: 'success', exitCode: 0, failureReason: null, logEnd: 0 }, at + 10 * n + 2, SETTINGS);
          assert.equal(done.kind, 'ok');
        }
        assert.deepEqual(order, ['big-0', 'small-0', 'big-1', 'small-1', 'big-2', 'big-3']);
      });

      it('a delayed job waits scheduled until its time, then is queued once, by whichever instance asks; play and unschedule move it', async () => {
        const store = await fresh();
        const { pipeline, id } = await queued(store, 'demo', [
          compiledJob('soon', 0, { when: 'delayed', startInSeconds: 60 }),
          compiledJob('later', 0, { when: 'delayed', startInSeconds: 3600 }),
          compiledJob('held', 0, { when: 'delayed', startInSeconds: 3600 }),
        ]);
        const jobs = async () => new Map((await store.getPipeline(pipeline.id))!.jobs.map((j) => [j.name, j]));
        let now = await jobs();
        assert.deepEqual([now.get('soon')!.status, now.get('soon')!.scheduledAt], ['scheduled', at + 60_000]);
        assert.equal(now.get('later')!.scheduledAt, at + 3_600_000);
        assert.equal((await store.getPipeline(pipeline.id))!.pipeline.status, 'scheduled', "GitLab's status while only delayed jobs wait");
        const agent = await agentOf(store);
        assert.deepEqual(await take(store, agent, 3), [], 'a scheduled job is offered to no one');
        assert.equal(await store.fleet.promoteDueJobs(at + 59_999), 0, 'not before its time');
        // Two instances asking at once: the job is queued once.
        const both = await Promise.all([store.fleet.promoteDueJobs(at + 60_000), store.fleet.promoteDueJobs(at + 60_000)]);
        assert.equal(both[0] + both[1], 1);
        now = await jobs();
        assert.deepEqual([now.get('soon')!.status, now.get('soon')!.scheduledAt, now.get('soon')!.attemptCount], ['pending', null, 1]);
        assert.equal((await store.getPipeline(pipeline.id))!.pipeline.status, 'running');
        assert.deepEqual(await take(store, agent, 3), ['soon']);
        // Run now and Unschedule.
        const played = await store.fleet.playJob(asJobId(id.get('later')!), at + 61_000, SETTINGS);
        assert.deepEqual([(played as Job).status, (played as Job).scheduledAt], ['pending', null]);
        const unscheduled = await store.fleet.unscheduleJob(asJobId(id.get('held')!), at + 61_000);
        assert.deepEqual([(unscheduled as Job).status, (unscheduled as Job).scheduledAt], ['manual', null]);
        assert.equal(await store.fleet.unscheduleJob(asJobId(id.get('held')!), at + 61_000), 'not-scheduled');
        assert.equal(await store.fleet.promoteDueJobs(at + 10_000_000), 0, 'nothing is scheduled any more');
      });

      /** Takes the attempt of `job`, starts it and ends it as given; the completion's answer. */
      async function runOnce(store: Store, agent: Awaited<ReturnType<typeof agentOf>>, job: string, end: { status: 'success' | 'failed' | 'timed_out'; exitCode: number | null; failureReason: 'script_failure' | 'timeout' | null }, when: number) {
        const hash = `run-${++tokens}`;
        const [offer] = await store.fleet.takeAttempts(agent, 1, when, SETTINGS, [hash]);
        assert.equal(offer?.job.name, job);
        assert.equal((await store.fleet.startAttempt(agent.id, offer!.attempt.id, hash, 'box', when + 1, SETTINGS)).kind, 'ok');
        return store.fleet.completeAttempt(offer!.attempt.id, hash, { ...end, logEnd: 0 }, when + 2, SETTINGS);
      }

      it('retries by reason: a script failure is retried as `retry` says, a timeout it does not name is not', async () => {
        const store = await fresh();
        const { pipeline, id } = await queued(store, 'flaky', [
          compiledJob('flaky', 0, { retry: { max: 2, when: ['script_failure'], exitCodes: null } }),
          compiledJob('slow', 0, { retry: { max: 2, when: ['script_failure'], exitCodes: null } }),
        ]);
        const agent = await agentOf(store, [], 1);
        const failed = { status: 'failed', exitCode: 1, failureReason: 'script_failure' } as const;
        assert.equal((await runOnce(store, agent, 'flaky', failed, at + 10)).kind, 'ok');
        assert.equal((await runOnce(store, agent, 'slow', { status: 'timed_out', exitCode: null, failureReason: 'timeout' }, at + 20)).kind, 'ok');
        assert.equal((await runOnce(store, agent, 'flaky', failed, at + 30)).kind, 'ok');
        assert.equal((await runOnce(store, agent, 'flaky', { status: 'success', exitCode: 0, failureReason: null }, at + 40)).kind, 'ok');
        const p = (await store.getPipeline(pipeline.id))!;
        const attempts = (name: string) => p.attempts.filter((a) => a.jobId === id.get(name)).map((a) => [a.number, a.status]);
        assert.deepEqual(attempts('flaky'), [[1, 'failed'], [2, 'failed'], [3, 'success']]);
        assert.deepEqual(attempts('slow'), [[1, 'timed_out']]);
        assert.deepEqual(p.jobs.map((j) => [j.name, j.status]), [['flaky', 'success'], ['slow', 'timed_out']]);
      });

      it('a newer commit on the ref cancels an older pipeline whose started jobs are all interruptible; not one with a started job that is not, nor with auto-cancel off', async () => {
        const store = await fresh();
        const project = await store.ensureProject('app', '/src/app', 1);
        const agent = await agentOf(store, [], 4);
        const make = async (sha: string, jobs: CompiledJob[], ref = 'main') => {
          const { pipeline } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', sha: sha.repeat(40), ref, jobs }));
          await store.fleet.startPipeline(pipeline.id, at, SETTINGS);
          return pipeline.id;
        };
        const status = async (id: number) => (await store.getPipeline(id as never))!.pipeline.status;
        /** A pipeline whose one job has been taken and started. */
        const running = async (sha: string, job: CompiledJob, ref = 'main') => {
          const id = await make(sha, [job], ref);
          const hash = `run-${++tokens}`;
          const [o] = await store.fleet.takeAttempts(agent, 1, at + 1, SETTINGS, [hash]);
          assert.equal((await store.fleet.startAttempt(agent.id, o!.attempt.id, hash, 'box', at + 2, SETTINGS)).kind, 'ok');
          return id;
        };
        const deploy = await running('c', compiledJob('deploy', 0));
        const interruptible = await running('a', compiledJob('test', 0, { interruptible: true }));
        const other = await running('b', compiledJob('test', 0, { interruptible: true }), 'feature');
        assert.deepEqual([await status(interruptible), await status(other), await status(deploy)], ['running', 'running', 'running'], 'a newer commit does not cancel a pipeline with a running job that is not interruptible');
        await make('d', [compiledJob('test', 0, { interruptible: true })]);
        // The newer commit on main: the interruptible pipeline goes, the one with a running
        // deploy (not interruptible) stays, another ref's is not redundant.
        assert.deepEqual([await status(interruptible), await status(other), await status(deploy)], ['canceled', 'running', 'running']);
        await store.updateProject(project.id, { autoCancel: false });
        const kept = await make('e', [compiledJob('test', 0, { interruptible: true })]);
        await make('f', [compiledJob('test', 0, { interruptible: true })]);
        assert.notEqual(await status(kept), 'canceled', 'auto-cancel off: nothing is canceled');
      });

      it("a project's and a pipeline's running limits hold their attempts back, and others go instead; the fleet's limit holds everything", async () => {
        const store = await fresh();
        const limited = await queued(store, 'limited', [compiledJob('l-0', 0), compiledJob('l-1', 0), compiledJob('l-2', 0)]);
        await queued(store, 'limited', [compiledJob('l2-0', 0), compiledJob('l2-1', 0)]);
        await queued(store, 'free', [compiledJob('f-0', 0), compiledJob('f-1', 0), compiledJob('f-2', 0)]);
        await store.updateProject(limited.project.id, { maxRunningPerPipeline: 1 });
        const agent = await agentOf(store);
        // One of each of limited's two pipelines, the rest from free.
        assert.deepEqual((await take(store, agent, 8)).sort(), ['f-0', 'f-1', 'f-2', 'l-0', 'l2-0']);
        const other = await fresh();
        const capped = await queued(other, 'capped', [compiledJob('c-0', 0), compiledJob('c-1', 0), compiledJob('c-2', 0)]);
        await queued(other, 'free', [compiledJob('f-0', 0), compiledJob('f-1', 0)]);
        await other.updateProject(capped.project.id, { maxRunning: 2 });
        const box = await agentOf(other);
        assert.deepEqual((await take(other, box, 8)).sort(), ['c-0', 'c-1', 'f-0', 'f-1']);
        const fleetWide = await fresh();
        await queued(fleetWide, 'one', [compiledJob('o-0', 0), compiledJob('o-1', 0), compiledJob('o-2', 0)]);
        const third = await agentOf(fleetWide);
        assert.deepEqual(await take(fleetWide, third, 8, { ...SETTINGS, maxRunning: 2 }), ['o-0', 'o-1']);
        assert.deepEqual(await take(fleetWide, third, 8, { ...SETTINGS, maxRunning: 2 }), []);
      });

      it('a resource group runs one job at a time, in queue order, even behind a job of higher priority elsewhere in it', async () => {
        const store = await fresh();
        await queued(store, 'deploys', [
          compiledJob('deploy-1', 0, { resourceGroup: 'prod' }),
          compiledJob('deploy-2', 0, { resourceGroup: 'prod', priority: 10 }),
          compiledJob('staging', 0, { resourceGroup: 'staging' }),
          compiledJob('plain', 0),
        ]);
        const agent = await agentOf(store);
        // deploy-2 has the higher priority but is behind deploy-1 in its group.
        assert.deepEqual((await take(store, agent, 8)).sort(), ['deploy-1', 'plain', 'staging']);
        assert.deepEqual(await take(store, agent, 8), [], 'deploy-2 waits while deploy-1 holds prod');
      });
    });

    describe('parent-child pipelines: trigger jobs and their children', () => {
      const at = 300_000;
      const trigger = (depend: boolean) => ({ include: ['child.yml'], depend, forward: { yamlVariables: true, pipelineVariables: false } });
      async function parentWith(store: Store, depend: boolean, project?: { id: ProjectId }) {
        const p = project ?? (await store.ensureProject('family', '/src/family', 1));
        const { pipeline, jobs } = await store.createPipeline(
          newPipeline(p.id, { runsOn: 'fleet', jobs: [compiledJob('kid', 0, { script: [], trigger: trigger(depend) }), compiledJob('after', 1, { needs: [{ job: 'kid', artifacts: false, optional: false }] })] }),
        );
        await store.fleet.startPipeline(pipeline.id, at, SETTINGS);
        return { project: p, pipeline, kid: jobs.find((j) => j.name === 'kid')!, after: jobs.find((j) => j.name === 'after')! };
      }
      const childOf = (projectId: ProjectId) => ({ kind: 'child' as const, pipeline: newPipeline(projectId, { runsOn: 'fleet', source: 'parent_pipeline', pipelineFile: 'child.yml', jobs: [compiledJob('c1', 0)] }) });

      it('a ready trigger job is pending with no attempt, is never offered to an agent, and is listed as waiting for its child', async () => {
        const store = await fresh();
        const { pipeline, kid } = await parentWith(store, true);
        const got = await store.getPipeline(pipeline.id);
        assert.equal(got!.jobs.find((j) => j.id === kid.id)!.status, 'pending');
        assert.deepEqual(got!.attempts, []);
        const agent = await store.fleet.registerAgent({ name: 'box', tags: [], concurrency: 4, version: 't', platform: {} }, 'hash-box', at);
        await store.fleet.openSession(agent.id, 's-box', agent, at, SETTINGS);
        assert.deepEqual(await store.fleet.takeAttempts(agent, 4, at + 1, SETTINGS, ['t1', 't2', 't3', 't4']), []);
        assert.deepEqual(await store.fleet.pendingBridges(10), [{ jobId: kid.id, pipelineId: pipeline.id }]);
      });

      it('a depend trigger job runs while its child runs, and ends as the child ended; the parent follows', async () => {
        for (const [childEnd, jobEnd, reason, parentEnd] of [
          ['success', 'success', null, 'success'],
          ['failed', 'failed', 'downstream_pipeline_failed', 'failed'],
          // A canceled job fails its pipeline in Gantry (readiness.ts finalStatus), a trigger job as any.
          ['canceled', 'canceled', 'canceled', 'failed'],
        ] as const) {
          const store = await fresh();
          const { project, pipeline, kid } = await parentWith(store, true);
          const made = await store.fleet.createChildPipeline(kid.id, childOf(project.id), at + 1);
          assert.equal(made.kind, 'created');
          const childId = (made as { pipelineId: typeof pipeline.id }).pipelineId;
          const child = await store.getPipeline(childId);
          assert.deepEqual(child!.pipeline.parent, { pipelineId: pipeline.id, jobId: kid.id });
          assert.equal(child!.pipeline.source, 'parent_pipeline');
          assert.equal(child!.jobs[0]!.status, 'pending', 'the child started at once');
          assert.equal((await store.getJob(kid.id))!.status, 'running');
          assert.deepEqual(await store.listChildPipelines(pipeline.id), [{ pipelineId: childId, jobId: kid.id, status: child!.pipeline.status }]);
          assert.deepEqual(await store.fleet.bridgesToSettle(10), [], 'nothing to settle while the child runs');
          assert.equal(await store.fleet.createChildPipeline(kid.id, childOf(project.id), at + 2).then((r) => r.kind), 'gone', 'one child per run');
          if (childEnd === 'canceled') await store.fleet.cancelPipeline(childId, at + 3, SETTINGS);
          else {
            assert.ok(await store.movePipeline(childId, childEnd, at + 3));
          }
          assert.deepEqual(await store.fleet.bridgesToSettle(10), [kid.id]);
          assert.ok(await store.fleet.settleBridge(kid.id, at + 4));
          assert.equal(await store.fleet.settleBridge(kid.id, at + 5), false, 'settled once');
          const job = (await store.getJob(kid.id))!;
          assert.deepEqual([job.status, job.failureReason], [jobEnd, reason], childEnd);
          if (jobEnd !== 'success') assert.equal((await store.getPipelineOnly(pipeline.id))!.status, parentEnd);
        }
      });

      it('without strategy: depend the trigger job succeeds once its child exists', async () => {
        const store = await fresh();
        const { project, pipeline, kid, after } = await parentWith(store, false);
        await store.fleet.createChildPipeline(kid.id, childOf(project.id), at + 1);
        assert.equal((await store.getJob(kid.id))!.status, 'success');
        assert.equal((await store.getJob(after.id))!.status, 'pending', 'the next stage goes on');
        assert.equal((await store.getPipelineOnly(pipeline.id))!.status, 'running');
      });

      it('a child that cannot be created fails the trigger job with the reason and the words why', async () => {
        const store = await fresh();
        const { pipeline, kid } = await parentWith(store, true);
        const r = await store.fleet.createChildPipeline(kid.id, { kind: 'failed', reason: 'downstream_pipeline_creation_failed', message: 'child.yml:1:1 bad' }, at + 1);
        assert.deepEqual(r, { kind: 'failed', reason: 'downstream_pipeline_creation_failed' });
        const job = (await store.getJob(kid.id))!;
        assert.deepEqual([job.status, job.failureReason, job.downstreamError], ['failed', 'downstream_pipeline_creation_failed', 'child.yml:1:1 bad']);
        assert.equal((await store.getPipelineOnly(pipeline.id))!.status, 'failed');
        assert.deepEqual(await store.listChildPipelines(pipeline.id), []);
      });

      it('a trigger job two levels down fails reached_max_descendant_pipelines_depth (GitLab\'s MAX_DESCENDANTS_DEPTH)', async () => {
        const store = await fresh();
        const { project, kid } = await parentWith(store, true);
        // parent -> child -> grandchild are allowed; the grandchild's trigger job is refused.
        let jobId = kid.id;
        for (let level = 1; level <= 2; level++) {
          const made = await store.fleet.createChildPipeline(
            jobId,
            { kind: 'child', pipeline: newPipeline(project.id, { runsOn: 'fleet', source: 'parent_pipeline', jobs: [compiledJob('kid', 0, { script: [], trigger: trigger(true) })] }) },
            at + level,
          );
          assert.equal(made.kind, 'created', `level ${level}`);
          const child = await store.getPipeline((made as { pipelineId: typeof kid.pipelineId }).pipelineId);
          jobId = child!.jobs[0]!.id;
        }
        const r = await store.fleet.createChildPipeline(jobId, childOf(project.id), at + 9);
        assert.deepEqual(r, { kind: 'failed', reason: 'reached_max_descendant_pipelines_depth' });
      });

      it('canceling the parent cancels its children, a depend one or not, and theirs', async () => {
        const store = await fresh();
        const { project, pipeline, kid } = await parentWith(store, true);
        const made = await store.fleet.createChildPipeline(kid.id, childOf(project.id), at + 1);
        const childId = (made as { pipelineId: typeof pipeline.id }).pipelineId;
        await store.fleet.cancelPipeline(pipeline.id, at + 2, SETTINGS);
        const child = (await store.getPipeline(childId))!;
        assert.equal(child.pipeline.status, 'canceled');
        assert.deepEqual(child.jobs.map((j) => j.status), ['canceled']);
        assert.equal((await store.getJob(kid.id))!.status, 'canceled');
      });

      it('retrying a trigger job makes it pending again, for a new child; the listing can leave children out', async () => {
        const store = await fresh();
        const { project, pipeline, kid } = await parentWith(store, true);
        await store.fleet.createChildPipeline(kid.id, { kind: 'failed', reason: 'downstream_pipeline_creation_failed', message: 'x' }, at + 1);
        await store.fleet.retryJob(kid.id, at + 2, SETTINGS);
        assert.equal((await store.getJob(kid.id))!.status, 'pending');
        const made = await store.fleet.createChildPipeline(kid.id, childOf(project.id), at + 3);
        assert.equal(made.kind, 'created');
        const all = await store.listPipelines({ projectId: project.id });
        assert.equal(all.items.length, 2);
        assert.deepEqual((await store.listPipelines({ projectId: project.id, children: false })).items.map((p) => p.id), [pipeline.id]);
      });
    });

    describe('the queue: why each pending job waits', () => {
      it('updateProject changes the git URL, the limits and auto-cancel, and leaves the rest', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const q = await store.updateProject(p.id, { gitUrl: '/e', maxRunning: 3, autoCancel: false });
        assert.deepEqual(q, { ...p, gitUrl: '/e', limits: { maxRunning: 3, maxRunningPerPipeline: null }, autoCancel: false });
        const r = await store.updateProject(p.id, { maxRunning: null, maxRunningPerPipeline: 2 });
        assert.deepEqual(r!.limits, { maxRunning: null, maxRunningPerPipeline: 2 });
        assert.deepEqual(await store.getProject(p.id), r);
        assert.deepEqual(await store.updateProject(p.id, {}), r);
        assert.equal(await store.updateProject(asProjectId(9999), { gitUrl: '/x' }), null);
      });

      it('explains tags no agent has, an offer, a busy or ordered resource group, full agents and each limit', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const other = await store.ensureProject('other', '/o', 1);
        const at = 100_000;
        const created = await store.createPipeline(newPipeline(p.id, {
          runsOn: 'fleet',
          jobs: [
            compiledJob('gpu', 0, { tags: ['gpu', 'cuda'] }),
            compiledJob('deploy-1', 0, { resourceGroup: 'prod' }),
            compiledJob('deploy-2', 0, { resourceGroup: 'prod' }),
            compiledJob('plain', 0),
          ],
        }));
        const otherPipeline = await store.createPipeline(newPipeline(other.id, { runsOn: 'fleet', jobs: [compiledJob('elsewhere', 0, { tags: ['arm'] })] }));
        await store.fleet.startPipeline(created.pipeline.id, at, SETTINGS);
        await store.fleet.startPipeline(otherPipeline.pipeline.id, at, SETTINGS);
        const id = (name: string) => created.jobs.find((j) => j.name === name)!.id;
        const agent = await store.fleet.registerAgent({ name: 'box', tags: ['linux'], concurrency: 1, version: 't', platform: {} }, 'agent-hash', at);
        await store.fleet.openSession(agent.id, 's1', agent, at, SETTINGS);
        const reasons = async (settings = SETTINGS) =>
          Object.fromEntries((await store.fleet.explainQueue(at + 1, settings, p.id, 100)).map((e) => [e.jobName, e.reason]));

        const first = await store.fleet.explainQueue(at + 1, SETTINGS, p.id, 100);
        assert.deepEqual(first.map((e) => e.jobName), ['gpu', 'deploy-1', 'deploy-2', 'plain']);
        assert.deepEqual(
          { ...first[0], queuedAt: null },
          {
            attemptId: first[0]!.attemptId, attempt: 1, jobId: id('gpu'), jobName: 'gpu', stage: 'stage0', pipelineId: created.pipeline.id,
            projectId: p.id, project: 'demo', ref: 'main', tags: ['cuda', 'gpu'], priority: 0, urgent: false, resourceGroup: null, queuedAt: null,
            reason: { code: 'no_agent', tags: ['cuda', 'gpu'] },
          },
        );
        assert.deepEqual(await reasons(), {
          gpu: { code: 'no_agent', tags: ['cuda', 'gpu'] },
          'deploy-1': { code: 'ready' },
          'deploy-2': { code: 'resource_group_order', group: 'prod', behindJobId: id('deploy-1') },
          plain: { code: 'ready' },
        });

        // The agent takes its one slot's worth: the group's first job.
        const [offer] = await store.fleet.takeAttempts(agent, 1, at + 2, SETTINGS, ['tok']);
        assert.equal(offer!.job.id, id('deploy-1'));
        assert.deepEqual(await reasons(), {
          gpu: { code: 'no_agent', tags: ['cuda', 'gpu'] },
          'deploy-1': { code: 'offered', agentId: agent.id, agentName: 'box', until: at + 2 + SETTINGS.offerTtlMs },
          'deploy-2': { code: 'resource_group_busy', group: 'prod', heldByJobId: id('deploy-1') },
          plain: { code: 'agents_busy', agents: 1 },
        });

        // Limits come before full agents, in the take's order: the fleet's, the project's, the pipeline's.
        assert.deepEqual((await reasons({ ...SETTINGS, maxRunning: 1 })).plain, { code: 'max_running', limit: 1, running: 1 });
        await store.updateProject(p.id, { maxRunning: 1 });
        assert.deepEqual((await reasons()).plain, { code: 'project_max_running', limit: 1, running: 1 });
        await store.updateProject(p.id, { maxRunning: null, maxRunningPerPipeline: 1 });
        assert.deepEqual((await reasons()).plain, { code: 'pipeline_max_running', limit: 1, running: 1 });

        // Every project's, or one's; an agent gone quiet for a lease is not online.
        const all = await store.fleet.explainQueue(at + 1, SETTINGS, null, 100);
        assert.deepEqual(all.map((e) => e.project), ['demo', 'demo', 'demo', 'demo', 'other']);
        assert.deepEqual(all[4]!.reason, { code: 'no_agent', tags: ['arm'] });
        assert.equal((await store.fleet.explainQueue(at + 1, SETTINGS, null, 2)).length, 2);
        const later = await store.fleet.explainQueue(at + SETTINGS.leaseMs + 20_000, SETTINGS, p.id, 100);
        assert.deepEqual(later.find((e) => e.jobName === 'plain')!.reason, { code: 'no_agent', tags: [] });
      });
    });

    describe('forge statuses', () => {
      const config = (projectId: ProjectId) => ({
        projectId, provider: 'github' as const, baseUrl: 'http://127.0.0.1:1', repository: 'o/r', context: 'gantry', ciphertext: 'c', nonce: 'n', updatedAt: 3,
      });

      it('a forge configuration is created, replaced and deleted', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        await store.forge.putConfig(config(p.id));
        await store.forge.putConfig({ ...config(p.id), provider: 'gitlab', repository: 'g/s/p' });
        assert.deepEqual(await store.forge.getConfig(p.id), { ...config(p.id), provider: 'gitlab', repository: 'g/s/p' });
        assert.equal(await store.forge.deleteConfig(p.id), true);
        assert.equal(await store.forge.deleteConfig(p.id), false);
        assert.equal(await store.forge.getConfig(p.id), null);
      });

      it('offerableTagKeys names the tag keys of pending attempts not on offer, for the safety tick', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const a = await store.createPipeline(
          newPipeline(p.id, { runsOn: 'fleet', jobs: [compiledJob('cpu', 0), compiledJob('gpu', 0, { tags: ['gpu', 'big'] })] }),
        );
        assert.deepEqual(await store.fleet.offerableTagKeys(2_000), []);
        await store.fleet.startPipeline(a.pipeline.id, 2_000, SETTINGS);
        assert.deepEqual((await store.fleet.offerableTagKeys(2_000)).sort(), ['', 'big\ngpu']);
        const agent = await store.fleet.registerAgent({ name: 'g', tags: ['gpu', 'big'], concurrency: 2, version: 't', platform: {} }, 'h', 2_000);
        await store.fleet.openSession(agent.id, 's', agent, 2_000, SETTINGS);
        const offers = await store.fleet.takeAttempts(agent, 2, 2_100, SETTINGS, ['t1', 't2']);
        assert.equal(offers.length, 2);
        // On offer: not offerable until the offer expires.
        assert.deepEqual(await store.fleet.offerableTagKeys(2_200), []);
        assert.deepEqual((await store.fleet.offerableTagKeys(2_100 + SETTINGS.offerTtlMs + 1)).sort(), ['', 'big\ngpu']);
      });

      it("a fleet pipeline's status moves write the outbox in their transaction, only for a project with a forge", async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const q = await store.ensureProject('quiet', '/q', 1);
        await store.forge.putConfig(config(p.id));
        const a = await store.createPipeline(newPipeline(p.id, { runsOn: 'fleet' }));
        const b = await store.createPipeline(newPipeline(q.id, { runsOn: 'fleet' }));
        await store.fleet.startPipeline(a.pipeline.id, 2_000, SETTINGS);
        await store.fleet.startPipeline(b.pipeline.id, 2_000, SETTINGS);
        assert.equal(await store.forge.getOutboxRow(b.pipeline.id), null);
        const row = await store.forge.getOutboxRow(a.pipeline.id);
        assert.deepEqual([row!.status, row!.version, row!.sentVersion, row!.nextAt], ['running', 1, 0, 0]);
        await store.fleet.cancelPipeline(a.pipeline.id, 2_100, SETTINGS);
        const canceled = await store.forge.getOutboxRow(a.pipeline.id);
        assert.deepEqual([canceled!.status, canceled!.version], ['canceled', 2]);
      });

      it('a claimed report is claimed once; a newer status written during the send stays due; a retry waits', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        await store.forge.putConfig(config(p.id));
        const a = await store.createPipeline(newPipeline(p.id, { runsOn: 'fleet' }));
        await store.fleet.startPipeline(a.pipeline.id, 2_000, SETTINGS);
        const claims = await Promise.all([store.forge.claimReports(3_000, 60_000, 10), store.forge.claimReports(3_000, 60_000, 10)]);
        const [mine] = claims.flat();
        assert.equal(claims.flat().length, 1);
        assert.deepEqual([mine!.status, mine!.version, mine!.sha, mine!.ref, mine!.projectId], ['running', 1, 'a'.repeat(40), 'main', p.id]);
        // The pipeline ends while the report of `running` is on its way.
        await store.fleet.cancelPipeline(a.pipeline.id, 3_100, SETTINGS);
        assert.deepEqual(await store.forge.claimReports(3_200, 60_000, 10), []);
        await store.forge.finishReport(a.pipeline.id, 1, { kind: 'sent', state: 'pending' });
        const [next] = await store.forge.claimReports(3_300, 60_000, 10);
        assert.deepEqual([next!.status, next!.version, next!.sentState], ['canceled', 2, 'pending']);
        await store.forge.finishReport(a.pipeline.id, 2, { kind: 'retry', retryAt: 10_000, error: 'HTTP 502' });
        assert.deepEqual(await store.forge.claimReports(9_999, 60_000, 10), []);
        const [again] = await store.forge.claimReports(10_000, 60_000, 10);
        assert.equal(again!.attempts, 1);
        await store.forge.finishReport(a.pipeline.id, 2, { kind: 'sent', state: 'error' });
        const done = await store.forge.getOutboxRow(a.pipeline.id);
        assert.deepEqual([done!.sentVersion, done!.sentState, done!.nextAt, done!.attempts, done!.lastError], [2, 'error', null, 0, null]);
        assert.deepEqual(await store.forge.claimReports(1e12, 1e12 + 1, 10), []);
      });
    });

    describe('dotenv variables (artifacts:reports:dotenv)', () => {
      const jobs = () => [compiledJob('build', 0), compiledJob('lint', 0), compiledJob('test', 1, { artifactSources: ['build', 'lint'] })];

      it("a job's variables are its newest attempt's, in file order; a second record for an attempt keeps the first", async () => {
        const { store, jobs: made } = await withPipeline(jobs());
        const [build, lint] = [made[0]!.id, made[1]!.id];
        await store.moveJob(build, 'pending', { at: 1_100 });
        await store.moveJob(lint, 'pending', { at: 1_100 });
        const first = await store.createAttempt(build, 1_200);
        await store.dotenv.record(first.id, [
          { key: 'V', value: 'first' },
          { key: 'OLD', value: 'x' },
        ]);
        await store.dotenv.record(first.id, [{ key: 'V', value: 'again' }]);
        assert.deepEqual(await store.dotenv.ofJob(build), { attempt: 1, variables: [{ key: 'V', value: 'first' }, { key: 'OLD', value: 'x' }] });
        const lintAttempt = await store.createAttempt(lint, 1_200);
        await store.dotenv.record(lintAttempt.id, [{ key: 'L', value: 'l = "as written" #' }]);
        // Retried: the newest attempt's rows replace the earlier one's, even before it wrote any.
        const second = await store.createAttempt(build, 1_300);
        assert.deepEqual(await store.dotenv.ofNewestAttempts([lint, build]), [[{ key: 'L', value: 'l = "as written" #' }], []]);
        assert.equal(await store.dotenv.ofJob(build), null);
        await store.dotenv.record(second.id, [{ key: 'V', value: 'second' }]);
        assert.deepEqual(await store.dotenv.ofNewestAttempts([build, lint]), [[{ key: 'V', value: 'second' }], [{ key: 'L', value: 'l = "as written" #' }]]);
        assert.deepEqual(await store.dotenv.ofJob(build), { attempt: 2, variables: [{ key: 'V', value: 'second' }] });
        assert.deepEqual(await store.dotenv.ofNewestAttempts([]), []);
        assert.deepEqual(await store.dotenv.ofNewestAttempts([asJobId(999_999)]), [[]]);
      });

      it("an agent's completion records its variables with the attempt's end, and the job it makes ready is offered them; a duplicate or fenced completion records nothing", async () => {
        const store = await fresh();
        const project = await store.ensureProject('demo', '/src/demo', 500);
        const { pipeline, jobs: made } = await store.createPipeline(newPipeline(project.id, { runsOn: 'fleet', jobs: jobs() }));
        const fleet = store.fleet;
        await fleet.startPipeline(pipeline.id, 1_100, SETTINGS);
        const agent = await fleet.registerAgent({ name: 'a', tags: [], concurrency: 2, version: 't', platform: {} }, 'agent-hash', 1_100);
        await fleet.openSession(agent.id, 's', agent, 1_100, SETTINGS);
        const offers = await fleet.takeAttempts(agent, 2, 1_200, SETTINGS, ['tok-1', 'tok-2']);
        assert.deepEqual(offers.map((o) => [o.job.name, o.dotenv]).sort(), [['build', {}], ['lint', {}]]);
        const byName = new Map(offers.map((o, i) => [o.job.name, { id: o.attempt.id, token: `tok-${i + 1}` }]));
        for (const { id, token } of byName.values()) assert.equal((await fleet.startAttempt(agent.id, id, token, 'a', 1_300, SETTINGS)).kind, 'ok');
        const build = byName.get('build')!;
        const lint = byName.get('lint')!;
        const vars = [
          { key: 'SHARED', value: 'from-build' },
          { key: 'B', value: '1' },
        ];
        // A completion under another token is fenced and leaves no rows.
        assert.notEqual((await fleet.completeAttempt(build.id, 'forged', { status: 'success', exitCode: 0, failureReason: null, logEnd: 0, dotenv: vars }, 1_400, SETTINGS)).kind, 'ok');
        assert.equal(await store.dotenv.ofJob(made[0]!.id), null);
        const done = { status: 'success' as const, exitCode: 0, failureReason: null, logEnd: 0, dotenv: vars };
        assert.deepEqual(await fleet.completeAttempt(build.id, build.token, done, 1_400, SETTINGS), { kind: 'ok', duplicate: false, status: 'success', failureReason: null });
        const again = await fleet.completeAttempt(build.id, build.token, { ...done, dotenv: [{ key: 'SNEAKY', value: '1' }] }, 1_450, SETTINGS);
        assert.equal(again.kind === 'ok' && again.duplicate, true);
        assert.deepEqual(await store.dotenv.ofJob(made[0]!.id), { attempt: 1, variables: vars });
        assert.equal(
          (await fleet.completeAttempt(lint.id, lint.token, { status: 'success', exitCode: 0, failureReason: null, logEnd: 0, dotenv: [{ key: 'SHARED', value: 'from-lint' }] }, 1_500, SETTINGS)).kind,
          'ok',
        );
        const [next] = await fleet.takeAttempts(agent, 1, 1_600, SETTINGS, ['tok-3']);
        assert.equal(next?.job.name, 'test');
        // The sources' order (artifactSources: build, lint): the later one's value wins a key.
        assert.deepEqual(next!.dotenv, { SHARED: 'from-lint', B: '1' });
      });
    });

    describe('server: project variables', () => {
      it('a variable is created, replaced in place, listed by key and deleted once', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const q = await store.ensureProject('other', '/o', 1);
        await store.putVariable({ projectId: p.id, key: 'TOKEN', ciphertext: 'c1', nonce: 'n1', masked: true, protected: true, updatedAt: 10 });
        await store.putVariable({ projectId: p.id, key: 'A_FIRST', ciphertext: 'c2', nonce: 'n2', masked: false, protected: true, updatedAt: 11 });
        await store.putVariable({ projectId: q.id, key: 'TOKEN', ciphertext: 'cq', nonce: 'nq', masked: false, protected: false, updatedAt: 12 });
        await store.putVariable({ projectId: p.id, key: 'TOKEN', ciphertext: 'c3', nonce: 'n3', masked: false, protected: false, updatedAt: 13 });
        assert.deepEqual(await store.listVariables(p.id), [
          { projectId: p.id, key: 'A_FIRST', ciphertext: 'c2', nonce: 'n2', masked: false, protected: true, updatedAt: 11 },
          { projectId: p.id, key: 'TOKEN', ciphertext: 'c3', nonce: 'n3', masked: false, protected: false, updatedAt: 13 },
        ]);
        assert.equal(await store.deleteVariable(p.id, 'TOKEN'), true);
        assert.equal(await store.deleteVariable(p.id, 'TOKEN'), false);
        assert.deepEqual((await store.listVariables(p.id)).map((v) => v.key), ['A_FIRST']);
        assert.deepEqual((await store.listVariables(q.id)).map((v) => v.ciphertext), ['cq']);
      });
    });

    describe('server: idempotency keys', () => {
      it('the first call with a key creates the pipeline, later ones get the record and create nothing', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const first = await store.createPipelineOnce(newPipeline(p.id), { key: 'k1', fingerprint: 'f1' });
        assert.equal(first.created, true);
        const id = first.created ? first.pipeline.pipeline.id : asPipelineId(0);
        const again = await store.createPipelineOnce(newPipeline(p.id), { key: 'k1', fingerprint: 'other' });
        assert.deepEqual(again, { created: false, existing: { projectId: p.id, key: 'k1', fingerprint: 'f1', pipelineId: id, createdAt: 1_000 } });
        assert.deepEqual(await store.getIdempotencyKey(p.id, 'k1'), { projectId: p.id, key: 'k1', fingerprint: 'f1', pipelineId: id, createdAt: 1_000 });
        assert.equal(await store.getIdempotencyKey(p.id, 'k2'), null);
        assert.equal((await store.listPipelines({ projectId: p.id })).items.length, 1);
      });

      it('keys are per project', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const q = await store.ensureProject('other', '/o', 1);
        const a = await store.createPipelineOnce(newPipeline(p.id), { key: 'same', fingerprint: 'f' });
        const b = await store.createPipelineOnce(newPipeline(q.id), { key: 'same', fingerprint: 'f' });
        assert.equal(a.created && b.created, true);
      });

      it('of concurrent calls with one key exactly one creates a pipeline, and all see its id', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const results = await Promise.all(
          Array.from({ length: 10 }, () => store.createPipelineOnce(newPipeline(p.id), { key: 'race', fingerprint: 'f' })),
        );
        const made = results.filter((r) => r.created);
        assert.equal(made.length, 1);
        const id = made[0]!.created ? made[0]!.pipeline.pipeline.id : null;
        for (const r of results) if (!r.created) assert.equal(r.existing.pipelineId, id);
        assert.equal((await store.listPipelines({ projectId: p.id })).items.length, 1);
      });

      it('a refused pipeline releases its key: nothing is stored', async () => {
        const store = await fresh();
        await rejectsWith(
          store.createPipelineOnce(newPipeline(asProjectId(4242)), { key: 'k', fingerprint: 'f' }),
          'GANTRY_E_NOT_FOUND',
        );
        const p = await store.ensureProject('demo', '/d', 1);
        assert.equal((await store.createPipelineOnce(newPipeline(p.id), { key: 'k', fingerprint: 'f' })).created, true);
      });
    });

    describe('git triggers: webhook secrets, ref filters, deliveries', () => {
      const push = (after = 'b'.repeat(40)) => ({ kind: 'push' as const, ref: 'main', refKind: 'branch' as const, before: 'a'.repeat(40), after });
      const delivery = (projectId: ProjectId, deliveryId: string, at = 1_000) => ({
        projectId,
        provider: 'github' as const,
        deliveryId,
        event: 'push',
        receivedAt: at,
        outcome: { status: 'queued' as const, gitEvent: push() },
      });

      it('a webhook secret is stored per project and provider, and a second put replaces it', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        assert.equal(await store.getWebhookSecret(p.id, 'github'), null);
        await store.putWebhookSecret(p.id, 'github', { ciphertext: 'c1', nonce: 'n1' }, 10);
        await store.putWebhookSecret(p.id, 'gitlab', { ciphertext: 'c2', nonce: 'n2' }, 10);
        await store.putWebhookSecret(p.id, 'github', { ciphertext: 'c3', nonce: 'n3' }, 20);
        assert.deepEqual(await store.getWebhookSecret(p.id, 'github'), { ciphertext: 'c3', nonce: 'n3' });
        assert.deepEqual(await store.getWebhookSecret(p.id, 'gitlab'), { ciphertext: 'c2', nonce: 'n2' });
      });

      it("the webhook intake's read finds the project by id or name with its provider's secret, or none", async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        await store.putWebhookSecret(p.id, 'github', { ciphertext: 'c1', nonce: 'n1' }, 10);
        assert.deepEqual(await store.getWebhookTarget('demo', 'github'), { project: await store.getProject(p.id), secret: { ciphertext: 'c1', nonce: 'n1' } });
        assert.deepEqual(await store.getWebhookTarget(p.id, 'github'), { project: await store.getProject(p.id), secret: { ciphertext: 'c1', nonce: 'n1' } });
        assert.deepEqual(await store.getWebhookTarget('demo', 'gitlab'), { project: await store.getProject(p.id), secret: null });
        assert.equal(await store.getWebhookTarget('nope', 'github'), null);
        assert.equal(await store.getWebhookTarget(9999 as never, 'github'), null);
      });

      it('ref filters round-trip on the project, null meaning all', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        assert.equal(await store.setRefFilters(p.id, { branches: ['main', 'release/**'], tags: [] }), true);
        assert.deepEqual((await store.getProject(p.id))!.refFilters, { branches: ['main', 'release/**'], tags: [] });
        assert.equal(await store.setRefFilters(asProjectId(4242), { branches: null, tags: null }), false);
      });

      it('a pipeline is trusted unless created untrusted', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const a = await store.createPipeline(newPipeline(p.id));
        const b = await store.createPipeline(newPipeline(p.id, { source: 'merge_request_event', trusted: false }));
        assert.equal((await store.getPipeline(a.pipeline.id))!.pipeline.trusted, true);
        assert.equal((await store.getPipeline(b.pipeline.id))!.pipeline.trusted, false);
      });

      it('of concurrent copies of one delivery exactly one is recorded; the others get it', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const results = await Promise.all(Array.from({ length: 10 }, () => store.recordDelivery(delivery(p.id, 'same'))));
        const recorded = results.filter((r) => r.recorded);
        assert.equal(recorded.length, 1);
        const id = recorded[0]!.recorded ? recorded[0]!.delivery.id : -1;
        for (const r of results) if (!r.recorded) assert.equal(r.existing.id, id);
        assert.equal((await store.listDeliveries(p.id, 100)).length, 1);
        // The same id from another provider or project is another delivery.
        const q = await store.ensureProject('other', '/o', 1);
        assert.equal((await store.recordDelivery({ ...delivery(p.id, 'same'), provider: 'gitlab' })).recorded, true);
        assert.equal((await store.recordDelivery(delivery(q.id, 'same'))).recorded, true);
      });

      it('a burst recorded together answers each delivery as one at a time would: new ids recorded once, copies and known ids given the row', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const q = await store.ensureProject('other', '/o', 1);
        const known = await store.recordDelivery(delivery(p.id, 'known'));
        assert.ok(known.recorded);
        // 150 at once (more than one batch): 120 new ids over two projects and two providers, each
        // of 20 of them sent twice, and 10 sends of the id already recorded.
        const sends = [
          ...Array.from({ length: 60 }, (_, i) => delivery(p.id, `n${i}`)),
          ...Array.from({ length: 40 }, (_, i) => delivery(q.id, `n${i}`)),
          ...Array.from({ length: 20 }, (_, i) => ({ ...delivery(p.id, `n${i}`), provider: 'gitlab' as const })),
          ...Array.from({ length: 20 }, (_, i) => delivery(p.id, `n${i * 3}`)),
          ...Array.from({ length: 10 }, () => delivery(p.id, 'known')),
        ];
        const results = await Promise.all(sends.map((d) => store.recordDelivery(d)));
        const byKey = new Map<string, number[]>();
        results.forEach((r, i) => {
          const d = r.recorded ? r.delivery : r.existing;
          const s = sends[i]!;
          assert.deepEqual([d.projectId, d.provider, d.deliveryId], [s.projectId, s.provider, s.deliveryId], `answer ${i} is its own delivery's`);
          const key = `${d.projectId}/${d.provider}/${d.deliveryId}`;
          byKey.set(key, [...(byKey.get(key) ?? []), r.recorded ? 1 : 0]);
        });
        assert.equal(byKey.size, 121);
        for (const [key, marks] of byKey) assert.equal(marks.filter((m) => m === 1).length, key.endsWith('/known') ? 0 : 1, `${key} recorded once`);
        for (const r of results.slice(140)) assert.equal(r.recorded ? -1 : r.existing.id, known.delivery.id);
        assert.equal((await store.listDeliveries(p.id, 500)).length, 81);
        assert.equal((await store.listDeliveries(q.id, 500)).length, 40);
      });

      it('an ignored delivery is recorded finished with its reason and is never claimed', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        const r = await store.recordDelivery({ ...delivery(p.id, 'x'), outcome: { status: 'ignored', reason: 'closed' } });
        assert.ok(r.recorded);
        assert.equal(r.delivery.status, 'ignored');
        assert.equal(r.delivery.reason, 'closed');
        assert.equal(r.delivery.gitEvent, null);
        assert.equal(await store.claimDelivery(10_000, 1_000), null);
      });

      it('a due delivery is claimed once; a lapsed claim is taken again; finishing records the pipeline', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        await store.recordDelivery(delivery(p.id, 'one', 1_000));
        assert.equal(await store.claimDelivery(999, 1_000), null, 'not due before it was received');
        const c = await store.claimDelivery(1_000, 5_000);
        assert.equal(c!.status, 'processing');
        assert.equal(c!.tries, 1);
        assert.deepEqual(c!.gitEvent, push());
        assert.equal(await store.claimDelivery(2_000, 5_000), null, 'claimed until 6000');
        const again = await store.claimDelivery(6_000, 5_000);
        assert.equal(again!.id, c!.id);
        assert.equal(again!.tries, 2);
        const pl = await store.createPipeline(newPipeline(p.id));
        assert.equal(await store.finishDelivery(c!.id, { status: 'done', pipelineId: pl.pipeline.id }, 7_000), true);
        assert.equal(await store.finishDelivery(c!.id, { status: 'failed', reason: 'late' }, 7_001), false, 'a late end changes nothing');
        const [d] = await store.listDeliveries(p.id, 10);
        assert.equal(d!.status, 'done');
        assert.equal(d!.pipelineId, pl.pipeline.id);
        assert.equal(d!.finishedAt, 7_000);
      });

      it('a transient failure queues the delivery again for later', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        await store.recordDelivery(delivery(p.id, 'one', 1_000));
        const c = await store.claimDelivery(1_000, 5_000);
        assert.equal(await store.finishDelivery(c!.id, { status: 'queued', reason: 'git down', dueAt: 3_000 }, 1_500), true);
        assert.equal(await store.claimDelivery(2_999, 5_000), null);
        const d = await store.claimDelivery(3_000, 5_000);
        assert.equal(d!.reason, 'git down');
        assert.equal(d!.tries, 2);
      });

      it('concurrent claimers take different deliveries, each exactly once', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        for (let i = 0; i < 12; i++) await store.recordDelivery(delivery(p.id, `d${i}`, 1_000 + i));
        const claimed = await Promise.all(Array.from({ length: 16 }, () => store.claimDelivery(5_000, 60_000)));
        const ids = claimed.filter((d) => d !== null).map((d) => d!.id);
        assert.equal(ids.length, 12);
        assert.equal(new Set(ids).size, 12);
      });

      it('listDeliveries is newest first and bounded by the limit', async () => {
        const store = await fresh();
        const p = await store.ensureProject('demo', '/d', 1);
        for (let i = 0; i < 5; i++) await store.recordDelivery(delivery(p.id, `d${i}`));
        assert.deepEqual((await store.listDeliveries(p.id, 3)).map((d) => d.deliveryId), ['d4', 'd3', 'd2']);
      });
    });

    if (options.reopen) {
      const reopen = options.reopen;
      describe('persistence', () => {
        it('everything written survives closing and reopening the database, and reopening migrates nothing twice', async () => {
          const { store, project, pipeline, jobs } = await withPipeline();
          await store.movePipeline(pipeline.id, 'running', 1_100);
          await store.moveJob(jobs[0]!.id, 'pending', { at: 1_150 });
          const a = await store.createAttempt(jobs[0]!.id, 1_200);
          await store.startAttempt(a.id, 'local', 1_250, 5_000);
          await store.finishAttempt(a.id, { status: 'success', at: 1_300, exitCode: 0, failureReason: null, logBytes: 77 });
          const before = await store.getPipeline(pipeline.id);
          await store.close();
          opened.splice(opened.indexOf(store), 1);
          const again = await reopen(store);
          opened.push(again);
          assert.deepEqual(await again.getPipeline(pipeline.id), before);
          assert.deepEqual(await again.getProject('demo'), project);
          await again.close();
          opened.splice(opened.indexOf(again), 1);
          const third = await reopen(store);
          opened.push(third);
          assert.deepEqual(await third.getPipeline(pipeline.id), before);
          // New ids continue after the old ones: no reuse across a restart.
          const next = await third.createPipeline(newPipeline(project.id));
          assert.ok(next.pipeline.id > pipeline.id);
        });
      });
    }

    it('a closed store refuses further work', async () => {
      const store = await open();
      await store.close();
      await assert.rejects(store.listProjects());
      await store.close();
    });
  });
}
