// `artifacts:reports:dotenv` across the fleet (PIPELINE.md, "Passing variables to later jobs"): a
// real server and agent. The agent reads the producer's files after its script and sends the
// variables with the completion; the next job's offer carries them and the agent ranks them by
// GitLab's "CI/CD variable precedence": above the job's YAML variables, below project and pipeline
// variables. A retried producer's newest attempt supplies them. A dotenv value equal to a masked
// variable's value stays masked in the log (the masker masks the value wherever it appears).
// SQLite (the server's store is the same SQL on PostgreSQL: test/server/dotenv-protocol.test.ts).

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Fleet } from './fleet-harness.js';
import { printedVars } from '../helpers/gantry.js';

const SECRET = 'hunter2-very-s3cret';

describe('dotenv reports across the fleet', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it("a later job gets the producer's newest attempt's variables, above its YAML variables and below project and pipeline ones, a masked value still masked", async () => {
    const f = new Fleet(
      {
        '.gantry.yml': `stages: [build, test]
build:
  stage: build
  retry: 1
  script:
    - n=$(cat "$COUNTER_DIR/build" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER_DIR/build"
    - 'if [ $n = 1 ]; then printf "VERSION=first\\nOLD=only-first\\n" > build.env; exit 1; fi'
    - 'printf "VERSION=2.0\\nJOBVAR=from-dotenv\\nPIPEVAR=from-dotenv\\nPROJVAR=from-dotenv\\nLEAK=%s\\n" "$SECRET" > build.env'
  artifacts:
    reports:
      dotenv: build.env
test:
  stage: test
  variables:
    JOBVAR: from-yaml
  script:
    - 'for v in VERSION OLD JOBVAR PIPEVAR PROJVAR LEAK; do eval "echo \\"$v=\\\${$v-<unset>}\\""; done'
`,
      },
      null,
    );
    fleets.push(f);
    await f.startServer();
    await f.startAgent({ tags: [], name: 'box' });
    await f.project();
    for (const [key, value, masked] of [
      ['SECRET', SECRET, true],
      ['PROJVAR', 'from-project', false],
    ] as const) {
      const r = await f.api('PUT', `/projects/demo/variables/${key}`, { value, masked });
      assert.ok([200, 201, 204].includes(r.status), `${r.status} ${JSON.stringify(r.body)}`);
    }
    const p = await f.trigger('demo', { COUNTER_DIR: f.sharedDir('counters'), PIPEVAR: 'from-pipeline' });
    const done = await f.waitPipeline(p.id);
    assert.equal(done.status, 'success', JSON.stringify(done));
    const jobs = (await f.api<{ jobs: { id: number; name: string }[] }>('GET', `/pipelines/${p.id}`)).body.jobs;
    const build = jobs.find((j) => j.name === 'build')!;
    const test = jobs.find((j) => j.name === 'test')!;
    const log = (await f.log(test.id)).toString();
    const v = printedVars(log);
    assert.deepEqual(
      { VERSION: v.VERSION, OLD: v.OLD, JOBVAR: v.JOBVAR, PIPEVAR: v.PIPEVAR, PROJVAR: v.PROJVAR, LEAK: v.LEAK },
      { VERSION: '2.0', OLD: '<unset>', JOBVAR: 'from-dotenv', PIPEVAR: 'from-pipeline', PROJVAR: 'from-project', LEAK: '[MASKED]' },
    );
    assert.ok(!log.includes(SECRET), 'the secret never reaches the log');
    assert.match((await f.log(build.id, 2)).toString(), /Dotenv report: 5 variables for later jobs \(VERSION, JOBVAR, PIPEVAR, PROJVAR, LEAK\)/);
    const detail = await f.api<{ dotenv: { key: string; value: string }[] }>('GET', `/jobs/${build.id}`);
    assert.deepEqual(
      detail.body.dotenv.map((d) => d.key),
      ['VERSION', 'JOBVAR', 'PIPEVAR', 'PROJVAR', 'LEAK'],
    );
  });
});
