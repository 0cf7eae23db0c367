// The agent protocol's HTTP side (docs/PROTOCOL.md §4): registration, sessions, the long poll
// for work, start, the held heartbeat, log upload by offset, completion. Each route is a thin
// shell around one fleet-store call; the answers to a write that matched nothing come from the
// store's reading of the row (fenced, not started, gap, incomplete).

import type { FleetMetrics } from '../fleet-metrics.js';
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asAttemptId, type AttemptId } from '../../domain/ids.js';
import { FAILURE_REASONS } from '../../domain/status.js';
import { dotenvProblem, type DotenvVariable } from '../../domain/dotenv.js';
import { LOG_PARTS_TYPE, PROTOCOL_VERSION } from '../../domain/version.js';
import type { Agent, AgentFacts, Fence, LogLimit } from '../../store/fleet.js';
import type { LogCompactor } from '../logs/compactor.js';
import { ApiError } from '../errors.js';
import { agentJobLimitsSchema, idOf, idParams, isolationCheckSchema } from '../schemas.js';
import { ISOLATION_LEVELS, NO_LIMITS, type IsolationCheck, type IsolationLevel, type JobLimits } from '../../domain/isolation.js';
import { DEFAULT_POOL, POOL_NAME_PATTERN } from '../../domain/pools.js';
import { hashToken } from '../tokens.js';
import type { RouteContext } from '../routes/context.js';
import { AgentAuthCache } from './agent-auth-cache.js';
import type { AgentHub } from './hub.js';
import { offerJson } from './offer.js';
import type { IdTokenIssuer } from '../id-tokens.js';

export const MAX_CHUNK_BYTES = 1024 * 1024;
/** The bytes of one batched log upload (POST /agent/logs), all its parts together; announced to agents. */
export const MAX_LOG_BATCH_BYTES = 4 * 1024 * 1024;
/** Parts of one batched log upload at most (the store's group commit takes 256 appends a batch). */
const MAX_LOG_BATCH_PARTS = 256;
/** A batched upload's body: its bytes, and an index of a few hundred bytes a part at most. */
export const LOG_BATCH_BODY_LIMIT = MAX_LOG_BATCH_BYTES + 512 * MAX_LOG_BATCH_PARTS;

declare module 'fastify' {
  interface FastifyRequest {
    /** The agent an agent-protocol request authenticated as. */
    agent: Agent | null;
  }
  interface FastifyContextConfig {
    /** Authenticated by an agent token (or, for `register`, a registration token), not an API token. */
    agentProtocol?: 'register' | 'agent';
  }
}

export interface FleetContext extends RouteContext {
  /** Signs the jobs' identity tokens (id-tokens.ts). */
  idTokens: IdTokenIssuer;
  hub: AgentHub;
  /** The per-attempt log size limit, applied by the store on append and announced to agents. */
  logLimit: LogLimit;
  /** Compacts ended attempts' logs; kicked after each completion. */
  compactor: LogCompactor;
  timings: { leaseMs: number; heartbeatHoldMs: number; pollWaitMs: number; offerTtlMs: number; backoffCapMs: number };
  fleetMetrics: FleetMetrics;
}

const nameSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' } as const;
const factsSchema = {
  type: 'object',
  properties: {
    name: nameSchema,
    tags: { type: 'array', items: nameSchema, maxItems: 50 },
    concurrency: { type: 'integer', minimum: 1, maximum: 64 },
    version: { type: 'string', maxLength: 50 },
    protocol: { type: 'integer' },
    platform: { type: 'object', additionalProperties: { type: 'string', maxLength: 200 }, maxProperties: 20 },
    // Isolation (src/domain/isolation.ts); an agent older than it sends none of them: `none`.
    isolation: { type: 'string', enum: [...ISOLATION_LEVELS] },
    limits: agentJobLimitsSchema,
    isolationCheck: isolationCheckSchema,
    // The pool it runs jobs for (src/domain/pools.ts); an agent older than pools sends none: `default`.
    pool: { type: 'string', pattern: POOL_NAME_PATTERN.source },
  },
  required: ['name', 'tags', 'concurrency', 'version', 'protocol'],
  additionalProperties: false,
} as const;

type FactsBody = Omit<AgentFacts, 'isolation'> & {
  protocol: number;
  isolation?: IsolationLevel;
  limits?: Partial<JobLimits>;
  isolationCheck?: IsolationCheck | null;
};

function factsOf(b: FactsBody): AgentFacts {
  if (b.protocol !== PROTOCOL_VERSION) {
    throw new ApiError('GANTRY_E_AGENT_INCOMPATIBLE', `protocol ${b.protocol} is not supported`, { supported: [PROTOCOL_VERSION] });
  }
  const isolation = { isolation: b.isolation ?? 'none', limits: { ...NO_LIMITS, ...b.limits }, check: b.isolationCheck ?? null };
  return { name: b.name, tags: [...new Set(b.tags)], concurrency: b.concurrency, version: b.version, platform: b.platform ?? {}, isolation, pool: b.pool ?? DEFAULT_POOL };
}

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'send Authorization: Bearer TOKEN');
  return m[1]!;
}

function header(request: FastifyRequest, name: string): string {
  const v = request.headers[name];
  if (typeof v !== 'string' || v === '') throw new ApiError('GANTRY_E_INVALID_REQUEST', `the ${name} header is required`, { field: `headers.${name}` });
  return v;
}

interface LogPart {
  attempt: number;
  token: string;
  start: number;
  length: number;
  producedAt: number;
  /** The bytes, or null for a dropped range (PROTOCOL.md §9, "Size limit"). */
  bytes: Buffer | null;
  /** Set when this part alone is refused (the others still count). */
  error?: { code: string; message: string; limit?: number };
}

/**
 * The parts of a batched log upload: `u32 n | n bytes of JSON {"parts": [{attempt, token, start,
 * length, producedAt, dropped?}]} | the parts' bytes, in order` (dropped parts have none). A
 * malformed body is refused whole; a part over the chunk limit is refused alone.
 */
function logParts(body: unknown): LogPart[] {
  const bad = (why: string) => new ApiError('GANTRY_E_INVALID_REQUEST', `a batched log upload ${why}`, { field: 'body' });
  if (!Buffer.isBuffer(body) || body.length < 4) throw bad(`is a ${LOG_PARTS_TYPE} body`);
  const n = body.readUInt32BE(0);
  if (4 + n > body.length) throw bad('has an index longer than its body');
  let index: unknown;
  try {
    index = JSON.parse(body.subarray(4, 4 + n).toString());
  } catch {
    throw bad('has an index that is not JSON');
  }
  const list = (index as { parts?: unknown } | null)?.parts;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_LOG_BATCH_PARTS) throw bad(`has 1 to ${MAX_LOG_BATCH_PARTS} parts`);
  const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  let at = 4 + n;
  const parts = list.map((x: unknown): LogPart => {
    const p = x as { attempt?: unknown; token?: unknown; start?: unknown; length?: unknown; producedAt?: unknown; dropped?: unknown };
    if (!int(p.attempt) || typeof p.token !== 'string' || !int(p.start) || !int(p.length) || (p.length as number) === 0) {
      throw bad('has a part without attempt, token, start and a length of at least 1');
    }
    const length = p.length as number;
    const dropped = p.dropped === true;
    const part: LogPart = { attempt: p.attempt as number, token: p.token, start: p.start as number, length, producedAt: int(p.producedAt) ? (p.producedAt as number) : 0, bytes: null };
    if (!dropped) {
      if (at + length > body.length) throw bad('has fewer bytes than its parts');
      part.bytes = body.subarray(at, at + length);
      at += length;
      if (length > MAX_CHUNK_BYTES) part.error = { code: 'GANTRY_E_TOO_LARGE', message: `a log chunk may hold ${MAX_CHUNK_BYTES} bytes`, limit: MAX_CHUNK_BYTES };
    }
    return part;
  });
  if (at !== body.length) throw bad('has more bytes than its parts');
  return parts;
}

export function fenceError(f: Fence): ApiError {
  if (f.kind === 'not-found') return new ApiError('GANTRY_E_NOT_FOUND', 'no such attempt');
  if (f.kind === 'not-started') return new ApiError('GANTRY_E_ATTEMPT_NOT_STARTED', 'start the attempt first');
  return new ApiError(
    'GANTRY_E_ATTEMPT_FENCED',
    f.attempt ? `the attempt is ${f.attempt.status}${f.attempt.failureReason ? ` (${f.attempt.failureReason})` : ''}` : 'not the current token of this attempt',
    f.attempt ? { attempt: f.attempt } : {},
  );
}

/**
 * The session header must name the agent's current session (PROTOCOL.md §5). Answers the agent
 * as the database has it now: the one the request authenticated as may be up to a cache's age
 * old (agent-auth-cache.ts).
 */
async function checkSession(ctx: FleetContext, request: FastifyRequest): Promise<Agent> {
  const session = header(request, 'gantry-session');
  const r = await ctx.store.fleet.checkSession(request.agent!.id, session, ctx.now());
  if (r.kind === 'session-replaced') throw new ApiError('GANTRY_E_SESSION_REPLACED', 'another process of this agent opened a newer session');
  if (r.kind === 'deregistered') throw new ApiError('GANTRY_E_AGENT_DEREGISTERED', 'this agent was deregistered');
  return r.agent;
}

/** Aborts when the client goes away, so a held request stops waiting for nobody. */
function clientGone(request: FastifyRequest): AbortSignal {
  const ac = new AbortController();
  request.raw.socket.once('close', () => ac.abort());
  return ac.signal;
}

export function agentRoutes(app: FastifyInstance, ctx: FleetContext): void {
  const known = new AgentAuthCache();
  app.decorateRequest('agent', null);
  // Their size limits are the routes' own (bodyLimit below): every route has one (overload/body-limits.ts).
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(LOG_PARTS_TYPE, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addHook('onRequest', async (request) => {
    const kind = request.routeOptions.config.agentProtocol;
    if (kind === undefined) return;
    const hash = hashToken(bearer(request));
    if (kind === 'register') {
      const token = await ctx.store.findToken(hash);
      if (!token) throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'unknown registration token');
      if (token.kind !== 'agent') throw new ApiError('GANTRY_E_FORBIDDEN', 'registering an agent needs the agent registration token');
      return;
    }
    const cached = known.get(hash, Date.now());
    const agent = cached ?? (await ctx.store.fleet.findAgentByTokenHash(hash));
    if (!agent) {
      const other = await ctx.store.findToken(hash);
      if (other) throw new ApiError('GANTRY_E_FORBIDDEN', 'this route needs an agent token');
      throw new ApiError('GANTRY_E_UNAUTHENTICATED', 'unknown agent token');
    }
    if (agent.deregisteredAt !== null) throw new ApiError('GANTRY_E_AGENT_DEREGISTERED', 'this agent was deregistered');
    if (!cached) known.set(hash, agent, Date.now());
    request.agent = agent;
  });

  const tags = ['agent protocol'];
  const reg = { agentProtocol: 'register' as const };
  const ag = { agentProtocol: 'agent' as const };

  app.post('/agent/register', { config: reg, schema: { tags, summary: 'Register an agent (registration token)', body: factsSchema } }, async (request, reply) => {
    const facts = factsOf(request.body as FactsBody);
    const token = `gantry_agentkey_${crypto.randomBytes(32).toString('base64url')}`;
    const agent = await ctx.store.fleet.registerAgent(facts, hashToken(token), ctx.now());
    return reply.status(201).send({ agentId: agent.id, token });
  });

  app.post('/agent/sessions', { config: ag, schema: { tags, summary: "Start this agent process's session", body: factsSchema } }, async (request, reply) => {
    const facts = factsOf(request.body as FactsBody);
    const sessionId = crypto.randomUUID();
    await ctx.store.fleet.openSession(request.agent!.id, sessionId, facts, ctx.now(), ctx.settings);
    known.forget(hashToken(bearer(request)));
    return reply.status(201).send({
      sessionId,
      agentId: request.agent!.id,
      timings: ctx.timings,
      limits: { maxChunkBytes: MAX_CHUNK_BYTES, logBatchBytes: MAX_LOG_BATCH_BYTES, ...ctx.logLimit },
    });
  });

  app.post(
    '/agent/isolation-check',
    {
      config: ag,
      schema: {
        tags,
        summary: "The isolation check this agent ran after opening its session: from it on, a passing check makes the agent take untrusted work",
        body: { type: 'object', properties: { isolationCheck: { ...isolationCheckSchema, type: 'object' } }, required: ['isolationCheck'], additionalProperties: false },
      },
    },
    async (request, reply) => {
      const { isolationCheck } = request.body as { isolationCheck: IsolationCheck };
      const recorded = await ctx.store.fleet.recordIsolationCheck(request.agent!.id, header(request, 'gantry-session'), isolationCheck);
      if (!recorded) throw new ApiError('GANTRY_E_SESSION_REPLACED', 'another process of this agent opened a newer session');
      known.forget(hashToken(bearer(request)));
      ctx.hub.wakeAll();
      return reply.status(204).send();
    },
  );

  app.delete('/agent/self', { config: ag, schema: { tags, summary: 'Deregister this agent' } }, async (request, reply) => {
    await ctx.store.fleet.deregisterAgent(request.agent!.id, ctx.now(), ctx.settings);
    known.forget(hashToken(bearer(request)));
    return reply.status(204).send();
  });

  app.post(
    '/agent/jobs/request',
    {
      config: ag,
      schema: {
        tags,
        summary: 'Long poll for work: answers at once with offers, or when work is ready, or 204 after waitMs',
        body: {
          type: 'object',
          properties: { slots: { type: 'integer', minimum: 1, maximum: 64 }, waitMs: { type: 'integer', minimum: 0, maximum: 50_000 } },
          required: ['slots'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const agent = await checkSession(ctx, request);
      const body = request.body as { slots: number; waitMs?: number };
      const slots = Math.min(body.slots, agent.concurrency);
      const until = Date.now() + (body.waitMs ?? ctx.timings.pollWaitMs);
      const gone = clientGone(request);
      const agentTags = new Set(agent.tags);
      for (;;) {
        const found = performance.now();
        const tokens = Array.from({ length: slots }, () => `gantry_attempt_${crypto.randomBytes(32).toString('base64url')}`);
        const offers = await ctx.store.fleet.takeAttempts(agent, slots, ctx.now(), ctx.settings, tokens.map(hashToken));
        if (offers.length > 0) {
          ctx.crash('take.committed');
          // The take gave offer i the hash of tokens[i].
          const deps = { secrets: ctx.secrets, killGraceMs: ctx.settings.killGraceMs, leaseMs: ctx.settings.leaseMs, idTokens: ctx.idTokens, gates: ctx.store.gates, retention: ctx.retention };
          const out = await Promise.all(offers.map((o, i) => offerJson(o, tokens[i]!, deps)));
          ctx.fleetMetrics.dispatchDuration.observe((performance.now() - found) / 1000);
          return { offers: out };
        }
        const left = until - Date.now();
        // Shutting down: the agent polls again, reaching another instance or this one restarted.
        if (left <= 0 || gone.aborted || ctx.hub.closed) return reply.status(204).send();
        await ctx.hub.waitForWork(agentTags, left, gone);
      }
    },
  );

  const attemptConfig = { config: ag, schema: { tags, params: idParams } };
  const attemptOf = (request: FastifyRequest): { id: AttemptId; tokenHash: string } => ({
    id: asAttemptId(idOf(request.params)),
    tokenHash: hashToken(header(request, 'gantry-attempt-token')),
  });

  app.post('/agent/attempts/:id/start', { ...attemptConfig, schema: { ...attemptConfig.schema, summary: 'Accept an offer: the script may run' } }, async (request) => {
    const { id, tokenHash } = attemptOf(request);
    const agent = request.agent!;
    const at = ctx.now();
    const r = await ctx.store.fleet.startAttempt(agent.id, id, tokenHash, agent.name, at, ctx.settings);
    if (r.kind === 'ok') {
      ctx.crash('start.committed');
      ctx.fleetMetrics.queueDuration.observe({ pool: agent.pool }, Math.max(0, at - r.attempt.queuedAt) / 1000);
      return { leaseExpiresAt: new Date(r.leaseExpiresAt).toISOString(), leaseMs: ctx.settings.leaseMs };
    }
    if (r.kind === 'not-found') throw new ApiError('GANTRY_E_NOT_FOUND', 'no such attempt');
    throw new ApiError('GANTRY_E_OFFER_EXPIRED', 'the offer expired: it was given to another agent, or the job was canceled');
  });

  app.post(
    '/agent/heartbeat',
    {
      config: ag,
      schema: {
        tags,
        summary: "Renew the leases of the agent's attempts; held until a cancel or holdMs",
        body: {
          type: 'object',
          properties: {
            attempts: {
              type: 'array',
              maxItems: 64,
              items: {
                type: 'object',
                properties: { id: { type: 'integer', minimum: 1 }, token: { type: 'string', minLength: 1, maxLength: 200 } },
                required: ['id', 'token'],
                additionalProperties: false,
              },
            },
            holdMs: { type: 'integer', minimum: 0, maximum: 60_000 },
          },
          required: ['attempts'],
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const agent = await checkSession(ctx, request);
      const body = request.body as { attempts: { id: number; token: string }[]; holdMs?: number };
      const held = body.attempts.map((a) => ({ id: asAttemptId(a.id), tokenHash: hashToken(a.token) }));
      const hold = Math.min(body.holdMs ?? ctx.timings.heartbeatHoldMs, Math.floor(ctx.settings.leaseMs / 3));
      let r = await ctx.store.fleet.renewLeases(agent.id, held, ctx.now(), ctx.settings.leaseMs);
      if (r.cancel.length === 0 && r.lost.length === 0 && held.length > 0) {
        await ctx.hub.waitForCancel(agent.id, hold, clientGone(request));
        r = await ctx.store.fleet.renewLeases(agent.id, held, ctx.now(), ctx.settings.leaseMs);
      }
      return { leaseExpiresAt: new Date(r.leaseExpiresAt).toISOString(), cancel: r.cancel, quotaExceeded: r.quotaExceeded, lost: r.lost };
    },
  );

  app.patch('/agent/attempts/:id/log', { ...attemptConfig, bodyLimit: MAX_CHUNK_BYTES, schema: { ...attemptConfig.schema, summary: 'Append log bytes at a byte offset (Content-Range, end inclusive)' } }, async (request, reply) => {
    const { id, tokenHash } = attemptOf(request);
    const range = /^bytes (\d{1,15})-(\d{1,15})\/\*$/.exec(header(request, 'content-range'));
    if (!range) throw new ApiError('GANTRY_E_INVALID_REQUEST', 'Content-Range must be "bytes START-END/*"', { field: 'headers.content-range' });
    const start = Number(range[1]);
    const end = Number(range[2]) + 1;
    const dropped = request.headers['gantry-log-dropped'] === 'true';
    const body = dropped ? null : Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (end <= start || (body !== null && body.length !== end - start)) {
      throw new ApiError('GANTRY_E_INVALID_REQUEST', 'the body must be exactly the bytes of Content-Range', { field: 'headers.content-range' });
    }
    const producedHeader = Number(request.headers['gantry-produced-at']);
    const at = ctx.now();
    const producedAt = Number.isFinite(producedHeader) && producedHeader > 0 ? producedHeader : at;
    const r = await ctx.store.fleet.appendLog(id, tokenHash, start, body, end, producedAt, at, ctx.logLimit);
    if (r.kind === 'ok') {
      ctx.crash('log.committed');
      return { received: r.received, cancel: r.cancel };
    }
    if (r.kind === 'gap') {
      reply.header('gantry-log-received', String(r.received));
      throw new ApiError('GANTRY_E_LOG_GAP', `the server has ${r.received} bytes; send from there`, { received: r.received });
    }
    throw fenceError(r);
  });

  // Many attempts' log chunks in one request (PROTOCOL.md §9, "Batched upload"): each part is
  // decided exactly as a PATCH of its attempt's log would be, and answered in its place; they all
  // join the store's group commit at once. One request, one authentication, one answer for what an
  // agent's busy jobs printed meanwhile, instead of one of each per job.
  app.post('/agent/logs', { config: ag, bodyLimit: LOG_BATCH_BODY_LIMIT, schema: { tags, summary: "Append log bytes of several of this agent's attempts at once (one part each)" } }, async (request) => {
    const parts = logParts(request.body);
    const at = ctx.now();
    const answers = await Promise.all(
      parts.map(async (p): Promise<Record<string, unknown>> => {
        if (p.error) return { error: p.error };
        const producedAt = p.producedAt > 0 ? p.producedAt : at;
        const r = await ctx.store.fleet.appendLog(asAttemptId(p.attempt), hashToken(p.token), p.start, p.bytes, p.start + p.length, producedAt, at, ctx.logLimit);
        if (r.kind === 'ok') return { received: r.received, cancel: r.cancel };
        const e = r.kind === 'gap' ? new ApiError('GANTRY_E_LOG_GAP', `the server has ${r.received} bytes; send from there`, { received: r.received }) : fenceError(r);
        return { error: { code: e.code, message: e.message, ...e.details } };
      }),
    );
    if (answers.some((a) => a.received !== undefined)) ctx.crash('log.committed');
    return { parts: answers };
  });

  app.post(
    '/agent/attempts/:id/complete',
    {
      ...attemptConfig,
      schema: {
        ...attemptConfig.schema,
        summary: "Report the attempt's result, once every log byte is acknowledged",
        body: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: ['success', 'failed', 'timed_out', 'canceled'] },
            exitCode: { type: ['integer', 'null'] },
            failureReason: { type: ['string', 'null'], enum: [...FAILURE_REASONS.filter((r) => r !== 'agent_lost' && r !== 'quota_exceeded'), null] },
            logEnd: { type: 'integer', minimum: 0 },
            finishedAt: { type: 'string', maxLength: 40 },
            // The percentage the job's `coverage:` regex read from its masked log (PROTOCOL.md §6).
            coverage: { type: ['number', 'null'], minimum: 0, maximum: 100 },
            // The job's `artifacts:reports:dotenv` variables (PROTOCOL.md §6); checked by the handler
            // against GitLab's rules, so every way to get them wrong has one code.
            dotenv: {
              type: 'array',
              items: {
                type: 'object',
                properties: { key: { type: 'string' }, value: { type: 'string' } },
                required: ['key', 'value'],
                additionalProperties: false,
              },
            },
          },
          required: ['status', 'exitCode', 'failureReason', 'logEnd'],
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { id, tokenHash } = attemptOf(request);
      const b = request.body as {
        status: 'success' | 'failed' | 'timed_out' | 'canceled';
        exitCode: number | null;
        failureReason: (typeof FAILURE_REASONS)[number] | null;
        logEnd: number;
        coverage?: number | null;
        dotenv?: DotenvVariable[];
      };
      if ((b.status === 'success') !== (b.failureReason === null)) {
        throw new ApiError('GANTRY_E_INVALID_REQUEST', 'failureReason is null exactly when status is success', { field: 'body.failureReason' });
      }
      const dotenvWrong = b.dotenv ? dotenvProblem(b.dotenv) : null;
      if (dotenvWrong) throw new ApiError('GANTRY_E_DOTENV_INVALID', `dotenv: ${dotenvWrong}`, { field: 'body.dotenv' });
      const r = await ctx.store.fleet.completeAttempt(
        id,
        tokenHash,
        { status: b.status, exitCode: b.exitCode, failureReason: b.failureReason, logEnd: b.logEnd, coverage: b.coverage ?? null, ...(b.dotenv?.length ? { dotenv: b.dotenv } : {}) },
        ctx.now(),
        ctx.settings,
      );
      if (r.kind === 'ok') {
        ctx.crash('complete.committed');
        // The log is complete: compact it soon (in the background; the periodic run catches failures).
        if (!r.duplicate) ctx.compactor.kickSoon();
        return { attempt: { status: r.status, failureReason: r.failureReason }, duplicate: r.duplicate };
      }
      if (r.kind === 'log-incomplete') throw new ApiError('GANTRY_E_LOG_INCOMPLETE', `the server has ${r.received} of ${b.logEnd} log bytes`, { received: r.received });
      if (r.kind === 'log-overrun') throw new ApiError('GANTRY_E_INVALID_REQUEST', `logEnd ${b.logEnd} is less than the ${r.received} bytes sent`, { received: r.received });
      throw fenceError(r);
    },
  );
}
