import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logsOf, runJson, sandbox } from '../helpers/gantry.js';

describe('inherit: variables', () => {
  it('limits the global variables a job sees to none, or to the listed ones', async () => {
    const sb = sandbox({
      '.gantry.yml': `
variables:
  A: a
  B: b
none:
  inherit:
    variables: false
  script: [ 'echo "A=[$A] B=[$B]"' ]
some:
  inherit:
    variables: [B]
  script: [ 'echo "A=[$A] B=[$B]"' ]
all:
  script: [ 'echo "A=[$A] B=[$B]"' ]
`,
    });
    try {
      const r = await runJson(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.match(await logsOf(sb, r.pipeline.id, 'none'), /\nA=\[\] B=\[\]\n/);
      assert.match(await logsOf(sb, r.pipeline.id, 'some'), /\nA=\[\] B=\[b\]\n/);
      assert.match(await logsOf(sb, r.pipeline.id, 'all'), /\nA=\[a\] B=\[b\]\n/);
    } finally {
      sb.cleanup();
    }
  });
});
