// A small typed client for the HTTP API of `gantry server` (docs/API.md), on Node's fetch. It
// knows URLs, headers, retries and the error envelope; it prints nothing and reads no config.

import type { JobLimits, NetworkPolicy } from '../domain/isolation.js';
import { readSse } from './sse.js';
import { shedWaitOf, type ShedWait } from './shed-wait.js';
import { GantryError, type ErrorCode } from '../domain/errors.js';
import type { JobJson, PipelineJson } from '../views/pipeline-json.js';
import type { QueueReasonJson } from '../views/queue-reason-text.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export interface ProjectJson {
  id: number;
  name: string;
  gitUrl: string;
  createdAt: string;
  /** Absent from a server older than isolation. */
  requireSandbox?: boolean;
  network?: NetworkPolicy;
  forkNetwork?: NetworkPolicy;
  jobLimits?: JobLimits;
  /** Absent from a server older than identity tokens. */
  forkIdTokens?: boolean;
  /** Absent from a server older than weighted fair share. */
  weight?: number;
  urgentJobs?: string[];
}

/** A pool of agents and its price (API.md, "Pools"). */
export interface PoolJson {
  name: string;
  costFactor: number;
  agents: { id: number; name: string; status: 'idle' | 'busy' | 'offline' }[];
  updatedAt: string | null;
}

export interface VariableJson {
  key: string;
  masked: boolean;
  /** Absent from a server older than protected variables. */
  protected?: boolean;
  updatedAt: string;
}

export interface ProtectedRefsJson {
  branches: string[];
  tags: string[];
}

/** One audit log entry (API.md, "Audit log"). */
export interface AuditEntryJson {
  id: number;
  at: string;
  action: string;
  actor: { kind: 'user' | 'admin-token' | 'project-token' | 'anonymous'; userId?: number; username?: string; via?: 'session' | 'token'; tokenId?: number };
  target: { type: string; id: string | null };
  projectId: number | null;
  address: string | null;
  details: Record<string, unknown> | null;
}

export interface TriggerTokenJson {
  id: number;
  description: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface PersonalTokenJson {
  id: number;
  description: string;
  projects: number[] | null;
  readOnly: boolean;
  expiresAt: string | null;
  expired: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface NewPersonalTokenJson {
  description: string;
  expiresAt?: string;
  projects?: string[];
  readOnly?: boolean;
}

export interface UserJson {
  id: number;
  username: string;
  admin: boolean;
  disabled: boolean;
  createdAt: string;
}

export interface UserPatchJson {
  admin?: boolean;
  disabled?: boolean;
  password?: string;
}

export interface PipelineDiagnosticJson {
  file: string;
  line: number;
  column: number;
  code: string;
  message: string;
}

export interface TriggerRequest {
  ref: string;
  sha?: string;
  variables?: Record<string, string>;
}

/** A pushed ref as a git server's post-receive hook sees it: `ref` in full, `before` zeros for a new ref. */
export interface PushReport {
  ref: string;
  before: string;
  after: string;
  /** Who pushed, as the git server knows them; the pipeline's `triggeredBy`. */
  pusher?: { name: string };
}

/** The server's record of a delivery (GET /projects/:project/webhooks/deliveries). */
export interface DeliveryJson {
  id: number;
  deliveryId: string;
  status: 'queued' | 'processing' | 'done' | 'ignored' | 'failed';
  reason: string | null;
  pipelineId: number | null;
  /** True when the server had this delivery already (a resend): nothing new was recorded. */
  duplicate: boolean;
}

/** A pending job as GET /queue shows it (the fields the CLI prints). */
export interface QueueEntryJson {
  jobId: number;
  jobName: string;
  pipelineId: number;
  project: string;
  tags: string[];
  urgent?: boolean;
  queuedAt: string | null;
  reason: QueueReasonJson;
}

/** An agent as GET /agents shows it (the fields the CLI prints; the API has more). */
export interface AgentJson {
  id: number;
  name: string;
  tags: string[];
  concurrency: number;
  version: string;
  status: 'idle' | 'busy' | 'offline';
  lastSeenAt: string | null;
  currentJobs: number[];
  isolation: string;
  sandboxReady: boolean;
  /** Absent from a server older than pools. */
  pool?: string;
}

/** What a garbage collection deleted, or (dryRun) would delete (API.md, "Retention and garbage collection"). */
export interface GcSummaryJson {
  dryRun: boolean;
  pipelines: number;
  logs: number;
  artifacts: number;
  deliveries: number;
  outbox: number;
  audit: number;
  blobs: number;
  blobBytes: number;
  logObjects: number;
  logObjectBytes: number;
  bytes: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

export interface GcRunJson {
  id: number;
  startedBy: 'schedule' | 'api' | 'backup';
  instance: string;
  startedAt: string;
  finishedAt: string | null;
  summary: GcSummaryJson | null;
  error: string | null;
}

export interface TriggerResult {
  pipeline: PipelineJson;
  /** True when the Idempotency-Key had already created this pipeline (HTTP 200, not 201). */
  replayed: boolean;
}

/**
 * The server answered with an error: its stable code (a code this client does not know, from a
 * newer server, is kept as is), its message, the HTTP status, and the envelope's other fields
 * (`field`, `diagnostics`).
 */
export class ApiResponseError extends GantryError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    readonly details: Record<string, unknown> = {},
  ) {
    super(code, message);
  }

  /** The per-problem list of GANTRY_E_PIPELINE_INVALID, else empty. */
  get diagnostics(): PipelineDiagnosticJson[] {
    const d = this.details.diagnostics;
    return Array.isArray(d) ? (d as PipelineDiagnosticJson[]) : [];
  }
}

/** No HTTP answer at all: refused, reset, unknown host, TLS failure. */
/** How a streamed attempt ended (the log stream's `end` event). */
export interface LogStreamEnd {
  attempt: number | null;
  status: string;
  exitCode: number | null;
  failureReason: string | null;
}

export class ServerUnreachableError extends Error {
  override readonly name = 'ServerUnreachableError';
  readonly code = 'GANTRY_E_UNREACHABLE' as const;
  constructor(
    readonly server: string,
    readonly reason: string,
  ) {
    super(`cannot reach the Gantry server at ${server}: ${reason}`);
  }
}

export interface ClientOptions {
  /** Base URL of the server, without /api/v1 (normalizeServerUrl makes one). */
  server: string;
  /** Bearer token; null sends no Authorization header (the server answers 401). */
  token: string | null;
  /** Pause before the one retry (default 250 ms). */
  retryDelayMs?: number;
  /**
   * Told before each wait the server asked for (a 429 or 503 that shed the request, with
   * Retry-After): the CLI says so on stderr, so a pause is never a silent hang.
   */
  onShedWait?: (seconds: number, message: string) => void;
  fetch?: typeof fetch;
}

/** Accepts `host:port`, a URL with or without a trailing `/` or `/api/v1`; returns `scheme://host[:port][/prefix]`. */
export function normalizeServerUrl(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new GantryError('GANTRY_E_USAGE', `the server URL ${JSON.stringify(raw)} (--server or GANTRY_SERVER) is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GantryError('GANTRY_E_USAGE', `the server URL ${JSON.stringify(raw)} (--server or GANTRY_SERVER) is not an http:// or https:// URL`);
  }
  const prefix = url.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${url.protocol}//${url.host}${prefix}`;
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);
/**
 * The codes of a request the server refused before doing anything (RUNNING.md, "Overload: bounds,
 * rates and pressure"): resending it is safe whatever the method.
 */
/** Connection errors that mean the request never reached the server, so resending is always safe. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Whether sending the request twice does no harm: GET and PUT are; a POST is with an
   * Idempotency-Key; a DELETE is not (the second answer would be a misleading 404).
   */
  idempotent: boolean;
}

export class GantryClient {
  readonly server: string;
  private readonly token: string | null;
  private readonly retryDelayMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly onShedWait: (seconds: number, message: string) => void;

  constructor(opts: ClientOptions) {
    this.server = opts.server;
    this.token = opts.token;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
    this.fetchFn = opts.fetch ?? fetch;
    this.onShedWait = opts.onShedWait ?? (() => undefined);
  }

  /** The API URL of a path under /api/v1 (what `gantry trigger` prints for a pipeline). */
  url(path: string): string {
    return `${this.server}/api/v1${path}`;
  }

  createProject(name: string, gitUrl: string): Promise<ProjectJson> {
    return this.json('POST', '/projects', { body: { name, gitUrl }, idempotent: false });
  }

  /** Every project, oldest first (all pages). */
  async listProjects(): Promise<ProjectJson[]> {
    const all: ProjectJson[] = [];
    let after: number | null = null;
    do {
      const q: string = after === null ? '?limit=100' : `?limit=100&after=${after}`;
      const page: { items: ProjectJson[]; next: number | null } = await this.json('GET', `/projects${q}`, { idempotent: true });
      all.push(...page.items);
      after = page.next;
    } while (after !== null);
    return all;
  }

  /** PATCH /projects/:project: only the fields given change. */
  updateProject(project: string, patch: { weight?: number; urgentJobs?: string[] }): Promise<ProjectJson> {
    return this.json('PATCH', `/projects/${seg(project)}`, { body: patch, idempotent: true });
  }

  getProject(project: string): Promise<ProjectJson> {
    return this.json('GET', `/projects/${seg(project)}`, { idempotent: true });
  }

  async listVariables(project: string): Promise<VariableJson[]> {
    const res: { items: VariableJson[] } = await this.json('GET', `/projects/${seg(project)}/variables`, { idempotent: true });
    return res.items;
  }

  async putVariable(project: string, key: string, value: string, masked: boolean, isProtected = false): Promise<void> {
    // `protected` only when asked for, so a server older than protected variables still takes the rest.
    await this.send('PUT', `/projects/${seg(project)}/variables/${seg(key)}`, { body: { value, masked, ...(isProtected ? { protected: true } : {}) }, idempotent: true });
  }

  async listPools(): Promise<PoolJson[]> {
    return (await this.json<{ items: PoolJson[] }>('GET', '/pools', { idempotent: true })).items;
  }

  setPoolCostFactor(pool: string, costFactor: number): Promise<PoolJson> {
    return this.json('PUT', `/pools/${seg(pool)}`, { body: { costFactor }, idempotent: true });
  }

  getProtectedRefs(project: string): Promise<ProtectedRefsJson> {
    return this.json('GET', `/projects/${seg(project)}/protected-refs`, { idempotent: true });
  }

  setProtectedRefs(project: string, refs: ProtectedRefsJson): Promise<ProtectedRefsJson> {
    return this.json('PUT', `/projects/${seg(project)}/protected-refs`, { body: refs, idempotent: true });
  }

  /** Approves a fork's pipeline waiting for approval (`always`: its author from now on). Not resent: a second answer would be a 409. */
  approvePipeline(id: number, scope: 'once' | 'always'): Promise<PipelineJson> {
    return this.json('POST', `/pipelines/${id}/approve`, { body: { scope }, idempotent: false });
  }

  rejectPipeline(id: number, comment: string | undefined): Promise<PipelineJson> {
    return this.json('POST', `/pipelines/${id}/reject`, { body: comment === undefined ? {} : { comment }, idempotent: false });
  }

  /** One decision on a deployment waiting for approval. */
  /** Every agent of the fleet (one page: the server lists them all). */
  async listAgents(): Promise<AgentJson[]> {
    return (await this.json<{ items: AgentJson[] }>('GET', '/agents', { idempotent: true })).items;
  }

  /** The pending jobs in queue order with why each waits (of one project, or of all the caller sees). */
  async queue(project: string | null, limit: number): Promise<QueueEntryJson[]> {
    const q = new URLSearchParams({ limit: String(limit), ...(project === null ? {} : { project }) });
    return (await this.json<{ items: QueueEntryJson[] }>('GET', `/queue?${q}`, { idempotent: true })).items;
  }

  /** A month's compute minutes: a project's (maintainers), or the instance's (null: admins). */
  usage(project: string | null, month: string | null): Promise<unknown> {
    const q = month === null ? '' : `?month=${encodeURIComponent(month)}`;
    return this.json('GET', `${project === null ? '' : `/projects/${seg(project)}`}/usage${q}`, { idempotent: true });
  }

  /** The same month's billing lines as CSV text. */
  async usageCsv(project: string | null, month: string | null): Promise<string> {
    const q = new URLSearchParams({ format: 'csv', ...(month === null ? {} : { month }) });
    const res = await this.send('GET', `${project === null ? '' : `/projects/${seg(project)}`}/usage?${q}`, { idempotent: true });
    return res.text();
  }

  /** Cancels or retries a pipeline of the fleet. */
  pipelineAction(id: number, verb: 'cancel' | 'retry'): Promise<PipelineJson> {
    return this.json('POST', `/pipelines/${id}/${verb}`, { idempotent: false });
  }

  /** Cancels, retries or plays a job of the fleet. */
  jobAction(id: number, verb: 'cancel' | 'retry' | 'play' | 'unschedule'): Promise<JobJson> {
    return this.json('POST', `/jobs/${id}/${verb}`, { idempotent: false });
  }

  decideJob(id: number, verb: 'approve' | 'reject', comment: string | undefined): Promise<JobJson> {
    return this.json('POST', `/jobs/${id}/${verb}`, { body: comment === undefined ? {} : { comment }, idempotent: false });
  }

  /** Starts a garbage collection in the background, or finds the one under way. Not resent: the server's answer says which. */
  startGc(): Promise<{ id: number; startedAt: string; alreadyRunning: boolean }> {
    return this.json('POST', '/gc', { body: {}, idempotent: false });
  }

  /** What a garbage collection now would delete; deletes nothing, so it may be resent. */
  dryRunGc(): Promise<GcSummaryJson> {
    return this.json('POST', '/gc', { body: { dryRun: true }, idempotent: true });
  }

  /** The collection under way and the last one finished. */
  gcStatus(): Promise<{ running: GcRunJson | null; last: GcRunJson | null }> {
    return this.json('GET', '/gc', { idempotent: true });
  }

  /** One page of the audit log, newest first: a project's (maintainer) or the instance's (admin). */
  auditPage(project: string | null, limit: number, before: number | null): Promise<{ items: AuditEntryJson[]; next: number | null }> {
    const q = `?limit=${limit}${before === null ? '' : `&before=${before}`}`;
    return this.json('GET', `${project === null ? '' : `/projects/${seg(project)}`}/audit${q}`, { idempotent: true });
  }

  async deleteVariable(project: string, key: string): Promise<void> {
    await this.send('DELETE', `/projects/${seg(project)}/variables/${seg(key)}`, { idempotent: false });
  }

  /** A new trigger token: the only time its value is shown. Not resent: a second try would make a second token. */
  createTriggerToken(project: string, description: string | undefined): Promise<TriggerTokenJson & { token: string }> {
    return this.json('POST', `/projects/${seg(project)}/trigger-tokens`, { body: description === undefined ? {} : { description }, idempotent: false });
  }

  async listTriggerTokens(project: string): Promise<TriggerTokenJson[]> {
    const res: { items: TriggerTokenJson[] } = await this.json('GET', `/projects/${seg(project)}/trigger-tokens`, { idempotent: true });
    return res.items;
  }

  async revokeTriggerToken(project: string, id: number): Promise<void> {
    await this.send('DELETE', `/projects/${seg(project)}/trigger-tokens/${id}`, { idempotent: false });
  }

  /** A new personal access token: the only time its value is shown. Not resent: a second try would make a second token. */
  createPersonalToken(username: string, body: NewPersonalTokenJson): Promise<PersonalTokenJson & { token: string }> {
    return this.json('POST', `/users/${seg(username)}/tokens`, { body, idempotent: false });
  }

  async listPersonalTokens(username: string): Promise<PersonalTokenJson[]> {
    const res: { items: PersonalTokenJson[] } = await this.json('GET', `/users/${seg(username)}/tokens`, { idempotent: true });
    return res.items;
  }

  async revokePersonalToken(username: string, id: number): Promise<void> {
    await this.send('DELETE', `/users/${seg(username)}/tokens/${id}`, { idempotent: false });
  }

  /** Not resent: a second try after a lost answer would be a 409 for the user the first one made. */
  createUser(username: string, password: string, admin: boolean): Promise<UserJson> {
    return this.json('POST', '/users', { body: { username, password, admin }, idempotent: false });
  }

  async listUsers(): Promise<UserJson[]> {
    const res: { items: UserJson[] } = await this.json('GET', '/users', { idempotent: true });
    return res.items;
  }

  /** Setting fields to given values: sending it twice does what sending it once does. */
  updateUser(username: string, patch: UserPatchJson): Promise<UserJson> {
    return this.json('PATCH', `/users/${seg(username)}`, { body: patch, idempotent: true });
  }

  /**
   * Creates a pipeline. The key makes the request safe to resend: a retry after a lost answer
   * gets the pipeline the first attempt created, never a second one.
   */
  async triggerPipeline(project: string, request: TriggerRequest, idempotencyKey: string): Promise<TriggerResult> {
    const res = await this.send('POST', `/projects/${seg(project)}/pipelines`, {
      body: request,
      headers: { 'idempotency-key': idempotencyKey },
      idempotent: true,
    });
    return { pipeline: (await this.parse(res)) as PipelineJson, replayed: res.status === 200 };
  }

  /**
   * Reports a pushed ref; the server records it as a delivery and makes the pipeline after
   * answering. `deliveryId` makes the request safe to resend: the copy is a duplicate.
   */
  reportPush(project: string, push: PushReport, deliveryId: string): Promise<DeliveryJson> {
    return this.json('POST', `/projects/${seg(project)}/pushes`, { body: push, headers: { 'x-gantry-delivery': deliveryId }, idempotent: true });
  }

  getPipeline(id: number): Promise<PipelineJson> {
    return this.json('GET', `/pipelines/${id}`, { idempotent: true });
  }

  /**
   * A job's log from byte `from` on (of the latest attempt, or `attempt`): the bytes, and the
   * log's size then. Nothing past the end is an empty answer, not an error.
   */
  async logFrom(jobId: number, from: number, attempt?: number): Promise<{ bytes: Buffer; size: number }> {
    const q = attempt === undefined ? '' : `?attempt=${attempt}`;
    const headers: Record<string, string> = { accept: 'application/octet-stream' };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (from > 0) headers.range = `bytes=${from}-`;
    let res: Response;
    try {
      res = await this.fetchFn(this.url(`/jobs/${jobId}/log${q}`), { headers });
    } catch (err) {
      throw new ServerUnreachableError(this.server, networkFailure(err).reason);
    }
    if (res.status === 416) {
      await res.body?.cancel();
      const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
      return { bytes: Buffer.alloc(0), size: total ? Number(total[1]) : from };
    }
    if (!res.ok) throw await this.errorOf(res);
    const bytes = Buffer.from(await res.arrayBuffer());
    const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
    return { bytes, size: total ? Number(total[1]) : from + bytes.length };
  }

  /**
   * A job attempt's live log (SSE) from byte `from` on: yields each piece's bytes with the offset
   * after it, then how the attempt ended. A broken connection ends the iteration without an end
   * (or throws ServerUnreachableError before the first byte): resume from the last offset.
   */
  async *logStream(jobId: number, attempt: number, from: number): AsyncGenerator<{ bytes: Buffer; next: number } | { end: LogStreamEnd }> {
    const headers: Record<string, string> = { accept: 'text/event-stream', 'last-event-id': String(from) };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetchFn(this.url(`/jobs/${jobId}/log/stream?attempt=${attempt}`), { headers });
    } catch (err) {
      throw new ServerUnreachableError(this.server, networkFailure(err).reason);
    }
    if (!res.ok || !res.body) throw await this.errorOf(res);
    try {
      for await (const item of readSse(res.body)) {
        if ('comment' in item) continue;
        const data = JSON.parse(item.data) as Record<string, unknown>;
        if (item.event === 'log' && item.id !== null) {
          const bytes = Buffer.from(String(data.b64), 'base64');
          const next = Number(item.id);
          const offset = Number(data.offset);
          // Defensive: never print a byte before `from` twice.
          yield { bytes: offset < from && data.dropped === undefined ? bytes.subarray(from - offset) : bytes, next };
          from = next;
        } else if (item.event === 'end') {
          yield { end: data as unknown as LogStreamEnd };
          return;
        }
      }
    } catch (err) {
      // The connection broke mid-stream: the caller resumes from the last offset it got.
      if (err instanceof SyntaxError) throw err;
    }
  }

  private async json<T>(method: string, path: string, opts: RequestOptions): Promise<T> {
    return (await this.parse(await this.send(method, path, opts))) as T;
  }

  private async parse(res: Response): Promise<unknown> {
    const text = await res.text();
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ApiResponseError('GANTRY_E_INTERNAL', `the server at ${this.server} answered ${res.status} with a body that is not JSON`, res.status);
    }
  }

  /**
   * One request, resent once on a connection failure or a 502/503/504 when that is safe, and
   * after the wait the server asked for when it shed the request (429/503 with a shed code and
   * Retry-After: nothing was done, so any method may be resent), within SHED_BUDGET_S.
   */
  private async send(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const init: RequestInit = { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) };
    let shedWaited = 0;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchFn(this.url(path), init);
      } catch (err) {
        const { code, reason } = networkFailure(err);
        if (attempt === 1 && (opts.idempotent || NOT_SENT.has(code))) {
          await sleep(this.retryDelayMs);
          continue;
        }
        throw new ServerUnreachableError(this.server, reason);
      }
      if (res.ok) return res;
      const wait = await this.shedWait(res, shedWaited);
      if (wait !== null) {
        await res.body?.cancel();
        shedWaited += wait.seconds;
        this.onShedWait(wait.seconds, wait.message);
        await sleep(wait.seconds * 1000);
        attempt = 0;
        continue;
      }
      if (attempt === 1 && opts.idempotent && RETRYABLE_STATUS.has(res.status)) {
        await res.body?.cancel();
        await sleep(this.retryDelayMs);
        continue;
      }
      throw await this.errorOf(res);
    }
  }

  /** The wait a shed answer asks for, if the client should wait it out; null to report the error. */
  private async shedWait(res: Response, waitedS: number): Promise<ShedWait | null> {
    if (res.status !== 429 && res.status !== 503) return null;
    return shedWaitOf(res.status, res.headers.get('retry-after'), await res.clone().text(), waitedS);
  }

  private async errorOf(res: Response): Promise<ApiResponseError> {
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    const e = (body as { error?: unknown } | null)?.error;
    if (e && typeof e === 'object' && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { message?: unknown }).message === 'string') {
      const { code, message, ...details } = e as { code: string; message: string } & Record<string, unknown>;
      return new ApiResponseError(code as ErrorCode, message, res.status, details);
    }
    // Not a Gantry answer: a proxy's error page, or not a Gantry server at all.
    const code: ErrorCode = res.status === 401 ? 'GANTRY_E_UNAUTHENTICATED' : res.status === 403 ? 'GANTRY_E_FORBIDDEN' : res.status === 404 ? 'GANTRY_E_NOT_FOUND' : 'GANTRY_E_INTERNAL';
    return new ApiResponseError(code, `${this.server} answered ${res.status} ${res.statusText} without a Gantry error (is it a Gantry server?)`, res.status);
  }
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** fetch rejects with `TypeError: fetch failed` and the socket error as `cause`. */
function networkFailure(err: unknown): { code: string; reason: string } {
  let e: unknown = err;
  // The innermost cause names the system error (ECONNREFUSED ...).
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  // AggregateError (IPv4 and IPv6 both refused) has an empty message; its errors say more.
  const inner = e instanceof AggregateError && e.errors[0] instanceof Error ? (e.errors[0] as Error).message : '';
  return { code: typeof code === 'string' ? code : '', reason: message || inner || (typeof code === 'string' ? code : 'connection failed') };
}
