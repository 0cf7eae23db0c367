import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobStatus } from '../../src/domain/status.js';
import type { AllowFailure, When } from '../../src/pipeline/types.js';
import { decideAll, finalStatus, waitingStatus, type JobView } from '../../src/scheduler/readiness.js';

function job(
  name: string,
  needs: string[],
  opts: { status?: JobStatus; when?: Exclude<When, 'never'>; allow?: AllowFailure; mode?: 'stage' | 'dag'; exit?: number | null } = {},
): JobView {
  return {
    name,
    status: opts.status ?? 'created',
    exitCode: opts.exit ?? null,
    spec: {
      needs: needs.map((n) => ({ job: n, artifacts: true, optional: false })),
      needsMode: opts.mode ?? 'stage',
      when: opts.when ?? 'on_success',
      allowFailure: opts.allow ?? false,
    },
  };
}

const decisions = (jobs: JobView[]) => Object.fromEntries(decideAll(jobs).map((d) => [d.name, d.to]));

describe('which jobs become ready', () => {
  it('jobs without dependencies are pending at once, the others wait', () => {
    assert.deepEqual(decisions([job('a', []), job('b', ['a'])]), { a: 'pending' });
  });

  it('a failure skips on_success jobs after it and starts on_failure and always jobs', () => {
    const d = decisions([
      job('a', [], { status: 'failed', exit: 1 }),
      job('b', ['a']),
      job('c', ['a'], { when: 'on_failure' }),
      job('d', ['a'], { when: 'always' }),
    ]);
    assert.deepEqual(d, { b: 'skipped', c: 'pending', d: 'pending' });
  });

  it('an allowed failure counts as success for the jobs after it', () => {
    const d = decisions([job('a', [], { status: 'failed', allow: true, exit: 3 }), job('b', ['a']), job('c', ['a'], { when: 'on_failure' })]);
    assert.deepEqual(d, { b: 'pending', c: 'skipped' });
  });

  it('allow_failure:exit_codes allows only the listed exit codes', () => {
    const allowed = decisions([job('a', [], { status: 'failed', allow: { exitCodes: [3] }, exit: 3 }), job('b', ['a'])]);
    const refused = decisions([job('a', [], { status: 'failed', allow: { exitCodes: [3] }, exit: 4 }), job('b', ['a'])]);
    assert.deepEqual(allowed, { b: 'pending' });
    assert.deepEqual(refused, { b: 'skipped' });
  });

  it('a skip cascades through needs in one pass', () => {
    const d = decisions([job('a', [], { status: 'failed', exit: 1 }), job('b', ['a'], { mode: 'dag' }), job('c', ['b'], { mode: 'dag' })]);
    assert.deepEqual(d, { b: 'skipped', c: 'skipped' });
  });

  it('a skipped job does not hold back a later stage', () => {
    assert.deepEqual(decisions([job('a', [], { status: 'skipped' }), job('b', ['a'])]), { b: 'pending' });
  });

  it('a manual job becomes manual when it could run, and a non-blocking one does not hold back the next stage', () => {
    assert.deepEqual(decisions([job('deploy', [], { when: 'manual', allow: true })]), { deploy: 'manual' });
    assert.deepEqual(decisions([job('deploy', [], { status: 'manual', allow: true }), job('after', ['deploy'])]), { after: 'pending' });
  });

  it('a blocking manual job holds back the next stage, and needs on a manual job wait for it', () => {
    assert.deepEqual(decisions([job('gate', [], { status: 'manual', allow: false }), job('after', ['gate'])]), {});
    assert.deepEqual(decisions([job('deploy', [], { status: 'manual', allow: true }), job('smoke', ['deploy'], { mode: 'dag' })]), {});
  });

  it('a canceled dependency skips the jobs after it', () => {
    assert.deepEqual(decisions([job('a', [], { status: 'canceled' }), job('b', ['a'])]), { b: 'skipped' });
  });
});

describe('when a pipeline is over', () => {
  it('is not over while a job runs or can still start', () => {
    assert.equal(finalStatus([job('a', [], { status: 'running' })]), null);
    assert.equal(finalStatus([job('a', [], { status: 'success' }), job('b', ['a'])]), null);
  });

  it('succeeds when every failure was allowed', () => {
    assert.equal(finalStatus([job('a', [], { status: 'failed', allow: true, exit: 1 }), job('b', ['a'], { status: 'success' })]), 'success');
  });

  it('fails on a failure that is not allowed, even if later jobs ran', () => {
    assert.equal(finalStatus([job('a', [], { status: 'failed', exit: 1 }), job('b', ['a'], { status: 'success', when: 'on_failure' })]), 'failed');
    assert.equal(finalStatus([job('a', [], { status: 'timed_out' })]), 'failed');
  });

  it('is blocked (manual) on a blocking manual job, and succeeds past a non-blocking one', () => {
    assert.equal(finalStatus([job('a', [], { status: 'success' }), job('gate', ['a'], { status: 'manual', allow: false })]), 'manual');
    assert.equal(finalStatus([job('a', [], { status: 'success' }), job('deploy', ['a'], { status: 'manual', allow: true })]), 'success');
  });
});

describe('delayed jobs (GitLab: when: delayed)', () => {
  it('a delayed job becomes scheduled when it would have run, and is skipped after a failure, as on_success', () => {
    assert.deepEqual(decisions([job('a', [], { status: 'success' }), job('d', ['a'], { when: 'delayed' })]), { d: 'scheduled' });
    assert.deepEqual(decisions([job('a', [], { status: 'failed', exit: 1 }), job('d', ['a'], { when: 'delayed' })]), { d: 'skipped' });
  });

  it('what depends on a scheduled job waits for it; the pipeline is not over but `scheduled`', () => {
    const jobs = [job('a', [], { status: 'success' }), job('d', ['a'], { status: 'scheduled', when: 'delayed' }), job('z', ['d'])];
    assert.deepEqual(decisions(jobs), {});
    assert.equal(finalStatus(jobs), null);
    assert.equal(waitingStatus(jobs), 'scheduled');
    // Something running or queued: the pipeline is running, whatever waits scheduled.
    assert.equal(waitingStatus([...jobs, job('r', [], { status: 'running' })]), null);
    // A blocking manual job waiting too: `manual` comes first in GitLab's composite status.
    assert.equal(waitingStatus([...jobs, job('m', [], { status: 'manual', when: 'manual' })]), 'manual');
    assert.equal(waitingStatus([...jobs, job('m', [], { status: 'manual', when: 'manual', allow: true })]), 'scheduled');
  });
});
