// `gantry agent`: a process on any machine that takes jobs from a Gantry server and runs them
// (docs/PROTOCOL.md). One session per process; while a slot is free exactly one long poll asks
// for work; while an attempt runs exactly one held heartbeat renews every lease and brings
// cancels; each attempt's output goes through its spool to the server by byte offset, and its
// completion is sent only once the server holds every byte.

import type { DotenvVariable } from '../../domain/dotenv.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QUOTA_EXCEEDED_STOP, runJob, type JobOutcome } from '../job-runner.js';
import { ProcessLauncher } from '../launcher/launcher.js';
import { killLeftoverJobs } from '../launcher/job-registry.js';
import { lockHome } from './home-lock.js';
import { agentLine, sectionEnd, sectionStart } from '../script.js';
import { CoverageScanner } from '../coverage.js';
import type { ArtifactTransport, CacheTransport, TestReportTransport } from '../transports.js';
import { GANTRY_VERSION, PROTOCOL_VERSION } from '../../domain/version.js';
import { expandVariables } from '../../pipeline/index.js';
import { jobVariables, resolveJobVariables } from '../../variables/predefined.js';
import type { OfferJson } from '../../server/fleet/offer.js';
import { AttemptLog, LogBatches, LogMasker, uploadAlone } from './attempt-log.js';
import { loadIdentity, saveIdentity } from './identity.js';
import { Backoff, sleep, untilAnswered, Unreachable, woken, type ProtocolAnswer, ProtocolClient } from './protocol-client.js';
import { SourceCache } from './sources.js';
import type { Isolation, JobIsolation } from '../isolation.js';
import { NO_LIMITS, type IsolationCheck } from '../../domain/isolation.js';


export interface RemoteAgentOptions {
  serverUrl: string;
  /** $GANTRY_AGENT_HOME: identity, spool, mirrors, builds. */
  home: string;
  name: string;
  tags: string[];
  concurrency: number;
  /**
   * Takes exactly one job, runs it, deregisters and ends (`--ephemeral`): a fresh VM or pod per
   * job, as GitHub's ephemeral runners. Its one slot waits for the isolation check before it asks,
   * so that job may be one that needs the sandbox.
   */
  ephemeral: boolean;
  /** The pool it runs jobs for (`gantry agent --pool`), sent with its facts. */
  pool: string;
  /** Needed only to register (first run, or after a deregistration). */
  registrationToken: string | null;
  /**
   * How jobs run here (`none` or `sandbox`), and the isolation check to run (null: none, under
   * `none`). Called once the agent home is locked: setting up the sandbox clears what a crashed
   * predecessor left. The check runs once the session is open, while trusted work is already
   * taken; its result goes to the server, which gives untrusted work only after a passing one.
   */
  isolation(): Promise<{ isolation: Isolation; check: (() => Promise<IsolationCheck>) | null }>;
  graceMs: number;
  /** What the agent reports about itself (stderr in the CLI). */
  log(line: string): void;
  /** First abort: drain (finish running jobs, take no more). */
  stop: AbortSignal;
  /** Abort: cancel running jobs now. */
  cancelJobs: AbortSignal;
  /** Artifacts and caches through the server, for one attempt. */
  transports(client: ProtocolClient, attemptId: number, token: string): { artifacts: ArtifactTransport; cache: CacheTransport; reports: TestReportTransport };
}

interface Timings {
  leaseMs: number;
  heartbeatHoldMs: number;
  pollWaitMs: number;
  offerTtlMs: number;
  backoffCapMs: number;
}

interface Running {
  offer: OfferJson;
  controller: AbortController;
  /** Set when the server gave the attempt up (fenced, lost): no completion is sent. */
  lost: boolean;
}

class Fatal extends Error {}

export async function runRemoteAgent(o: RemoteAgentOptions): Promise<number> {
  fs.mkdirSync(o.home, { recursive: true, mode: 0o700 });
  const lock = lockHome(o.home);
  if (!lock.ok) {
    o.log(`ERROR: another gantry agent (pid ${lock.holder}) uses ${o.home}; give each agent process its own GANTRY_AGENT_HOME`);
    return 1;
  }
  try {
    // Job groups a crashed predecessor left running: their attempts are lost already (the new
    // session tells the server so), and they would go on writing into the builds directory.
    const jobsDir = path.join(o.home, 'jobs');
    const killed = killLeftoverJobs(jobsDir);
    if (killed.length > 0) o.log(`killed ${killed.length} job process group${killed.length === 1 ? '' : 's'} a previous agent process left running (${killed.join(', ')})`);
    const { isolation, check } = await o.isolation();
    try {
      return await runAgent(o, jobsDir, isolation, check);
    } finally {
      isolation.close();
    }
  } finally {
    lock.release();
  }
}

async function runAgent(o: RemoteAgentOptions, jobsDir: string, isolation: Isolation, runCheck: (() => Promise<IsolationCheck>) | null): Promise<number> {
  const client = new ProtocolClient(o.serverUrl.replace(/\/+$/, ''), null);
  const facts = {
    name: o.name,
    tags: o.tags,
    concurrency: o.concurrency,
    pool: o.pool,
    version: GANTRY_VERSION,
    protocol: PROTOCOL_VERSION,
    platform: { os: process.platform, arch: process.arch, hostname: os.hostname() },
    isolation: isolation.level,
    limits: isolation.limits,
    // Sent once it has run, beside the first jobs (below): until then, no untrusted work.
    isolationCheck: null,
  };
  const spoolDir = path.join(o.home, 'spool');
  // Spools of a previous process belong to attempts the server has already given up.
  fs.rmSync(spoolDir, { recursive: true, force: true });
  fs.mkdirSync(spoolDir, { recursive: true });

  const register = async (): Promise<void> => {
    if (!o.registrationToken) throw new Fatal(`no agent identity for ${o.serverUrl} and no registration token (--token) to register with`);
    const a = await untilAnswered(() => client.request('POST', '/agent/register', { json: facts }, o.registrationToken), new Backoff(10_000), o.stop);
    if (a.status !== 201) throw new Fatal(`registration refused: ${describe(a)}`);
    const { agentId, token } = a.body as { agentId: number; token: string };
    saveIdentity(o.home, o.serverUrl, { agentId, token });
    o.log(`registered as agent ${agentId}`);
  };

  let identity = loadIdentity(o.home, o.serverUrl);
  if (!identity) {
    await register();
    identity = loadIdentity(o.home, o.serverUrl)!;
  }
  client.setToken(identity.token);

  let session: { sessionId: string; timings: Timings; limits: { maxChunkBytes: number; logBatchBytes?: number; headBytes?: number; tailBytes?: number } };
  for (let tries = 0; ; tries++) {
    const a = await untilAnswered(() => client.request('POST', '/agent/sessions', { json: facts }), new Backoff(10_000), o.stop);
    if (a.status === 201) {
      session = a.body as typeof session;
      break;
    }
    if ((a.code === 'GANTRY_E_AGENT_DEREGISTERED' || a.code === 'GANTRY_E_UNAUTHENTICATED') && tries === 0) {
      await register();
      client.setToken(loadIdentity(o.home, o.serverUrl)!.token);
      continue;
    }
    throw new Fatal(`the server refused the session: ${describe(a)}`);
  }
  o.log(`agent ${identity.agentId} connected to ${o.serverUrl} (session ${session.sessionId.slice(0, 8)})`);

  const launcher = new ProcessLauncher({ registry: jobsDir });
  const sources = new SourceCache(o.home);
  const running = new Map<number, Running>();
  const fatal = new AbortController();
  // Every attempt's log goes up in one stream of batched requests, if the server takes them.
  const batches = session.limits.logBatchBytes ? new LogBatches(client, session.limits.logBatchBytes, session.timings.backoffCapMs, fatal.signal) : null;
  let fatalError: Error | null = null;
  const die = (e: Error) => {
    if (fatalError) return;
    fatalError = e;
    fatal.abort();
    for (const r of running.values()) {
      r.lost = true;
      r.controller.abort();
    }
  };
  const sessionHeaders = { 'gantry-session': session.sessionId };
  const checkFatal = (a: ProtocolAnswer) => {
    if (a.code === 'GANTRY_E_SESSION_REPLACED') die(new Fatal('another process took over this agent identity (its session replaced ours)'));
    else if (a.code === 'GANTRY_E_AGENT_DEREGISTERED' || a.code === 'GANTRY_E_UNAUTHENTICATED') die(new Fatal('this agent was deregistered'));
  };
  o.cancelJobs.addEventListener('abort', () => {
    for (const r of running.values()) r.controller.abort();
  });
  let slotFreed: (() => void) | null = null;
  let heartbeatWake: (() => void) | null = null;
  const stopping = AbortSignal.any([o.stop, fatal.signal]);

  // ---- the isolation check: hostile probes in slots of their own, beside the first jobs.
  let checked: Promise<void> = Promise.resolve();
  if (runCheck) {
    checked = (async () => {
      let check: IsolationCheck;
      try {
        check = await runCheck();
      } catch (e) {
        o.log(`WARNING: the isolation check could not run (${(e as Error).message}): this agent takes no untrusted work`);
        return;
      }
      if (check.passed) o.log(`isolation check passed (${check.probes.length} probes)`);
      else o.log(`WARNING: the isolation check failed, so this agent takes no untrusted work: ${check.probes.filter((p) => !p.ok).map((p) => `${p.probe}: ${p.observed}`).join('; ')}`);
      const a = await untilAnswered(
        () => client.request('POST', '/agent/isolation-check', { json: { isolationCheck: check }, headers: sessionHeaders }),
        new Backoff(session.timings.backoffCapMs),
        fatal.signal,
      ).catch(() => null);
      if (a && a.status !== 204) {
        checkFatal(a);
        o.log(`the server did not take the isolation check: ${describe(a)}`);
      }
    })();
  }

  // ---- the heartbeat: while anything runs, one held request renews every lease and brings cancels.
  const heartbeatLoop = async () => {
    const backoff = new Backoff(session.timings.backoffCapMs);
    while (!fatal.signal.aborted) {
      if (running.size === 0) {
        if (o.stop.aborted && unreported === 0) return;
        await woken(fatal.signal, (w) => (heartbeatWake = w));
        continue;
      }
      const held = [...running.values()].map((r) => ({ id: r.offer.attemptId, token: r.offer.attemptToken }));
      let a: ProtocolAnswer;
      try {
        a = await client.request('POST', '/agent/heartbeat', {
          json: { attempts: held, holdMs: session.timings.heartbeatHoldMs },
          headers: sessionHeaders,
          timeoutMs: session.timings.heartbeatHoldMs + 10_000,
          signal: fatal.signal,
        });
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e;
        await backoff.wait(fatal.signal);
        continue;
      }
      if (a.status !== 200) {
        checkFatal(a);
        await backoff.wait(fatal.signal);
        continue;
      }
      backoff.reset();
      const body = a.body as { cancel: number[]; quotaExceeded?: number[]; lost: number[] };
      const overQuota = new Set(body.quotaExceeded ?? []);
      for (const id of body.cancel) running.get(id)?.controller.abort(overQuota.has(id) ? QUOTA_EXCEEDED_STOP : undefined);
      for (const id of body.lost) {
        const r = running.get(id);
        if (r) {
          r.lost = true;
          r.controller.abort();
          o.log(`attempt ${id}: the server gave it up (lost); stopping its job`);
        }
      }
    }
  };

  // ---- one attempt, from the offer to the completion.
  /** Slots taken: from the offer until the job's processes are done (its report may still be on its way). */
  let inFlight = 0;
  /** Attempts from the offer until their completion is answered: what a drain waits for. */
  let unreported = 0;
  const runAttempt = async (offer: OfferJson, processesDone: () => void) => {
    const r: Running = { offer, controller: new AbortController(), lost: false };
    const backoff = new Backoff(session.timings.backoffCapMs);
    const sourceP = sources.snapshot(offer.repository.url, offer.repository.sha);
    sourceP.catch(() => undefined);
    const start = await untilAnswered(
      () => client.request('POST', `/agent/attempts/${offer.attemptId}/start`, { json: {}, headers: { 'gantry-attempt-token': offer.attemptToken } }),
      backoff,
      fatal.signal,
    ).catch(() => null);
    if (!start || start.status !== 200) {
      if (start) checkFatal(start);
      o.log(`attempt ${offer.attemptId}: not started (${start ? describe(start) : 'stopped'})`);
      return;
    }
    running.set(offer.attemptId, r);
    heartbeatWake?.();
    o.log(`attempt ${offer.attemptId}: job ${offer.job.id} "${offer.job.name}" of pipeline ${offer.job.pipelineId} started`);
    const log = new AttemptLog(
      path.join(spoolDir, `${offer.attemptId}.log`),
      offer.attemptId,
      offer.attemptToken,
      session.limits.maxChunkBytes,
      session.limits.headBytes !== undefined && session.limits.tailBytes !== undefined ? { headBytes: session.limits.headBytes, tailBytes: session.limits.tailBytes } : null,
    );
    if (batches) batches.add(log);
    else uploadAlone(log, client, session.timings.backoffCapMs, fatal.signal);
    const masker = new LogMasker(offer.variables.masked);
    /** A write to the attempt's spool that failed (a full disk): the job is stopped, not the agent. */
    let spoolFailure: Error | null = null;
    // Matched against what the log keeps (masked), as GitLab matches its trace.
    const coverage = offer.spec.coverage ? new CoverageScanner(offer.spec.coverage) : null;
    const spooled = (chunk: Buffer) => {
      coverage?.push(chunk);
      if (spoolFailure) return;
      try {
        log.append(chunk);
      } catch (err) {
        spoolFailure = err as Error;
        o.log(`attempt ${offer.attemptId}: its output could not be spooled (${spoolFailure.message}): the job is stopped`);
        r.controller.abort();
      }
    };
    const onOutput = (chunk: Buffer) => spooled(masker.push(chunk));
    for (const notice of offer.notices ?? []) onOutput(agentLine(notice, 'yellow'));
    let outcome: JobOutcome;
    /** The attempt's dotenv variables, sent with its completion (PROTOCOL.md §6). */
    let dotenv: DotenvVariable[] | null = null;
    const slot = freeSlot();
    const buildsDir = path.join(o.home, 'builds');
    const workspaceDir = path.join(buildsDir, String(slot), offer.project.name);
    let jobIsolation: JobIsolation | null = null;
    try {
      const startedAt = Date.now();
      const variables = resolveJobVariables(
        {
          pipeline: offer.variables.pipeline,
          file: offer.variables.file,
          job: offer.spec.variables,
          // Absent from an older server's offer.
          dotenv: offer.variables.dotenv ?? {},
          trigger: offer.variables.trigger,
          predefinedJob: jobVariables({
            pipelineId: offer.job.pipelineId,
            pipelineCreatedAt: offer.job.pipelineCreatedAt,
            jobId: offer.job.id,
            job: offer.spec,
            startedAt,
            projectDir: workspaceDir,
            buildsDir,
            agentName: o.name,
            timeoutSeconds: offer.timeouts.jobSeconds,
          }),
        },
        expandVariables,
      );
      let source;
      try {
        // GitLab's name for the checkout step, so viewers fold and time it like the others.
        // The title names the commit, not the URL: a URL may carry credentials.
        onOutput(sectionStart('get_sources', `Getting source at ${offer.repository.sha.slice(0, 12)}`));
        source = await sourceP;
        onOutput(sectionEnd('get_sources'));
      } catch (err) {
        onOutput(sectionEnd('get_sources'));
        onOutput(agentLine(`ERROR: could not check out ${offer.repository.url} at ${offer.repository.sha}: ${(err as Error).message}`, 'red'));
        throw err;
      }
      const t = o.transports(client, offer.attemptId, offer.attemptToken);
      // Older servers send no isolation: the agent's own limits, the host's network.
      const asked = offer.isolation ?? { network: 'full', limits: NO_LIMITS, trusted: true };
      if (isolation.level !== 'sandbox' && (!asked.trusted || asked.network === 'none')) {
        // The take never offers this (a project's settings changed in between): refuse rather
        // than run a fork's code, or a network-none job, without the sandbox.
        onOutput(agentLine(`ERROR: this job needs the sandbox (${asked.trusted ? 'network none' : 'a pipeline from a fork'}) and this agent runs jobs with isolation none`, 'red'));
        throw new Error('the job needs a sandboxed agent');
      }
      jobIsolation = isolation.forJob({
        slot,
        workspace: workspaceDir,
        borrowedObjects: source.borrowedObjects,
        network: asked.network,
        limits: asked.limits,
        scriptDir: path.join(buildsDir, 'scripts', String(slot)),
        trusted: asked.trusted,
      });
      outcome = await runJob(
        {
          jobId: offer.job.id,
          attempt: offer.attempt,
          job: offer.spec,
          variables,
          artifactSources: offer.artifactSources,
          workspaceDir,
          spoolPath: path.join(buildsDir, String(slot), 'output.spool'),
          timeoutSeconds: offer.timeouts.jobSeconds,
          afterScriptTimeoutSeconds: offer.timeouts.afterScriptSeconds,
          graceMs: Math.min(o.graceMs, offer.timeouts.killGraceMs),
          agentName: o.name,
        },
        { source, launcher, isolation: jobIsolation, artifacts: t.artifacts, cache: t.cache, reports: t.reports, dotenv: { keep: (vars) => void (dotenv = vars) } },
        onOutput,
        r.controller.signal,
      );
    } catch (err) {
      onOutput(agentLine(`ERROR: the agent failed: ${(err as Error).message}`, 'red'));
      outcome = { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
    } finally {
      try {
        jobIsolation?.dispose();
      } catch (err) {
        o.log(`attempt ${offer.attemptId}: the job's sandbox could not be cleaned up: ${(err as Error).message}`);
      }
      releaseSlot(slot);
      // The slot is free for the next job while this one's last bytes and completion travel: the
      // poll is already waiting when the completion makes a dependent job ready.
      processesDone();
    }
    // What the job printed could not all be kept: the agent's failure, not the script's.
    if (spoolFailure) outcome = { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
    spooled(masker.flush());
    const delivered = await log.finish();
    try {
      if (r.lost || delivered.kind !== 'delivered') {
        o.log(`attempt ${offer.attemptId}: ended without a report (${delivered.kind === 'fenced' ? delivered.reason : r.lost ? 'given up by the server' : 'stopped'})`);
        return;
      }
      for (;;) {
        const a = await untilAnswered(
          () =>
            client.request('POST', `/agent/attempts/${offer.attemptId}/complete`, {
              json: {
                status: outcome.status,
                exitCode: outcome.exitCode,
                failureReason: outcome.failureReason,
                logEnd: log.size,
                finishedAt: new Date().toISOString(),
                // Only for a job with `coverage:`, so a job without it completes on any server.
                ...(coverage ? { coverage: coverage.value() } : {}),
                // Only when the job wrote some, so a job without them completes on any server.
                ...(dotenv && dotenv.length > 0 ? { dotenv } : {}),
              },
              headers: { 'gantry-attempt-token': offer.attemptToken },
            }),
          backoff,
          fatal.signal,
        ).catch(() => null);
        if (!a) return;
        if (a.status === 200) {
          o.log(`attempt ${offer.attemptId}: ${outcome.status}`);
          return;
        }
        if (a.code === 'GANTRY_E_LOG_INCOMPLETE') {
          // Cannot happen while the server keeps what it acknowledged; wait and ask again.
          await sleep(500, fatal.signal);
          continue;
        }
        checkFatal(a);
        o.log(`attempt ${offer.attemptId}: completion refused: ${describe(a)}`);
        return;
      }
    } finally {
      batches?.remove(log);
      log.dispose();
      running.delete(offer.attemptId);
    }
  };

  // Job slots: each has its workspace directory, reset between its jobs.
  const free = Array.from({ length: o.concurrency }, (_, i) => o.concurrency - 1 - i);
  function freeSlot(): number {
    return free.pop() ?? o.concurrency + running.size;
  }
  function releaseSlot(slot: number): void {
    if (slot < o.concurrency) free.push(slot);
  }

  // ---- the poll: one open request while a slot is free.
  const pollLoop = async () => {
    const backoff = new Backoff(10_000);
    while (!stopping.aborted) {
      const slots = o.concurrency - inFlight;
      if (slots <= 0) {
        await woken(stopping, (w) => (slotFreed = w));
        continue;
      }
      let a: ProtocolAnswer;
      try {
        a = await client.request('POST', '/agent/jobs/request', {
          json: { slots, waitMs: session.timings.pollWaitMs },
          headers: sessionHeaders,
          timeoutMs: session.timings.pollWaitMs + 10_000,
          signal: stopping,
        });
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e;
        await backoff.wait(stopping);
        continue;
      }
      if (a.status === 204) {
        backoff.reset();
        continue;
      }
      if (a.status !== 200) {
        checkFatal(a);
        await backoff.wait(stopping);
        continue;
      }
      backoff.reset();
      const offers = (a.body as { offers: OfferJson[] }).offers;
      for (const offer of offers) {
        inFlight++;
        unreported++;
        let slotHeld = true;
        const processesDone = () => {
          if (!slotHeld) return;
          slotHeld = false;
          inFlight--;
          slotFreed?.();
        };
        void runAttempt(offer, processesDone)
          .catch((err: unknown) => o.log(`attempt ${offer.attemptId}: ${(err as Error).message}`))
          .finally(() => {
            processesDone();
            unreported--;
            heartbeatWake?.();
          });
      }
      // Its one job taken: an ephemeral agent asks for nothing more.
      if (o.ephemeral && offers.length > 0) return;
    }
  };

  const heartbeat = heartbeatLoop();
  if (o.ephemeral) await Promise.race([checked, new Promise((r) => stopping.addEventListener('abort', r, { once: true }))]);
  await pollLoop();
  // Draining: no more work is taken; running jobs finish and report.
  while (unreported > 0 && !fatal.signal.aborted) await sleep(50);
  (heartbeatWake as (() => void) | null)?.();
  fatal.abort();
  await heartbeat.catch(() => undefined);
  launcher.close();
  if (o.ephemeral && !fatalError) await deregisterSelf(o, client);
  if (fatalError) {
    o.log(`ERROR: ${(fatalError as Error).message}`);
    return 1;
  }
  return 0;
}

/**
 * An ephemeral agent leaves no offline agent behind: it deregisters (DELETE /agent/self) and
 * forgets its identity, so a home that is reused registers anew. Tried for a while, not for ever:
 * its machine is about to go, and an admin can remove a leftover from the agents page.
 */
async function deregisterSelf(o: RemoteAgentOptions, client: ProtocolClient): Promise<void> {
  const a = await untilAnswered(() => client.request('DELETE', '/agent/self', {}), new Backoff(2_000), AbortSignal.timeout(30_000)).catch(() => null);
  if (a && (a.status === 204 || a.code === 'GANTRY_E_AGENT_DEREGISTERED' || a.code === 'GANTRY_E_UNAUTHENTICATED')) {
    saveIdentity(o.home, o.serverUrl, null);
    o.log('ephemeral: its job is done; deregistered');
  } else o.log(`ephemeral: could not deregister (${a ? describe(a) : 'the server did not answer'}); remove it from the agents page`);
}

function describe(a: ProtocolAnswer): string {
  const e = (a.body as { error?: { code?: string; message?: string } } | null)?.error;
  return e ? `${e.code}: ${e.message}` : `HTTP ${a.status}`;
}
