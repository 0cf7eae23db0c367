// `gantry agent --server`: offers carry secrets and attempt tokens, so a plain http:// server is
// accepted on this machine only, unless the operator passes --insecure-http.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkServerUrl } from '../../src/cli/commands/agent.js';
import { gantry, withSandbox } from '../helpers/gantry.js';

describe('gantry agent --server', () => {
  it('accepts https anywhere and http on loopback', () => {
    for (const ok of ['https://ci.example.com', 'https://10.0.0.5:8443/', 'http://127.0.0.1:8080', 'http://127.3.4.5:1', 'http://localhost:8080', 'http://[::1]:8080']) {
      assert.equal(checkServerUrl(ok, false), ok);
    }
  });

  it('refuses plain http beyond this machine unless --insecure-http, and what is not an http URL', () => {
    for (const bad of ['http://ci.example.com', 'http://10.0.0.5:8080', 'http://[fe80::1]:8080']) {
      assert.throws(() => checkServerUrl(bad, false), /plain http beyond this machine/);
      assert.equal(checkServerUrl(bad, true), bad);
    }
    assert.throws(() => checkServerUrl('ftp://ci.example.com', true), /http:\/\/ or https:\/\//);
    assert.throws(() => checkServerUrl('ci.example.com:8080', true), /not a URL|http:\/\/ or https:\/\//);
  });

  it('the command exits 2 with the reason and contacts nothing', async () => {
    await withSandbox({}, async (sb) => {
      const r = await gantry(sb, ['agent', '--server', 'http://192.0.2.10:8080', '--token', 'x']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /plain http beyond this machine.*--insecure-http/s);
      assert.ok(!/Error\n\s+at /.test(r.stderr), 'no stack trace');
    });
  });
});
