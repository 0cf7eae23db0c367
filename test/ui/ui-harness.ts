// The web UI under test: a real `gantry up` (server on SQLite and a local agent, one process) on
// a free loopback port with a temp GANTRY_HOME and a project on a real git repository, and
// Debian's chromium driven by playwright-core. Without chromium the UI tests skip with the reason,
// except under CI=true where they fail (.ci/run installs it).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { freePort } from '../fleet/fleet-harness.js';
import { GANTRY_BIN, ROOT, sandbox, type Sandbox } from '../helpers/gantry.js';
import { isDead } from '../helpers/processes.js';

/** Screenshots land here (gitignored) for a person to look at. */
export const SCREENSHOTS = path.join(ROOT, 'test-output', 'ui');

/** The system chromium on PATH, or null. */
export function findChromium(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const p = path.join(dir, name);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** Why the UI tests cannot run here, or null; under CI a missing browser is a failure, not a skip. */
export function skipReason(): string | false {
  if (findChromium()) return false;
  if (process.env.CI === 'true') throw new Error('chromium is not installed (CI must have it: .ci/run installs it with apt-get)');
  return 'chromium is not installed: apt-get install -y chromium';
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: findChromium()!,
    headless: true,
    // Root in a container has no user namespaces for chromium's sandbox.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

export class GantryUp {
  readonly sb: Sandbox;
  child: ChildProcess | null = null;
  url = '';
  token = '';
  /** The first admin user's (`admin`) password, printed once by the first start. */
  password = '';
  /** The port to listen on when it must be known before the start (a provider's redirect URI); else a free one. */
  port: number | null = null;
  private out = '';

  /** `env`: more of gantry up's environment (GANTRY_SIGN_IN_MAX_FAILURES, say). */
  constructor(
    files: Record<string, string>,
    private readonly env: Record<string, string> = {},
  ) {
    this.sb = sandbox(files);
  }

  async start(): Promise<void> {
    const port = this.port ?? (await freePort());
    // A local agent that does not isolate: the pages show such an agent plainly, and jobs that need
    // the sandbox waiting for one (the sandbox itself is the fleet and security suites' subject).
    this.child = spawn(process.execPath, [GANTRY_BIN, 'up', '--listen', `127.0.0.1:${port}`, '--concurrency', '3', '--isolation', 'none'], {
      env: { ...process.env, GANTRY_HOME: this.sb.home, GANTRY_TEST: '1', GANTRY_KILL_GRACE_MS: '1000', NO_COLOR: '1', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (c: Buffer) => (this.out += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.out += c.toString()));
    const until = Date.now() + 20_000;
    // Up once the server listens and the local agent has its session.
    while (!/Gantry is up at/.test(this.out) || !/connected to/.test(this.out)) {
      if (this.child.exitCode !== null) throw new Error(`gantry up exited ${this.child.exitCode}:\n${this.out}`);
      if (Date.now() > until) throw new Error(`gantry up did not start:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    this.url = `http://127.0.0.1:${port}`;
    this.token = fs.readFileSync(path.join(this.sb.home, 'admin.token'), 'utf8').trim();
    this.password = /First start: user admin created with password (\S+)\n/.exec(this.out)?.[1] ?? '';
  }

  /** Signs `page` in as the first admin user, through the sign-in page, and waits for the home page. */
  async signInAsAdmin(page: Page): Promise<void> {
    await page.goto(`${this.url}/login`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(this.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/$/);
  }

  output(): string {
    return this.out;
  }

  async api<T>(method: string, p: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** SIGTERM twice (drain, then cancel running jobs), SIGKILL if it lingers; then the temp dirs go. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child?.pid && !isDead(child.pid)) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.kill('SIGTERM'), 200).unref();
      const killer = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    this.sb.cleanup();
  }
}
