// `gantry run` and `id_tokens`: no server signs them locally, so the job runs without the
// variables and its log says why, in a WARNING line (RUNNING.md).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logsOf, runJson, withSandbox } from '../helpers/gantry.js';

describe('gantry run: id_tokens', () => {
  it('gives no token and says so in a warning line; the job still runs', async () => {
    await withSandbox(
      {
        '.gantry.yml': `deploy:
  id_tokens:
    VAULT_TOKEN: {aud: https://vault.example.com}
    AWS_TOKEN: {aud: [sts.amazonaws.com]}
  script:
    - echo "vault=[\${VAULT_TOKEN-unset}]"
`,
      },
      async (sb) => {
        const r = await runJson(sb);
        assert.equal(r.job('deploy').status, 'success');
        const log = await logsOf(sb, r.pipeline.id, 'deploy');
        assert.match(log, /WARNING: id_tokens: gantry run has no server to sign identity tokens, so VAULT_TOKEN, AWS_TOKEN are not set/);
        assert.match(log, /vault=\[unset\]/);
      },
    );
  });
});
