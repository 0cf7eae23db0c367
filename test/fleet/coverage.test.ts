// Coverage across the fleet (PIPELINE.md, "Coverage"; PROTOCOL.md §10): a real server and agent;
// the agent matches the job's `coverage:` regex against the log it streams and sends the value
// with the completion, the server keeps it per attempt; a job's coverage is its latest attempt's,
// the pipeline's the average of its jobs'. SQLite (the server's store is the same SQL on PostgreSQL).

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Fleet } from './fleet-harness.js';

interface JobDetail {
  coverage: number | null;
  attemptList: { number: number; status: string; coverage: number | null }[];
}

describe('coverage across the fleet', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it("the agent reads each attempt's coverage from its log; the job has its latest attempt's, the pipeline the average", async () => {
    const f = new Fleet(
      {
        '.gantry.yml': `unit:
  retry: 1
  coverage: '/Statements\\s*:\\s*(\\d+(?:\\.\\d+)?)%/'
  script:
    - n=$(cat "$COUNTER_DIR/unit" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER_DIR/unit"
    - 'if [ $n = 1 ]; then echo "Statements   : 30% ( 3/10 )"; exit 1; fi'
    - 'echo "Statements   : 88.5% ( 177/200 )"'

lint:
  coverage: '/lint: \\d+%/'
  script:
    - 'echo "lint: 70%"'
`,
      },
      null,
    );
    fleets.push(f);
    await f.startServer();
    await f.startAgent({ tags: [], name: 'box' });
    await f.project();
    const p = await f.trigger('demo', { COUNTER_DIR: f.sharedDir('counters') });
    const done = await f.waitPipeline(p.id);
    assert.equal(done.status, 'success', JSON.stringify(done));
    const pipeline = await f.api<{ coverage: number | null; jobs: { id: number; name: string; coverage: number | null }[] }>('GET', `/pipelines/${p.id}`);
    const unit = pipeline.body.jobs.find((j) => j.name === 'unit')!;
    assert.equal(unit.coverage, 88.5);
    assert.equal(pipeline.body.jobs.find((j) => j.name === 'lint')!.coverage, 70);
    assert.equal(pipeline.body.coverage, 79.25);
    // The list item too, from the store's one query for a page (each job's latest attempt: 88.5, not 30).
    const list = await f.api<{ items: { id: number; coverage: number | null }[] }>('GET', '/projects/demo/pipelines');
    assert.deepEqual(list.body.items.map((i) => [i.id, i.coverage]), [[p.id, 79.25]]);
    const detail = await f.api<JobDetail>('GET', `/jobs/${unit.id}`);
    assert.equal(detail.body.coverage, 88.5);
    assert.deepEqual(
      detail.body.attemptList.map((a) => [a.number, a.status, a.coverage]),
      [
        [1, 'failed', 30],
        [2, 'success', 88.5],
      ],
    );
  });
});
