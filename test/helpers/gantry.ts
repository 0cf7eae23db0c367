// Test helpers that drive the real CLI: real git repositories in temp directories, real child
// processes, a private $GANTRY_HOME per test.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PipelineJson } from '../../src/views/pipeline-json.js';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');
export const GANTRY_BIN = path.join(ROOT, 'bin', 'gantry');

export interface Sandbox {
  /** The temp directory holding repo/ and home/; free for scratch files, removed by cleanup(). */
  base: string;
  repo: string;
  home: string;
  write(file: string, text: string): void;
  commit(message?: string): void;
  git(...args: string[]): string;
  cleanup(): void;
}

export function sandbox(files: Record<string, string> = {}, opts: { branch?: string; commit?: boolean } = {}): Sandbox {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-test-'));
  const repo = path.join(base, 'repo');
  const home = path.join(base, 'home');
  fs.mkdirSync(repo);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd: repo, encoding: 'utf8' });
  git('init', '-q', '-b', opts.branch ?? 'main');
  const sb: Sandbox = {
    base,
    repo,
    home,
    write(file, text) {
      fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
      fs.writeFileSync(path.join(repo, file), text);
    },
    commit(message = 'commit') {
      git('add', '-A');
      git('commit', '-q', '--allow-empty', '-m', message);
    },
    git,
    cleanup() {
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
  for (const [f, t] of Object.entries(files)) sb.write(f, t);
  if (opts.commit !== false) sb.commit('initial');
  return sb;
}

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  out: string;
}

export function gantryEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // NO_COLOR and GANTRY_DEBUG from the caller's shell are dropped; a test may set them in `extra`.
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_HOME: home, GANTRY_KILL_GRACE_MS: '300' };
  // The pipeline conformance tests run a second time with `gantry run` in the sandbox (scripts/test.mjs).
  if (process.env.GANTRY_TEST_ISOLATION === 'sandbox') env.GANTRY_ISOLATION = 'sandbox';
  delete env.NO_COLOR;
  delete env.GANTRY_DEBUG;
  return { ...env, ...extra };
}

export function startGantry(sb: Sandbox, args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [GANTRY_BIN, ...args], { cwd: sb.repo, env: gantryEnv(sb.home, extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
}

export function gantry(sb: Sandbox, args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startGantry(sb, args, extraEnv);
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out);
      resolve({ code, stdout, stderr: err, out: stdout.toString() });
    });
  });
}

/** What `gantry run --json` prints; the tests check the values, the type only names the fields. */
export type PipelineJsonShape = PipelineJson;

/** `gantry run --json` and the parsed pipeline. */
export async function runJson(sb: Sandbox, args: string[] = [], env: Record<string, string> = {}) {
  const r = await gantry(sb, ['run', '--json', ...args], env);
  let pipeline: PipelineJsonShape;
  try {
    pipeline = JSON.parse(r.out) as PipelineJsonShape;
  } catch {
    throw new Error(`gantry run --json printed no JSON (exit ${r.code}):\n${r.out}\n${r.stderr}`);
  }
  const job = (name: string) => {
    const j = pipeline.jobs.find((x) => x.name === name);
    if (!j) throw new Error(`no job ${name} in ${pipeline.jobs.map((x) => x.name).join(', ')}`);
    return j;
  };
  return { ...r, pipeline, job };
}

/** `gantry logs` as text. */
export async function logsOf(sb: Sandbox, pipelineId: number, job: string, attempt?: number): Promise<string> {
  const r = await gantry(sb, ['logs', String(pipelineId), job, ...(attempt ? ['--attempt', String(attempt)] : [])]);
  if (r.code !== 0) throw new Error(`gantry logs failed: ${r.stderr}`);
  return r.out;
}

/** `gantry logs` as raw bytes. */
export async function logBytes(sb: Sandbox, pipelineId: number, job: string, attempt?: number): Promise<Buffer> {
  const r = await gantry(sb, ['logs', String(pipelineId), job, ...(attempt ? ['--attempt', String(attempt)] : [])]);
  if (r.code !== 0) throw new Error(`gantry logs failed: ${r.stderr}`);
  return r.stdout;
}

/** Runs `fn` with a fresh sandbox and always removes it afterwards. */
export async function withSandbox<T>(
  files: Record<string, string>,
  fn: (sb: Sandbox) => Promise<T>,
  opts: { branch?: string; commit?: boolean } = {},
): Promise<T> {
  const sb = sandbox(files, opts);
  try {
    return await fn(sb);
  } finally {
    sb.cleanup();
  }
}

/** `gantry pipelines --json` parsed. */
export async function pipelinesJson(sb: Sandbox, args: string[] = []) {
  const r = await gantry(sb, ['pipelines', '--json', ...args]);
  if (r.code !== 0) throw new Error(`gantry pipelines failed (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.out) as {
    items: { id: number; project: string | null; status: string; ref: string; sha: string; source: string; createdAt: string; startedAt: string | null; finishedAt: string | null }[];
    next: number | null;
  };
}

/** Lines `KEY=VALUE` a job printed, from its log (echoed `$ ...` lines are skipped). */
export function printedVars(log: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of log.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Runs the real CLI in any directory (not necessarily a sandbox's repository). */
export function gantryIn(cwd: string, home: string, args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GANTRY_BIN, ...args], { cwd, env: gantryEnv(home, extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out);
      resolve({ code, stdout, stderr: err, out: stdout.toString() });
    });
  });
}

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const ms = (iso: string | null): number => {
  if (iso === null) throw new Error('expected a timestamp, got null');
  return Date.parse(iso);
};
