// Runs one attempt of one job, the way GitLab's shell executor does: fresh workspace, caches and
// artifacts in, before_script + script in one shell, after_script in another, artifacts and
// caches out. Output goes to `onOutput` with GitLab's section markers. Knows nothing of the store.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FailureReason } from '../domain/status.js';
import { GANTRY_VERSION } from '../domain/version.js';
import type { CacheSpec, CompiledJob } from '../pipeline/types.js';
import { expandVariables } from '../pipeline/index.js';
import { collectPaths } from './collect-paths.js';
import { runScript, type ScriptResult } from './process-group.js';
import { agentLine, sectionEnd, sectionStart, stepScript } from './script.js';
import type { Launcher } from './launcher/launcher.js';
import type { JobIsolation } from './isolation.js';
import type { ArtifactTransport, CacheTransport, DotenvTransport, TestReportTransport } from './transports.js';
import { readJunitReports } from './junit-report.js';
import { readDotenvReports } from './dotenv-report.js';
import { summaryLine, testsView } from '../domain/test-reports.js';
import type { SourceSnapshot } from './workspace.js';

export interface JobAssignment {
  jobId: number;
  attempt: number;
  job: CompiledJob;
  /** Every variable the job sees, resolved and expanded (predefined ones included). */
  variables: Record<string, string>;
  /** Jobs whose artifacts this job downloads, in order. */
  artifactSources: { jobId: number; name: string }[];
  /** Where the workspace goes ($CI_PROJECT_DIR): made fresh, or reset to fresh if it exists. */
  workspaceDir: string;
  /** The file the job's output is spooled to (outside the workspace; made anew for each step). */
  spoolPath: string;
  timeoutSeconds: number;
  afterScriptTimeoutSeconds: number;
  /** How long a stopped job may take to exit after SIGTERM before its group gets SIGKILL. */
  graceMs: number;
  agentName: string;
}

export interface AgentServices {
  source: SourceSnapshot;
  launcher: Launcher;
  /** How this job's processes run: the agent's user (`none`) or the sandbox; gives the job its starting environment. */
  isolation: JobIsolation;
  artifacts: ArtifactTransport;
  cache: CacheTransport;
  /** Where the attempt's test report goes (`artifacts:reports:junit`). */
  reports: TestReportTransport;
  /** Where the attempt's dotenv variables go (`artifacts:reports:dotenv`). */
  dotenv: DotenvTransport;
}

/**
 * The abort reason for a job stopped because its project ran out of compute minutes: the job
 * ends as canceled (the server records `failed` / `quota_exceeded`), but its log says why.
 */
export const QUOTA_EXCEEDED_STOP = 'quota_exceeded';

const CACHE_POLICIES: readonly CacheSpec['policy'][] = ['pull-push', 'pull', 'push'];

export type JobOutcome =
  | { status: 'success'; exitCode: 0; failureReason: null }
  | { status: 'failed'; exitCode: number | null; failureReason: FailureReason }
  | { status: 'timed_out'; exitCode: number | null; failureReason: 'timeout' }
  | { status: 'canceled'; exitCode: number | null; failureReason: 'canceled' };

function cacheKeyOf(spec: CacheSpec, vars: Record<string, string>, workspace: string): string {
  let key: string;
  if (spec.key.kind === 'literal') key = expandVariables(spec.key.value, vars);
  else {
    // GitLab hashes the files' last commits; a content hash gives the same "changes when they do".
    const h = crypto.createHash('sha256');
    for (const f of spec.key.files) {
      const p = path.join(workspace, f);
      h.update(f).update('\0');
      if (fs.existsSync(p)) h.update(fs.readFileSync(p));
      h.update('\0');
    }
    const digest = h.digest('hex').slice(0, 40);
    key = spec.key.prefix ? `${expandVariables(spec.key.prefix, vars)}-${digest}` : digest;
  }
  return safeCacheKey(key);
}

/**
 * A key names a directory under the project's cache directory: keep it to one safe path
 * segment, so that no key (`a/../../b`, `.`, `..`) reaches another project's caches or the
 * cache directory itself. Fallback keys go through here too.
 */
export function safeCacheKey(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'default';
}

/** `oomKilled`: the kernel's OOM killer ended a process of the job (its sandbox's memory limit). */
function outcomeOf(r: ScriptResult, oomKilled: boolean): JobOutcome {
  if (r.stoppedFor === 'timeout') return { status: 'timed_out', exitCode: r.exitCode, failureReason: 'timeout' };
  if (r.stoppedFor === 'canceled') return { status: 'canceled', exitCode: r.exitCode, failureReason: 'canceled' };
  if (r.exitCode === 0) return { status: 'success', exitCode: 0, failureReason: null };
  // Killed by a signal: the exit code a shell would report (128 + its number: 137 for SIGKILL).
  const signo = r.signal ? os.constants.signals[r.signal] : undefined;
  return { status: 'failed', exitCode: r.exitCode ?? (signo ? 128 + signo : 1), failureReason: oomKilled ? 'out_of_memory' : 'script_failure' };
}

/**
 * The agent's own lines come in bursts (a job's header, a section's end and the next one's start):
 * each burst goes out as one piece, so into the log as one record and one write, not one per line.
 * A burst ends where the runner waits for anything (a microtask later at most), before each step
 * starts, and before the job's own output, which passes through as it comes.
 */
function burstsOf(onOutput: (chunk: Buffer) => void): { say: (chunk: Buffer) => void; flush: () => void } {
  let held: Buffer[] = [];
  let queued = false;
  const flush = () => {
    queued = false;
    if (held.length === 0) return;
    const chunk = held.length === 1 ? held[0]! : Buffer.concat(held);
    held = [];
    onOutput(chunk);
  };
  return {
    say: (chunk) => {
      held.push(chunk);
      if (!queued) {
        queued = true;
        queueMicrotask(flush);
      }
    },
    flush,
  };
}

export async function runJob(
  a: JobAssignment,
  services: AgentServices,
  jobOutput: (chunk: Buffer) => void,
  signal: AbortSignal,
): Promise<JobOutcome> {
  const { say: onOutput, flush } = burstsOf(jobOutput);
  try {
    return await runJobSteps(a, services, onOutput, flush, jobOutput, signal);
  } finally {
    flush();
  }
}

async function runJobSteps(
  a: JobAssignment,
  services: AgentServices,
  onOutput: (chunk: Buffer) => void,
  flush: () => void,
  jobOutput: (chunk: Buffer) => void,
  signal: AbortSignal,
): Promise<JobOutcome> {
  const { job } = a;
  const isolation = services.isolation;
  const env = { ...isolation.baseEnv, ...a.variables };
  const ws = a.workspaceDir;
  onOutput(agentLine(`Running with gantry ${GANTRY_VERSION} on ${a.agentName}`, 'cyan'));
  onOutput(agentLine(isolation.summary));

  onOutput(sectionStart('prepare_script', 'Preparing the workspace'));
  try {
    services.source.materialize(ws, isolation.owner);
  } catch (err) {
    onOutput(agentLine(`ERROR: could not prepare the workspace: ${(err as Error).message}`, 'red'));
    return { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
  }
  onOutput(agentLine(`Workspace ${ws}`));
  onOutput(sectionEnd('prepare_script'));

  // GitLab Runner expands cache and artifacts keywords with the job's variables, once (os.Expand).
  const caches = [];
  for (const spec of job.cache) {
    const policy = spec.policyUnexpanded === undefined ? spec.policy : expandVariables(spec.policyUnexpanded, a.variables);
    if (!(CACHE_POLICIES as readonly string[]).includes(policy)) {
      onOutput(agentLine(`ERROR: unknown cache policy ${JSON.stringify(policy)} (from ${spec.policyUnexpanded}): it must be pull-push, pull or push`, 'red'));
      return { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
    }
    caches.push({ spec, policy: policy as CacheSpec['policy'], key: cacheKeyOf(spec, a.variables, ws), paths: spec.paths.map((p) => expandVariables(p, a.variables)) });
  }
  /** Whether anything but the sources may have been extracted into the workspace (then not yet the job's user's). */
  let extracted = false;
  for (const { spec, key, policy } of caches) {
    if (policy === 'push') continue;
    onOutput(sectionStart('restore_cache', `Restoring cache ${key}`));
    extracted = true;
    const hit = (await services.cache.restore(key, ws)) || (await restoreFallback(spec, a.variables, services.cache, ws, onOutput));
    onOutput(agentLine(hit ? `Restored cache ${key}` : `No cache for ${key}`, hit ? 'green' : 'yellow'));
    onOutput(sectionEnd('restore_cache'));
  }

  if (a.artifactSources.length > 0) {
    onOutput(sectionStart('download_artifacts', 'Downloading artifacts'));
    for (const src of a.artifactSources) {
      extracted = true;
      const got = await services.artifacts.fetch(src.jobId, ws);
      if (got) onOutput(agentLine(`Downloaded artifacts of ${src.name}`));
    }
    onOutput(sectionEnd('download_artifacts'));
  }

  try {
    if (extracted) isolation.adoptWorkspace(ws);
  } catch (err) {
    onOutput(agentLine(`ERROR: could not give the workspace to the job's user: ${(err as Error).message}`, 'red'));
    return { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
  }

  // A script's last line may lack its newline (`printf done; exit 1`): the agent's next line must
  // still start a line of its own, not be glued to the script's.
  let lineOpen = false;
  const scriptOutput = (chunk: Buffer) => {
    if (chunk.length > 0) lineOpen = chunk[chunk.length - 1] !== 0x0a;
    flush();
    jobOutput(chunk);
  };
  const endLine = () => {
    if (lineOpen) onOutput(Buffer.from('\n'));
    lineOpen = false;
  };

  onOutput(sectionStart('step_script', 'Executing "step_script" stage of the job script'));
  flush();
  const result = await runScript({
    script: stepScript([...job.beforeScript, ...job.script]),
    spoolPath: a.spoolPath,
    cwd: ws,
    env,
    onOutput: scriptOutput,
    timeoutMs: a.timeoutSeconds * 1000,
    graceMs: a.graceMs,
    signal,
    launcher: services.launcher,
    isolation,
  });
  endLine();
  onOutput(sectionEnd('step_script'));
  const outcome = outcomeOf(result, isolation.oomKills() > 0);

  if (job.afterScript.length > 0 && outcome.status !== 'canceled') {
    onOutput(sectionStart('after_script', 'Running after_script'));
    flush();
    const jobStatus = outcome.status === 'success' ? 'success' : 'failed';
    const after = await runScript({
      script: stepScript(job.afterScript),
      spoolPath: a.spoolPath,
      cwd: ws,
      env: { ...env, CI_JOB_STATUS: jobStatus },
      onOutput: scriptOutput,
      timeoutMs: a.afterScriptTimeoutSeconds * 1000,
      graceMs: a.graceMs,
      signal,
      launcher: services.launcher,
      isolation,
    });
    endLine();
    if (after.exitCode !== 0) onOutput(agentLine(`WARNING: after_script failed, but the job's status is not changed`, 'yellow'));
    onOutput(sectionEnd('after_script'));
  }

  const succeeded = outcome.status === 'success';
  const matches = (when: 'on_success' | 'on_failure' | 'always') =>
    outcome.status !== 'canceled' && (when === 'always' || (when === 'on_success') === succeeded);

  for (const { spec, key, policy, paths } of caches) {
    if (policy === 'pull' || !matches(spec.when)) continue;
    onOutput(sectionStart('archive_cache', `Saving cache ${key}`));
    try {
      const files = collectPaths(ws, paths);
      await services.cache.save(key, ws, files);
      onOutput(agentLine(`Saved cache ${key}: ${files.length} files`, 'green'));
    } catch (err) {
      onOutput(agentLine(`WARNING: cache ${key} not saved: ${(err as Error).message}`, 'yellow'));
    }
    onOutput(sectionEnd('archive_cache'));
  }

  // GitLab uploads reports whatever the job's result (they matter most when it failed), not
  // after a cancel. A report that cannot be read or kept is a warning: the job's status stands.
  const junit = job.artifacts?.reports?.junit ?? [];
  if (junit.length > 0 && outcome.status !== 'canceled') {
    onOutput(sectionStart('upload_test_reports', 'Reading test reports'));
    try {
      const { report, warnings } = await readJunitReports(ws, junit.map((p) => expandVariables(p, a.variables)));
      for (const w of warnings) onOutput(agentLine(w, 'yellow'));
      if (report.files > 0) {
        await services.reports.store(report);
        const line = summaryLine(testsView([{ jobId: a.jobId, jobName: '', attempt: a.attempt, report }]).summary);
        onOutput(agentLine(`Test report: ${line} (${report.files} ${report.files === 1 ? 'file' : 'files'}${report.unlisted > 0 ? `; ${report.unlisted} cases past the limits counted, not listed` : ''})`, 'green'));
      }
    } catch (err) {
      onOutput(agentLine(`WARNING: test reports not stored: ${(err as Error).message}`, 'yellow'));
    }
    onOutput(sectionEnd('upload_test_reports'));
  }

  // Read like the other reports, whatever the job's result. Unlike them, a report GitLab would
  // refuse (past its limits, not KEY=VALUE lines) fails the job: GitLab's runner fails a job whose
  // upload is refused. A path that matches nothing is only a warning.
  const dotenv = job.artifacts?.reports?.dotenv ?? [];
  let final: JobOutcome = outcome;
  if (dotenv.length > 0 && outcome.status !== 'canceled') {
    onOutput(sectionStart('upload_dotenv', 'Reading dotenv reports'));
    try {
      const read = await readDotenvReports(ws, dotenv.map((p) => expandVariables(p, a.variables)));
      for (const w of read.warnings) onOutput(agentLine(w, 'yellow'));
      if (read.error !== null) {
        onOutput(agentLine(`ERROR: the dotenv report is refused: ${read.error}`, 'red'));
        if (final.status === 'success') final = { status: 'failed', exitCode: null, failureReason: 'script_failure' };
      } else if (read.variables !== null) {
        await services.dotenv.keep(read.variables);
        const keys = read.variables.map((v) => v.key);
        onOutput(agentLine(`Dotenv report: ${keys.length} ${keys.length === 1 ? 'variable' : 'variables'} for later jobs${keys.length > 0 ? ` (${keys.join(', ')})` : ''}`, 'green'));
      }
    } catch (err) {
      onOutput(agentLine(`ERROR: the dotenv report could not be kept: ${(err as Error).message}`, 'red'));
      if (final.status === 'success') final = { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
    }
    onOutput(sectionEnd('upload_dotenv'));
  }

  const archive = job.artifacts && (job.artifacts.paths.length > 0 || job.artifacts.untracked || (junit.length === 0 && dotenv.length === 0));
  if (job.artifacts && archive && matches(job.artifacts.when)) {
    onOutput(sectionStart('upload_artifacts', 'Uploading artifacts'));
    try {
      const expand = (p: string) => expandVariables(p, a.variables);
      const files = collectPaths(ws, job.artifacts.paths.map(expand), job.artifacts.exclude.map(expand));
      if (files.length === 0) onOutput(agentLine('WARNING: no files match the artifact paths', 'yellow'));
      await services.artifacts.store(a.jobId, ws, files, job.artifacts.expireInSeconds);
      onOutput(agentLine(`Uploaded ${files.length} artifact files`, 'green'));
    } catch (err) {
      onOutput(agentLine(`ERROR: artifacts not uploaded: ${(err as Error).message}`, 'red'));
      if (final.status === 'success') final = { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
    }
    onOutput(sectionEnd('upload_artifacts'));
  }


  if (final.status === 'success') onOutput(agentLine('Job succeeded', 'green'));
  else if (final.status === 'timed_out') onOutput(agentLine(`ERROR: Job failed: execution took longer than ${a.timeoutSeconds} seconds`, 'red'));
  else if (final.status === 'canceled' && signal.reason === QUOTA_EXCEEDED_STOP) {
    onOutput(agentLine('ERROR: Job stopped: its project ran out of compute minutes (quota_exceeded)', 'red'));
  } else if (final.status === 'canceled') onOutput(agentLine('ERROR: Job canceled', 'red'));
  else if (final.failureReason === 'out_of_memory') onOutput(agentLine(`ERROR: Job failed: out of memory (the job reached its memory limit and the kernel killed a process of it; exit code ${final.exitCode})`, 'red'));
  else onOutput(agentLine(`ERROR: Job failed: ${final.exitCode === null ? final.failureReason : `exit code ${final.exitCode}`}`, 'red'));
  return final;
}

async function restoreFallback(
  spec: CacheSpec,
  vars: Record<string, string>,
  cache: CacheTransport,
  ws: string,
  onOutput: (chunk: Buffer) => void,
): Promise<boolean> {
  for (const raw of spec.fallbackKeys) {
    const key = safeCacheKey(expandVariables(raw, vars));
    if (await cache.restore(key, ws)) {
      onOutput(agentLine(`Restored fallback cache ${key}`));
      return true;
    }
  }
  return false;
}
