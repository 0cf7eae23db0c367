// Drains the commit status outbox (docs/ARCHITECTURE.md, "Forge statuses"). The outbox row of a
// pipeline is written in the transaction that moves the pipeline, so a crash loses no report;
// this worker, on every instance, claims due rows (one instance per row at a time), sends each
// pipeline's latest status, and records which version it sent. It runs beside the scheduler and
// holds no lock while a forge answers, so a slow or dead forge delays only its own statuses.
//
// Order: a row is in one instance's hands until its claim ends, and each send reads the latest
// status when claimed, so a forge never gets an older state after a newer one. The claim (60 s)
// outlasts a request (10 s timeout), so a claim never runs out while its request is in flight.

import { PipelineWokenPass } from '../pipeline-woken-pass.js';
import { forgeRefusalIsTemporary, forgeRetryDelayMs } from './retry-after.js';
import type { ForgeConfig, ForgeReport, ReportOutcome } from '../../store/forge.js';
import type { PipelineId, ProjectId } from '../../domain/ids.js';
import type { Store } from '../../store/store.js';
import type { SecretBox } from '../secrets.js';
import { stateFor, statusRequest } from './status.js';

export interface ReporterLog {
  warn(obj: object, msg: string): void;
}

export interface ReporterDeps {
  store: Store;
  secrets: SecretBox;
  now: () => number;
  log: ReporterLog;
  /** The server's public URL; each status links to its pipeline there. Null: no link. */
  publicUrl: string | null;
}

const CLAIM_MS = 60_000;
const REQUEST_TIMEOUT_MS = 10_000;
const BATCH = 20;
/** 1 s, 2 s, 4 s ... 5 min; after this many failures in a row a version is given up. */
const MAX_ATTEMPTS = 12;

/** The authenticated context of a project's forge token (SecretBox). */
export const forgeTokenContext = (projectId: number): string => `project:${projectId}:forge-token`;

export class ForgeReporter {
  // A pipeline that moved is reported at once; the timer picks up retries whose backoff ran out.
  private readonly worker: PipelineWokenPass;

  constructor(
    private readonly deps: ReporterDeps,
    everyMs = 1_000,
  ) {
    this.worker = new PipelineWokenPass(deps.store, () => this.pass(), deps.log, 'forge status drain', everyMs);
  }

  start(): void {
    this.worker.start();
  }

  stop(): Promise<void> {
    return this.worker.stop();
  }

  /** Sends what is due; a drain asked for while one runs runs right after it. */
  drain(): Promise<void> {
    return this.worker.drain();
  }

  private async pass(): Promise<boolean> {
    const at = this.deps.now();
    const reports = await this.deps.store.forge.claimReports(at, at + CLAIM_MS, BATCH);
    const configs = new Map<ProjectId, Promise<ForgeConfig | null>>();
    const configOf = (id: ProjectId) => {
      if (!configs.has(id)) configs.set(id, this.deps.store.forge.getConfig(id));
      return configs.get(id)!;
    };
    await Promise.all(reports.map(async (r) => this.finish(r, await this.send(r, await configOf(r.projectId)))));
    return reports.length === BATCH;
  }

  private async finish(r: ForgeReport, outcome: ReportOutcome): Promise<void> {
    await this.deps.store.forge.finishReport(r.pipelineId as PipelineId, r.version, outcome);
  }

  /** The next try: when the forge said (Retry-After, a rate limit's reset), else after the backoff. */
  private retry(r: ForgeReport, error: string, forgeDelayMs: number | null = null): ReportOutcome {
    if (r.attempts + 1 >= MAX_ATTEMPTS) return { kind: 'gave-up', error: `${error} (gave up after ${MAX_ATTEMPTS} attempts)` };
    return { kind: 'retry', retryAt: this.deps.now() + (forgeDelayMs ?? Math.min(1_000 * 2 ** r.attempts, 300_000)), error };
  }

  private async send(r: ForgeReport, config: ForgeConfig | null): Promise<ReportOutcome> {
    // The configuration was removed after the status was written: nothing to tell.
    if (!config) return { kind: 'gave-up', error: 'the project has no forge configuration' };
    const state = stateFor(config.provider, r.status);
    if (state === r.sentState) return { kind: 'sent', state };
    let token: string;
    try {
      token = this.deps.secrets.open({ ciphertext: config.ciphertext, nonce: config.nonce }, forgeTokenContext(config.projectId));
    } catch (err) {
      this.deps.log.warn({ err, project: config.projectId }, 'the forge token cannot be decrypted; statuses of this project are not sent');
      return { kind: 'gave-up', error: 'the forge token cannot be decrypted (another secrets.key?)' };
    }
    const req = statusRequest(
      { provider: config.provider, baseUrl: config.baseUrl, repository: config.repository, context: config.context, token },
      { pipelineId: r.pipelineId, status: r.status, sha: r.sha, ref: r.ref, targetUrl: this.deps.publicUrl ? `${this.deps.publicUrl.replace(/\/+$/, '')}/pipelines/${r.pipelineId}` : null },
    );
    try {
      const res = await fetch(req.url, {
        method: 'POST',
        headers: { ...req.headers, 'content-type': 'application/json' },
        body: JSON.stringify(req.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        // A token is never carried to wherever a redirect points.
        redirect: 'manual',
      });
      const text = (await res.text().catch(() => '')).slice(0, 200);
      if (res.ok) return { kind: 'sent', state: req.state };
      const error = `HTTP ${res.status} from ${config.provider}: ${text}`;
      // Worth another try: the forge is busy, down, or rate-limiting, at the time it names if it
      // names one. Any other refusal (a bad token, an unknown repository or commit) will not
      // mend itself.
      if (forgeRefusalIsTemporary(res.status, res.headers)) return this.retry(r, error, forgeRetryDelayMs(res.status, res.headers, this.deps.now()));
      this.deps.log.warn({ project: config.projectId, pipeline: r.pipelineId, status: res.status }, `forge refused a commit status: ${error}`);
      return { kind: 'gave-up', error };
    } catch (err) {
      return this.retry(r, `${config.provider} did not answer: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
