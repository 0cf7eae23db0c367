// The git runner process: the server's git commands run there, not forked from the server.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { GitCommandError, GitRunner } from '../../src/server/git-runner/git-runner.js';

describe('git runner', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-git-runner-'));
  execFileSync('git', ['init', '--quiet', dir]);
  const runner = new GitRunner({ PATH: process.env.PATH ?? '', HOME: dir, LC_ALL: 'C' });
  after(() => {
    runner.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('returns git\'s stdout as bytes, with stdin given', async () => {
    const sha = (await runner.run(dir, ['hash-object', '-w', '--stdin'], { input: 'a\u0000b\n', timeoutMs: 10_000 })).toString().trim();
    assert.match(sha, /^[0-9a-f]{40}$/);
    const blob = await runner.run(dir, ['cat-file', 'blob', sha], { timeoutMs: 10_000 });
    assert.deepEqual(blob, Buffer.from('a\u0000b\n'));
  });

  it('a failing command rejects with the last line git wrote to stderr', async () => {
    await assert.rejects(runner.run(dir, ['cat-file', 'blob', 'no-such-object'], { timeoutMs: 10_000 }), (e: unknown) => {
      assert.ok(e instanceof GitCommandError);
      assert.match(e.message, /no-such-object/);
      return true;
    });
  });

  it('a command past its timeout is killed and rejected', async () => {
    // A shell alias stands in for a fetch from a server that does not answer.
    await assert.rejects(runner.run(dir, ['-c', 'alias.w=!sleep 2', 'w'], { timeoutMs: 200 }), GitCommandError);
  });

  it('commands in flight fail when the runner process dies, and the next command starts a new one', async () => {
    const pending = runner.run(dir, ['-c', 'alias.w=!sleep 2', 'w'], { timeoutMs: 10_000 });
    const child = (runner as unknown as { child: { pid: number } }).child;
    process.kill(child.pid, 'SIGKILL');
    await assert.rejects(pending, /git runner process exited/);
    const out = await runner.run(dir, ['rev-parse', '--git-dir'], { timeoutMs: 10_000 });
    assert.equal(out.toString().trim(), '.git');
    assert.notEqual((runner as unknown as { child: { pid: number } }).child.pid, child.pid);
  });
});
