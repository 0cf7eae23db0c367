// The CLI commands that talk to a server (`trigger`, `project`, `secret`): the real bin/gantry as
// a child process against a real server (in-process, SQLite in a temp GANTRY_HOME, loopback on a
// free port) and real git repositories made by the test.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GantryClient, ServerUnreachableError } from '../../src/client/api-client.js';
import { asPipelineId, asProjectId } from '../../src/domain/ids.js';
import { loadOrCreateSecretsKey, SecretBox, variableContext } from '../../src/server/secrets.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { PipelineJson } from '../../src/views/pipeline-json.js';
import { GANTRY_BIN, sandbox, type Sandbox } from '../helpers/gantry.js';
import { startHarness, type Harness } from '../server/harness.js';

const PIPELINE = `stages: [build, test]
build:
  stage: build
  script: [echo build]
test:
  stage: test
  script: [echo test]
release:
  stage: test
  script: [echo release]
  rules:
    - if: $RELEASE == "yes"
`;

// Line 4, column 11: the `needs` entry that names no job.
const BROKEN = `build:
  script: [echo build]
test:
  needs: [biuld]
  script: [echo test]
`;

interface Result {
  code: number | null;
  out: string;
  err: string;
}

let h: Harness;
let repo: Sandbox;
/** A GANTRY_HOME with no admin.token, so only GANTRY_TOKEN or --token authenticate. */
let clientHome: string;

/** bin/gantry with GANTRY_SERVER and GANTRY_TOKEN pointing at the test server, unless `env` says otherwise. */
function cli(args: string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_HOME: clientHome, GANTRY_SERVER: h.url, GANTRY_TOKEN: h.admin };
  delete env.NO_COLOR;
  delete env.GANTRY_DEBUG;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GANTRY_BIN, ...args], { cwd: repo.base, env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

function ok(r: Result): Result {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  return r;
}

let n = 0;
async function newProject(): Promise<string> {
  const name = `proj-${n++}`;
  ok(await cli(['project', 'create', name, '--git-url', repo.repo]));
  return name;
}

async function apiGet(p: string): Promise<unknown> {
  const res = await h.api('GET', p);
  assert.equal(res.status, 200);
  return res.json();
}

/** A port nothing listens on: bound by the OS, then closed. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

before(async () => {
  h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
  repo = sandbox({ '.gantry.yml': PIPELINE });
  // A branch whose pipeline file does not compile.
  repo.git('checkout', '-q', '-b', 'broken');
  repo.write('.gantry.yml', BROKEN);
  repo.commit('broken pipeline');
  repo.git('checkout', '-q', 'main');
  clientHome = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-client-home-'));
});

after(async () => {
  await h.close();
  repo.cleanup();
  fs.rmSync(clientHome, { recursive: true, force: true });
});

describe('gantry trigger', () => {
  it('creates a pipeline from a branch and prints its id, status and API URL; --json prints what GET /pipelines/:id answers', async () => {
    const project = await newProject();
    const text = ok(await cli(['trigger', '--project', project, '--ref', 'main']));
    const m = /^pipeline #(\d+) created: running, 2 jobs, main at [0-9a-f]{12}\n(\S+)\n$/.exec(text.out);
    assert.ok(m, text.out);
    assert.equal(m[2], `${h.url}/api/v1/pipelines/${m[1]}`);

    const r = ok(await cli(['trigger', '--project', project, '--ref', 'main', '--json']));
    const printed = JSON.parse(r.out) as PipelineJson;
    assert.deepEqual(printed, await apiGet(`/pipelines/${printed.id}`));
    assert.equal(printed.sha, repo.git('rev-parse', 'main').trim());
    assert.equal(printed.source, 'api');
    assert.deepEqual(printed.jobs.map((j) => j.name), ['build', 'test']);
  });

  it('--var reaches the pipeline: its variables and its rules', async () => {
    const project = await newProject();
    const r = ok(await cli(['trigger', '-p', project, '-r', 'main', '--var', 'RELEASE=yes', '--var', 'NOTE=a=b c', '--json']));
    const printed = JSON.parse(r.out) as PipelineJson;
    assert.deepEqual(printed.jobs.map((j) => j.name), ['build', 'test', 'release']);
    const stored = await h.store.getPipeline(asPipelineId(printed.id));
    assert.deepEqual(stored!.pipeline.variables, { RELEASE: 'yes', NOTE: 'a=b c' });
  });

  it('--sha picks a commit of the ref that is not its tip', async () => {
    const project = await newProject();
    const first = repo.git('rev-parse', 'main').trim();
    repo.write('later.txt', 'later\n');
    repo.commit('later');
    const r = ok(await cli(['trigger', '-p', project, '-r', 'main', '--sha', first, '--json']));
    assert.equal((JSON.parse(r.out) as PipelineJson).sha, first);
  });

  it('the same --idempotency-key twice gives the same pipeline, and creates only one', async () => {
    const project = await newProject();
    const a = JSON.parse(ok(await cli(['trigger', '-p', project, '-r', 'main', '--idempotency-key', 'deploy-1', '--json'])).out) as PipelineJson;
    const b = ok(await cli(['trigger', '-p', project, '-r', 'main', '--idempotency-key', 'deploy-1']));
    assert.match(b.out, new RegExp(`^pipeline #${a.id} already created with this idempotency key`));
    const list = (await apiGet(`/projects/${project}/pipelines`)) as { items: unknown[] };
    assert.equal(list.items.length, 1);
    // Without a key, every trigger is a new pipeline.
    ok(await cli(['trigger', '-p', project, '-r', 'main']));
    ok(await cli(['trigger', '-p', project, '-r', 'main']));
    assert.equal(((await apiGet(`/projects/${project}/pipelines`)) as { items: unknown[] }).items.length, 3);
  });

  it('an invalid pipeline file exits 1 with every problem as FILE:LINE:COLUMN, and --json prints the error with its diagnostics', async () => {
    const project = await newProject();
    const r = await cli(['trigger', '-p', project, '-r', 'broken']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^\.gantry\.yml:4:11: error: .*biuld.* \[GANTRY_E_NEEDS_UNKNOWN\]$/m);
    assert.match(r.err, /^gantry: .* \[GANTRY_E_PIPELINE_INVALID\]$/m);
    assert.equal(r.out, '');
    const j = await cli(['trigger', '-p', project, '-r', 'broken', '--json']);
    assert.equal(j.code, 1);
    const body = JSON.parse(j.out) as { error: { code: string; status: number; diagnostics: Array<{ file: string; line: number; column: number; code: string }> } };
    assert.equal(body.error.code, 'GANTRY_E_PIPELINE_INVALID');
    assert.equal(body.error.status, 422);
    assert.deepEqual(body.error.diagnostics.map((d) => [d.file, d.line, d.column, d.code]), [['.gantry.yml', 4, 11, 'GANTRY_E_NEEDS_UNKNOWN']]);
    assert.equal(((await apiGet(`/projects/${project}/pipelines`)) as { items: unknown[] }).items.length, 0);
  });

  it('an unknown ref or project exits 3 with the server\'s message; a missing --ref is a usage error (2)', async () => {
    const project = await newProject();
    const ref = await cli(['trigger', '-p', project, '-r', 'no-such-branch']);
    assert.equal(ref.code, 3);
    assert.match(ref.err, /no-such-branch.*\[GANTRY_E_REF_NOT_FOUND\]/);
    const proj = await cli(['trigger', '-p', 'no-such-project', '-r', 'main']);
    assert.equal(proj.code, 3);
    assert.match(proj.err, /\[GANTRY_E_NOT_FOUND\]/);
    const usage = await cli(['trigger', '-p', project]);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /--ref/);
  });
});

describe('talking to the server', () => {
  it('a wrong token exits 4 with the server\'s message and where the token came from; an agent token is forbidden (4)', async () => {
    const wrong = await cli(['project', 'list', '--token', 'not-a-token']);
    assert.equal(wrong.code, 4);
    assert.equal(wrong.err, 'gantry: unknown token (the token came from --token) [GANTRY_E_UNAUTHENTICATED]\n');
    const fromEnv = await cli(['trigger', '-p', 'x', '-r', 'main'], { env: { GANTRY_TOKEN: 'nope' } });
    assert.equal(fromEnv.code, 4);
    assert.match(fromEnv.err, /the token came from GANTRY_TOKEN/);
    const none = await cli(['project', 'list'], { env: { GANTRY_TOKEN: undefined } });
    assert.equal(none.code, 4);
    assert.match(none.err, /no token given: pass --token or set GANTRY_TOKEN \(there is no .*admin\.token\)/);
    const agent = await cli(['project', 'list', '--token', h.agent]);
    assert.equal(agent.code, 4);
    assert.match(agent.err, /\[GANTRY_E_FORBIDDEN\]/);
    const json = await cli(['project', 'list', '--token', 'nope', '--json']);
    assert.equal(json.code, 4);
    assert.equal((JSON.parse(json.out) as { error: { code: string; status: number } }).error.status, 401);
  });

  it('without --token or GANTRY_TOKEN the token is read from $GANTRY_HOME/admin.token', async () => {
    const r = ok(await cli(['project', 'list', '--json'], { env: { GANTRY_TOKEN: undefined, GANTRY_HOME: h.home } }));
    assert.ok(Array.isArray((JSON.parse(r.out) as { items: unknown[] }).items));
  });

  it('--server overrides GANTRY_SERVER and may be host:port or end in /api/v1', async () => {
    const port = new URL(h.url).port;
    for (const server of [`127.0.0.1:${port}`, `${h.url}/api/v1/`]) {
      ok(await cli(['project', 'list', '--server', server], { env: { GANTRY_SERVER: 'http://127.0.0.1:9' } }));
    }
  });

  it('a server that is down exits 3 with a clear message and no stack trace', async () => {
    const port = await closedPort();
    for (const args of [['project', 'list'], ['trigger', '-p', 'web', '-r', 'main'], ['secret', 'rm', 'web', 'K']]) {
      const started = Date.now();
      const r = await cli([...args, '--server', `http://127.0.0.1:${port}`]);
      assert.equal(r.code, 3, r.err);
      assert.equal(r.err, `gantry: cannot reach the Gantry server at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port} [GANTRY_E_UNREACHABLE]\n`);
      assert.equal(r.out, '');
      assert.ok(Date.now() - started < 5_000);
    }
    const j = await cli(['project', 'list', '--json'], { env: { GANTRY_SERVER: `http://127.0.0.1:${port}` } });
    assert.equal(j.code, 3);
    const error = (JSON.parse(j.out) as { error: { code: string; message: string } }).error;
    assert.match(error.message, /cannot reach the Gantry server/);
    assert.equal(error.code, 'GANTRY_E_UNREACHABLE');
  });

  it('a response lost on the way back is resent with the same Idempotency-Key, and only one pipeline is created', async () => {
    const project = await newProject();
    let calls = 0;
    const client = new GantryClient({
      server: h.url,
      token: h.admin,
      retryDelayMs: 1,
      // The first request reaches the server, which creates the pipeline; its answer is "lost".
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (++calls === 1) {
          await res.arrayBuffer();
          throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
        }
        return res;
      },
    });
    const { pipeline, replayed } = await client.triggerPipeline(project, { ref: 'main' }, 'retry-me');
    assert.equal(calls, 2);
    assert.equal(replayed, true);
    const list = (await apiGet(`/projects/${project}/pipelines`)) as { items: Array<{ id: number }> };
    assert.deepEqual(list.items.map((p) => p.id), [pipeline.id]);
  });

  it('a project is not created twice by a retry: POST /projects is resent only when it never left', async () => {
    let calls = 0;
    const client = new GantryClient({
      server: h.url,
      token: h.admin,
      retryDelayMs: 1,
      fetch: async (input, init) => {
        calls++;
        await fetch(input, init);
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      },
    });
    await assert.rejects(client.createProject('sent-once', repo.repo), ServerUnreachableError);
    assert.equal(calls, 1);
  });
});

describe('gantry project', () => {
  it('create, list and show; a second project of the same name exits 1; an unknown one exits 3', async () => {
    const created = ok(await cli(['project', 'create', 'shop', '--git-url', repo.repo, '--json']));
    const p = JSON.parse(created.out) as { id: number; name: string; gitUrl: string; createdAt: string };
    assert.equal(p.name, 'shop');
    assert.equal(p.gitUrl, repo.repo);
    assert.deepEqual(p, await apiGet('/projects/shop'));

    const dup = await cli(['project', 'create', 'shop', '--git-url', '/elsewhere']);
    assert.equal(dup.code, 1);
    assert.equal(dup.err, 'gantry: a project named "shop" exists [GANTRY_E_CONFLICT]\n');

    const list = JSON.parse(ok(await cli(['project', 'list', '--json'])).out) as { items: Array<{ name: string }> };
    assert.ok(list.items.some((x) => x.name === 'shop'));
    const table = ok(await cli(['project', 'list'])).out;
    assert.match(table, /^ID\s+NAME\s+CREATED \(UTC\)\s+GIT URL$/m);
    assert.match(table, new RegExp(`^${p.id}\\s+shop\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+${repo.repo}$`, 'm'));

    assert.deepEqual(JSON.parse(ok(await cli(['project', 'show', String(p.id), '--json'])).out), p);
    assert.match(ok(await cli(['project', 'show', 'shop'])).out, new RegExp(`^git URL:\\s+${repo.repo}$`, 'm'));
    const shown = JSON.parse(ok(await cli(['project', 'show', 'shop', '--json'])).out) as Record<string, unknown>;
    assert.deepEqual([shown.requireSandbox, shown.network, shown.forkNetwork, shown.jobLimits], [false, 'full', 'full', { memoryBytes: null, pids: null, cpus: null }]);
    assert.equal((await h.api('PATCH', '/projects/shop', { requireSandbox: true, forkNetwork: 'none', jobLimits: { memoryBytes: 2 ** 30, pids: 100, cpus: null } })).status, 200);
    const isolation = ok(await cli(['project', 'show', 'shop'])).out;
    assert.match(isolation, /^sandbox:\s+required for every job$/m);
    assert.match(isolation, /^network:\s+full \(pipelines from forks: none\)$/m);
    assert.match(isolation, /^limits:\s+1 GiB memory · 100 processes$/m);
    const missing = await cli(['project', 'show', 'no-such']);
    assert.equal(missing.code, 3);
    assert.match(missing.err, /\[GANTRY_E_NOT_FOUND\]/);

    const bad = await cli(['project', 'create', '1234', '--git-url', repo.repo]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /body\.name.*\[GANTRY_E_INVALID_REQUEST\]/);
  });
});

describe('gantry secret', () => {
  const box = () => new SecretBox(loadOrCreateSecretsKey(path.join(h.home, 'secrets.key')));
  async function storedValue(project: string, key: string): Promise<string | null> {
    const p = (await apiGet(`/projects/${project}`)) as { id: number };
    const v = (await h.store.listVariables(asProjectId(p.id))).find((x) => x.key === key);
    return v ? box().open(v, variableContext(p.id, key)) : null;
  }

  it('a protected variable, the protected refs, the audit log and the project share from the command line, never a value', async () => {
    const project = await newProject();
    assert.equal(ok(await cli(['secret', 'set', project, 'DEPLOY_KEY', '--masked', '--protected'], { input: 'cli-pr0tected-value\n' })).out, `DEPLOY_KEY set on project ${project} (masked, protected)\n`);
    assert.match(ok(await cli(['secret', 'list', project])).out, /^DEPLOY_KEY\s+yes\s+yes\s+\d{4}-/m);
    assert.equal(ok(await cli(['project', 'protect', project])).out, 'protected branches: none\nprotected tags:     none\n');
    assert.equal(ok(await cli(['project', 'protect', project, '--branch', 'main', 'release/*'])).out, 'protected branches: main release/*\nprotected tags:     none\n');
    assert.deepEqual(JSON.parse(ok(await cli(['project', 'protect', project, '--tag', 'v*', '--json'])).out), { branches: ['main', 'release/*'], tags: ['v*'] });
    const table = ok(await cli(['audit', '--project', project, '--limit', '2']));
    assert.match(table.out, /^ID\s+AT \(UTC\)\s+ACTION\s+ACTOR\s+TARGET\s+FROM$/m);
    assert.match(table.out, /protected_refs\.set\s+admin-token #\d+\s+protected_refs\s+127\.0\.0\.1/);
    assert.match(table.out, /more: gantry audit --project \S+ --before \d+/);
    const all = JSON.parse(ok(await cli(['audit', '--project', project, '--json'])).out) as { items: Array<{ action: string; target: { id: string | null } }> };
    assert.deepEqual(all.items.map((e) => e.action), ['protected_refs.set', 'protected_refs.set', 'variable.set', 'project.create']);
    assert.doesNotMatch(JSON.stringify(all), /pr0tected/);
    assert.equal((await cli(['audit', '--limit', '0'])).code, 2);
    // The project's share of the fleet: a weight and the urgent jobs, shown and set.
    assert.equal(ok(await cli(['project', 'share', project])).out, 'weight:      1\nurgent jobs: none\n');
    assert.equal(ok(await cli(['project', 'share', project, '--weight', '3', '--urgent-jobs', 'deploy*', 'release'])).out, 'weight:      3\nurgent jobs: deploy* release\n');
    assert.deepEqual(JSON.parse(ok(await cli(['project', 'share', project, '--no-urgent-jobs', '--json'])).out), { weight: 3, urgentJobs: [] });
    const badWeight = await cli(['project', 'share', project, '--weight', '0']);
    assert.equal(badWeight.code, 2);
    assert.match(badWeight.err, /--weight 0: use a whole number from 1 to 1000/);
  });

  it('set from stdin and from --value stores the value; list shows keys, masked and time, never a value; rm deletes', async () => {
    const project = await newProject();
    const fromStdin = ok(await cli(['secret', 'set', project, 'DEPLOY_TOKEN', '--masked'], { input: 'from-stdin-s3cret\n' }));
    assert.equal(fromStdin.out, `DEPLOY_TOKEN set on project ${project} (masked)\n`);
    assert.equal(await storedValue(project, 'DEPLOY_TOKEN'), 'from-stdin-s3cret');

    const fromFlag = ok(await cli(['secret', 'set', project, 'REGION', '--value', 'eu-value-42', '--json']));
    assert.deepEqual(JSON.parse(fromFlag.out), { key: 'REGION', masked: false, protected: false });
    assert.equal(await storedValue(project, 'REGION'), 'eu-value-42');

    const file = path.join(repo.base, 'value.pem');
    fs.writeFileSync(file, 'line 1\nline 2\n');
    ok(await cli(['secret', 'set', project, 'PEM', '--from-file', file]));
    assert.equal(await storedValue(project, 'PEM'), 'line 1\nline 2\n');

    const json = ok(await cli(['secret', 'list', project, '--json']));
    const items = (JSON.parse(json.out) as { items: Array<{ key: string; masked: boolean; updatedAt: string }> }).items;
    assert.deepEqual(items.map((v) => [v.key, v.masked]), [['DEPLOY_TOKEN', true], ['PEM', false], ['REGION', false]]);
    assert.ok(items.every((v) => Object.keys(v).sort().join() === 'key,masked,protected,updatedAt'));
    const table = ok(await cli(['secret', 'list', project]));
    assert.match(table.out, /^KEY\s+MASKED\s+PROTECTED\s+UPDATED \(UTC\)$/m);
    assert.match(table.out, /^DEPLOY_TOKEN\s+yes\s+no\s+\d{4}-/m);
    for (const out of [fromStdin.out, fromStdin.err, fromFlag.out, fromFlag.err, json.out, table.out]) {
      assert.doesNotMatch(out, /s3cret|eu-value-42|line 1/);
    }

    assert.equal(ok(await cli(['secret', 'rm', project, 'REGION'])).out, `REGION deleted from project ${project}\n`);
    assert.equal(await storedValue(project, 'REGION'), null);
    const again = await cli(['secret', 'rm', project, 'REGION']);
    assert.equal(again.code, 3);
    assert.match(again.err, /\[GANTRY_E_NOT_FOUND\]/);
  });

  it('set refuses an empty stdin, two value sources and a bad key without storing anything', async () => {
    const project = await newProject();
    const empty = await cli(['secret', 'set', project, 'K'], { input: '' });
    assert.equal(empty.code, 2);
    assert.match(empty.err, /stdin was empty/);
    const both = await cli(['secret', 'set', project, 'K', '--value', 'a', '--from-file', '/dev/null']);
    assert.equal(both.code, 2);
    const badKey = await cli(['secret', 'set', project, '1BAD', '--value', 'a']);
    assert.equal(badKey.code, 1);
    assert.match(badKey.err, /\[GANTRY_E_INVALID_REQUEST\]/);
    assert.equal(JSON.parse(ok(await cli(['secret', 'list', project, '--json'])).out).items.length, 0);
  });
});

describe('gantry token', () => {
  it('create prints the token once, list shows it without its value, the token starts a pipeline, revoke ends it', async () => {
    const project = await newProject();
    const made = ok(await cli(['token', 'create', project, '--description', 'from jenkins']));
    const token = made.out.trim();
    assert.match(token, /^gantry_trigger_\S+$/);
    assert.match(made.err, /not shown again/);
    const listed = JSON.parse(ok(await cli(['token', 'list', project, '--json'])).out) as { items: Array<{ id: number; description: string; lastUsedAt: null }> };
    assert.equal(listed.items.length, 1);
    assert.equal(listed.items[0]!.description, 'from jenkins');
    assert.doesNotMatch(ok(await cli(['token', 'list', project])).out, new RegExp(token));
    const res = await fetch(`${h.url}/api/v1/projects/${project}/trigger`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, ref: 'main' }),
    });
    assert.equal(res.status, 201);
    assert.equal(((await res.json()) as { source: string }).source, 'trigger');
    const id = listed.items[0]!.id;
    assert.equal(ok(await cli(['token', 'revoke', project, String(id)])).out, `trigger token #${id} of project ${project} revoked\n`);
    assert.equal(ok(await cli(['token', 'list', project])).out, `project ${project} has no trigger tokens\n`);
    const again = await cli(['token', 'revoke', project, String(id)]);
    assert.equal(again.code, 3);
    assert.match(again.err, /\[GANTRY_E_NOT_FOUND\]/);
    assert.equal((await cli(['token', 'revoke', project, 'abc'])).code, 2);
  });
});

it('--help of every server command exits 0 and says where the server and token come from', async () => {
  const commands = [['trigger'], ['project'], ['project', 'create'], ['project', 'list'], ['project', 'show'], ['secret'], ['secret', 'set'], ['secret', 'rm'], ['secret', 'list'], ['token'], ['token', 'create'], ['token', 'list'], ['token', 'revoke']];
  const results = await Promise.all(commands.map((c) => cli([...c, '--help'])));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, commands[i]!.join(' '));
    assert.match(r.out, /^Usage: gantry /);
    if (commands[i]!.length === 2 || commands[i]![0] === 'trigger') {
      assert.match(r.out, /\$GANTRY_SERVER/);
      assert.match(r.out, /\$GANTRY_HOME\/admin\.token/);
    }
  });
});
