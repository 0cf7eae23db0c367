// A fleet for a test: real `bin/gantry server` processes and real `bin/gantry agent` processes on
// loopback, a temp GANTRY_HOME, a short test lease, and a project on a real git repository. Every
// process started here is killed (by its pid) when the fleet is torn down.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { asJobId } from '../../src/domain/ids.js';
import { openStore } from '../../src/store/open.js';
import type { Attempt } from '../../src/store/store.js';
import { after } from 'node:test';
import { GANTRY_BIN, sandbox, type Sandbox } from '../helpers/gantry.js';
import { isDead } from '../helpers/processes.js';
import { sandboxUnavailable } from '../helpers/sandbox-host.js';
import { defaultUidBase, processesInRange } from '../../src/agent/sandbox/slot-users.js';

export const TEST_LEASE_MS = 2_000;

export interface Proc {
  child: ChildProcess;
  output(): string;
}

export interface AgentProc extends Proc {
  home: string;
  isolation: 'none' | 'sandbox';
}

export interface JobView {
  id: number;
  name: string;
  status: string;
  attempts: number;
  failureReason: string | null;
  exitCode: number | null;
}
export interface PipelineView {
  id: number;
  status: string;
  jobs: JobView[];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function spawnGantry(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [GANTRY_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out };
}

/**
 * The level agents run at when a test does not say: the sandbox where this host can, and always
 * in CI (CI=true), where a host that cannot makes the agents refuse to start instead of the
 * fleet tests passing without it.
 */
export const HOST_ISOLATION: 'none' | 'sandbox' = process.env.CI === 'true' || sandboxUnavailable() === null ? 'sandbox' : 'none';

export class Fleet {
  readonly sb: Sandbox;
  /**
   * A directory every job may write, whatever its isolation (agents get it with --sandbox-rw): where
   * tests' jobs leave marks for the test to read.
   */
  readonly shared: string;
  readonly procs: Proc[] = [];
  port = 0;
  url = '';
  adminToken = '';
  agentToken = '';
  private agentCount = 0;

  constructor(
    files: Record<string, string>,
    /** `sqlite:...` (default, under the sandbox) or a postgres:// URL. */
    private readonly db: string | null = null,
    /** The level agents run at unless startAgent says otherwise. */
    readonly isolation: 'none' | 'sandbox' = HOST_ISOLATION,
  ) {
    this.sb = sandbox(files);
    this.shared = path.join(this.sb.base, 'shared');
    fs.mkdirSync(this.shared, { mode: 0o777 });
    fs.chmodSync(this.shared, 0o777);
  }

  /**
   * A file in the shared directory every job may append to: jobs of different slots run as
   * different users in the sandbox, so the first one's umask must not lock the others out.
   */
  sharedFile(name: string): string {
    const file = path.join(this.shared, name);
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o666);
    return file;
  }

  get storeUrl(): string {
    return this.db ?? `sqlite:${path.join(this.sb.home, 'gantry.db')}`;
  }

  /** Starts a server instance (on the fleet's port unless `port` is given); resolves once it listens. */
  async startServer(opts: { port?: number; env?: Record<string, string> } = {}): Promise<Proc> {
    if (!this.port) this.port = await freePort();
    const port = opts.port ?? this.port;
    const p = spawnGantry(['server', '--listen', `127.0.0.1:${port}`, '--db', this.storeUrl], {
      GANTRY_HOME: this.sb.home,
      GANTRY_TEST: '1',
      GANTRY_TEST_LEASE_MS: String(TEST_LEASE_MS),
      GANTRY_KILL_GRACE_MS: '1000',
      ...opts.env,
    });
    this.procs.push(p);
    const until = Date.now() + 20_000;
    while (!/gantry server ready at/.test(p.output())) {
      if (p.child.exitCode !== null) throw new Error(`server exited ${p.child.exitCode}:\n${p.output()}`);
      if (Date.now() > until) throw new Error(`server did not start:\n${p.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!this.url) this.url = `http://127.0.0.1:${port}`;
    this.adminToken = fs.readFileSync(path.join(this.sb.home, 'admin.token'), 'utf8').trim();
    this.agentToken = fs.readFileSync(path.join(this.sb.home, 'agent.token'), 'utf8').trim();
    return p;
  }

  /** Starts an agent with its own home; resolves once it has a session. */
  async startAgent(
    opts: {
      tags?: string[];
      concurrency?: number;
      server?: string;
      home?: string;
      name?: string;
      isolation?: 'none' | 'sandbox';
      args?: string[];
      /** Resolve only once a sandboxed agent's isolation check is done (it runs after connecting, in slots of its own). */
      waitForCheck?: boolean;
    } = {},
  ): Promise<AgentProc> {
    const n = ++this.agentCount;
    const home = opts.home ?? path.join(this.sb.base, `agent-${n}`);
    const isolation = opts.isolation ?? this.isolation;
    const args = ['agent', '--server', opts.server ?? this.url, '--name', opts.name ?? `agent-${n}`, '--concurrency', String(opts.concurrency ?? 1), '--isolation', isolation];
    if (isolation === 'sandbox') args.push('--sandbox-rw', this.shared);
    if (opts.tags?.length) args.push('--tags', opts.tags.join(','));
    args.push(...(opts.args ?? []));
    // The registration token by the environment, as the README advises (not --token: ps shows it).
    const p = spawnGantry(args, { GANTRY_HOME: this.sb.home, GANTRY_AGENT_HOME: home, GANTRY_KILL_GRACE_MS: '1000', GANTRY_AGENT_TOKEN: this.agentToken });
    this.procs.push(p);
    const until = Date.now() + 20_000;
    const ready = opts.waitForCheck && isolation === 'sandbox' ? /isolation check (passed|failed)/ : /connected to/;
    while (!ready.test(p.output())) {
      if (p.child.exitCode !== null) throw new Error(`agent exited ${p.child.exitCode}:\n${p.output()}`);
      if (Date.now() > until) throw new Error(`agent did not connect:\n${p.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return { ...p, home, isolation };
  }

  /**
   * Whether an agent's job still has processes: under `none` by the pid the job printed (`$$`);
   * in the sandbox, where `$$` is its own namespace's, by the uids of the agent's job users.
   */
  jobAlive(agent: AgentProc, printedPid: number): boolean {
    if (agent.isolation === 'none') return !isDead(printedPid);
    return processesInRange(defaultUidBase(agent.home)).length > 0;
  }

  /** A directory in the shared one that every job may write (its files are the jobs' users'). */
  sharedDir(name: string): string {
    const dir = path.join(this.shared, name);
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    return dir;
  }

  async api<T = unknown>(method: string, p: string, body?: unknown, base = this.url): Promise<{ status: number; body: T }> {
    const res = await fetch(`${base}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${this.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async log(jobId: number, attempt?: number): Promise<Buffer> {
    const res = await fetch(`${this.url}/api/v1/jobs/${jobId}/log${attempt ? `?attempt=${attempt}` : ''}`, { headers: { authorization: `Bearer ${this.adminToken}` } });
    return Buffer.from(await res.arrayBuffer());
  }

  /** A job's attempts as the store has them (read through a store of the test's own). */
  async attempts(jobId: number): Promise<Attempt[]> {
    const store = await openStore(this.storeUrl);
    try {
      return await store.listAttempts(asJobId(jobId));
    } finally {
      await store.close();
    }
  }

  /** Polls an attempt's stored log until `re` matches it; returns the match. */
  async waitLog(jobId: number, attempt: number, re: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec((await this.log(jobId, attempt)).toString());
      if (m) return m;
      if (Date.now() > until) throw new Error(`attempt ${attempt} of job ${jobId} never printed ${re}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async project(name = 'demo'): Promise<void> {
    const r = await this.api('POST', '/projects', { name, gitUrl: this.sb.repo });
    if (r.status !== 201 && r.status !== 409) throw new Error(`project: ${r.status} ${JSON.stringify(r.body)}`);
  }

  async trigger(project = 'demo', variables?: Record<string, string>): Promise<PipelineView> {
    const r = await this.api<PipelineView>('POST', `/projects/${project}/pipelines`, { ref: 'main', ...(variables ? { variables } : {}) });
    if (r.status !== 201) throw new Error(`trigger: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async pipeline(id: number): Promise<PipelineView> {
    return (await this.api<PipelineView>('GET', `/pipelines/${id}`)).body;
  }

  /** Polls the pipeline until `until` says yes (default: finished), or fails after `timeoutMs`. */
  async waitPipeline(id: number, until: (p: PipelineView) => boolean = (p) => ['success', 'failed', 'canceled', 'skipped'].includes(p.status), timeoutMs = 30_000): Promise<PipelineView> {
    const end = Date.now() + timeoutMs;
    let last: PipelineView | null = null;
    for (;;) {
      try {
        last = await this.pipeline(id);
        if (until(last)) return last;
      } catch {
        // the server may be restarting
      }
      if (Date.now() > end) throw new Error(`pipeline ${id} did not get there: ${JSON.stringify(last)}\n${this.procs.map((p) => p.output().slice(-3000)).join('\n----\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return new Promise((resolve) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
      p.child.once('exit', () => resolve());
      p.child.kill(signal);
    });
  }

  async teardown(): Promise<void> {
    for (const p of this.procs) if (p.child.pid && !isDead(p.child.pid)) await this.kill(p);
    this.sb.cleanup();
  }
}

/**
 * For a suite (call it inside `describe`): makes fleets on the store `db` names (null: SQLite in
 * the sandbox), and tears every one of them down after the suite's tests.
 */
export function fleetsOn(db: () => Promise<string | null>, isolation: 'none' | 'sandbox' = HOST_ISOLATION): (files: Record<string, string>) => Promise<Fleet> {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });
  return async (files) => {
    const f = new Fleet(files, await db(), isolation);
    fleets.push(f);
    return f;
  };
}
