// `gantry hook post-receive` installed in a real bare repository, driven by a real `git push`,
// reporting to a real server on loopback (SQLite store).

import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pusherName } from '../../src/cli/commands/hook.js';
import { asPipelineId } from '../../src/domain/ids.js';
import { hashToken } from '../../src/server/tokens.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { GANTRY_BIN, sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from '../server/harness.js';

const execFileP = promisify(execFile);

const PIPELINE = `always:
  script: [echo "$CI_PIPELINE_SOURCE"]
docs:
  rules:
    - changes: [docs/**]
  script: [echo docs]
code:
  rules:
    - changes: [src/**]
  script: [echo code]
`;

interface Summary {
  id: number;
  ref: string;
  sha: string;
  source: string;
  triggeredBy: { kind: string; provider?: string; name: string } | null;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('gantry hook post-receive', () => {
  let h: Harness;
  let work: Sandbox;
  let bare: string;
  let token: string;
  before(async () => {
    h = await startHarness(async (home) => openSqliteStore(path.join(home, 'gantry.db')), { deps: { deliveryQueue: { pollMs: 200 } } });
    work = sandbox({ '.gantry.yml': PIPELINE, 'src/a.txt': 'a\n', 'docs/a.md': 'a\n' });
    bare = path.join(work.base, 'server.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    const res = await h.api('POST', '/projects', { name: 'plain', gitUrl: bare });
    assert.equal(res.status, 201);
    const { id } = (await res.json()) as { id: number };
    // A token for this project only, as an operator would give the git server.
    token = `gantry_api_${randomBytes(32).toString('base64url')}`;
    await h.store.addToken({ hash: hashToken(token), kind: 'api', projectId: id as never, createdAt: Date.now() });
    fs.writeFileSync(path.join(work.base, 'token'), token, { mode: 0o600 });
    fs.writeFileSync(
      path.join(bare, 'hooks', 'post-receive'),
      `#!/bin/sh\nGANTRY_TOKEN=$(cat ${JSON.stringify(path.join(work.base, 'token'))}) exec ${JSON.stringify(process.execPath)} ${JSON.stringify(GANTRY_BIN)} hook post-receive --server ${h.url} --project plain\n`,
      { mode: 0o755 },
    );
    work.git('remote', 'add', 'origin', bare);
  });
  after(async () => {
    await h.close();
    work.cleanup();
  });

  // Asynchronous: the hook calls the server, which lives in this process's event loop.
  const push = async (...args: string[]): Promise<string> => {
    const r = await execFileP('git', ['push', '--porcelain', 'origin', ...args], { cwd: work.repo, encoding: 'utf8', env: { ...process.env, GANTRY_HOME: work.home, GL_USERNAME: '', GITEA_PUSHER_NAME: '', REMOTE_USER: '' } });
    return r.stderr;
  };
  async function pipelines(): Promise<Summary[]> {
    return ((await (await h.api('GET', '/projects/plain/pipelines?limit=100')).json()) as { items: Summary[] }).items;
  }
  async function jobsOf(id: number): Promise<string[]> {
    return ((await (await h.api('GET', `/pipelines/${id}`)).json()) as { jobs: Array<{ name: string }> }).jobs.map((j) => j.name).sort();
  }

  it('a real git push of a new branch, then of one more commit, starts push pipelines with rules:changes from before..after', async () => {
    const out = await push('main');
    assert.match(out, /remote: gantry: refs\/heads\/main at [0-9a-f]{12}: pipeline queued/);
    await until('the first pipeline', async () => (await pipelines()).length === 1);
    const [first] = await pipelines();
    assert.equal(first!.source, 'push');
    assert.equal(first!.ref, 'main');
    // Who pushed: here the system account the hook ran as (a git server's shell would name its user).
    assert.deepEqual(first!.triggeredBy, { kind: 'forge_user', provider: 'git', name: os.userInfo().username });
    // A new branch: every `changes` rule counts as changed.
    assert.deepEqual(await jobsOf(first!.id), ['always', 'code', 'docs']);
    const before = work.git('rev-parse', 'HEAD').trim();
    work.write('docs/b.md', 'b\n');
    work.commit('docs only');
    await push('main');
    await until('the second pipeline', async () => (await pipelines()).length === 2);
    const [second] = await pipelines();
    assert.equal(second!.sha, work.git('rev-parse', 'HEAD').trim());
    assert.deepEqual(await jobsOf(second!.id), ['always', 'docs']);
    const vars = (await h.store.getPipeline(asPipelineId(second!.id)))!.pipeline.predefinedVariables;
    assert.equal(vars.CI_PIPELINE_SOURCE, 'push');
    assert.equal(vars.CI_COMMIT_BEFORE_SHA, before);
  });

  it('one push of a branch and a tag makes a pipeline for each; deleting a branch makes none', async () => {
    const count = (await pipelines()).length;
    work.git('branch', '-f', 'topic');
    work.git('tag', '-f', 'v1.0');
    const out = await push('topic', 'v1.0');
    assert.match(out, /refs\/heads\/topic at/);
    assert.match(out, /refs\/tags\/v1\.0 at/);
    await until('two more pipelines', async () => (await pipelines()).length === count + 2);
    const refs = (await pipelines()).slice(0, 2).map((p) => p.ref).sort();
    assert.deepEqual(refs, ['topic', 'v1.0']);
    const del = await push('--delete', 'topic');
    assert.match(del, /remote: gantry: refs\/heads\/topic deleted, no pipeline/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await pipelines()).length, count + 2);
  });

  it('the hook says so when the server refuses, and the push still lands', async () => {
    fs.writeFileSync(path.join(work.base, 'token'), 'not-a-token');
    try {
      work.write('src/z.txt', 'z\n');
      work.commit('refused');
      const out = await push('main');
      assert.match(out, /remote: gantry: .*GANTRY_E_UNAUTHENTICATED/);
      assert.equal(execFileSync('git', ['rev-parse', 'main'], { cwd: bare, encoding: 'utf8' }).trim(), work.git('rev-parse', 'HEAD').trim());
    } finally {
      fs.writeFileSync(path.join(work.base, 'token'), token);
    }
  });

  it("the pusher is the git server's user when its shell names one, else the account the hook runs as", () => {
    assert.equal(pusherName({ GL_USERNAME: 'alice', REMOTE_USER: 'www' }), 'alice');
    assert.equal(pusherName({ GITEA_PUSHER_NAME: 'bob' }), 'bob');
    assert.equal(pusherName({ REMOTE_USER: 'carol' }), 'carol');
    assert.equal(pusherName({ GL_USERNAME: ' ' }), os.userInfo().username);
  });

  it('bad input lines are a usage error (exit 2), never a crash', async () => {
    const child = spawn(process.execPath, [GANTRY_BIN, 'hook', 'post-receive', '--server', h.url, '--project', 'plain', '--token', token], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end('this is not a post-receive line\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /not a post-receive line/);
    assert.doesNotMatch(stderr, /at .*\.js:\d+/);
  });
});
