// Git events in: forge webhooks (signed, no token), pushes reported by `gantry hook post-receive`
// (a bearer token), the per-project webhook secret and ref filters, and the deliveries list. Both
// ways in end the same: the event is recorded once as a delivery before the 2xx, then the
// delivery queue (src/server/webhooks/queue.ts) turns it into a pipeline.

import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebhookResult } from '../metrics.js';
import { GantryError } from '../../domain/errors.js';
import { WEBHOOK_PROVIDERS, type DeliveryProvider, type WebhookProvider } from '../../domain/git-event.js';
import type { Delivery, Project } from '../../store/store.js';
import { ApiError } from '../errors.js';
import { errors, limitSchema, numOrUndefined, projectParams } from '../schemas.js';
import { filteredOut } from '../webhooks/filters.js';
import { gitea } from '../webhooks/gitea.js';
import { github } from '../webhooks/github.js';
import { gitlab } from '../webhooks/gitlab.js';
import { pushOf, type Parsed } from '../webhooks/payload.js';
import type { DeliveryQueue } from '../webhooks/queue.js';
import { WebhookTargetCache } from '../webhooks/target-cache.js';
import { header, verifySignature } from '../webhooks/signature.js';
import type { RouteContext } from './context.js';
import { routeProject } from '../route-access.js';
import { auditAlways, auditWhen } from '../audit.js';
import { refuseOnProtectedRef } from '../protected-refs.js';
import { splitRef } from '../../domain/git-event.js';

/** GitHub's own limit on a webhook payload: a forge never sends more. */
export const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;

const PARSERS = { github, gitea, gitlab } as const;

/** The authenticated context of a project's webhook secret (see SecretBox.seal). */
const webhookContext = (projectId: number, provider: WebhookProvider): string => `project:${projectId}:webhook:${provider}`;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function deliveryJson(d: Delivery) {
  const e = d.gitEvent;
  return {
    id: d.id,
    provider: d.provider,
    deliveryId: d.deliveryId,
    event: d.event,
    status: d.status,
    reason: d.reason,
    pipelineId: d.pipelineId,
    ref: e === null ? null : e.kind === 'push' ? e.ref : e.headRef,
    sha: e === null ? null : e.kind === 'push' ? e.after : e.headSha,
    tries: d.tries,
    receivedAt: iso(d.receivedAt),
    finishedAt: iso(d.finishedAt),
  };
}

const deliveryIdHeader = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' } as const;
const globList = { type: ['array', 'null'], items: { type: 'string', minLength: 1, maxLength: 255 }, maxItems: 100 } as const;
const refFiltersSchema = {
  type: 'object',
  properties: { branches: globList, tags: globList },
  required: ['branches', 'tags'],
  additionalProperties: false,
} as const;

export interface WebhookContext extends RouteContext {
  /** Kicked after each recorded delivery; null when this instance does not process deliveries. */
  queue: DeliveryQueue | null;
}

/**
 * The one way an event becomes a delivery: filters, then the record (once per delivery id), then
 * the answer. Only a newly recorded, queued delivery wakes the queue.
 */
/** What each webhook request came to, for gantry_webhook_deliveries_total; refusals are read from the status. */
const outcomes = new WeakMap<FastifyRequest, WebhookResult>();

function webhookResult(request: FastifyRequest, status: number): WebhookResult {
  const known = outcomes.get(request);
  if (known) return known;
  if (status === 401) return 'refused';
  if (status === 429 || status === 503) return 'shed';
  return status >= 500 ? 'failed' : 'invalid';
}

async function intake(
  ctx: WebhookContext,
  reply: FastifyReply,
  project: Project,
  provider: DeliveryProvider,
  deliveryId: string,
  event: string,
  parsed: Parsed,
): Promise<FastifyReply> {
  if (parsed.kind === 'ping') {
    outcomes.set(reply.request, 'ping');
    return reply.status(200).send({ status: 'pong' });
  }
  const reason = parsed.kind === 'ignored' ? parsed.reason : filteredOut(project.refFilters, parsed.event);
  const r = await ctx.store.recordDelivery({
    projectId: project.id,
    provider,
    deliveryId,
    event,
    receivedAt: ctx.now(),
    outcome: reason === null && parsed.kind === 'event' ? { status: 'queued', gitEvent: parsed.event } : { status: 'ignored', reason: reason! },
  });
  if (!r.recorded) {
    // A forge's retry of a delivery already recorded: answered 200 so it stops retrying.
    outcomes.set(reply.request, 'duplicate');
    return reply.status(200).send({ ...deliveryJson(r.existing), duplicate: true });
  }
  outcomes.set(reply.request, r.delivery.status === 'ignored' ? 'ignored' : 'accepted');
  if (r.delivery.status === 'queued') {
    // Processing starts once the answer is out: a crash from here on must still yield the
    // pipeline (the next start, or another instance, takes the recorded delivery).
    reply.raw.once('finish', () => {
      ctx.crash('delivery.answered');
      ctx.queue?.kick();
    });
  }
  return reply.status(202).send({ ...deliveryJson(r.delivery), duplicate: false });
}

function rawPayload(contentType: string | undefined, body: Buffer): unknown {
  let text = body.toString('utf8');
  // GitHub's "application/x-www-form-urlencoded" content type sends the JSON as the field `payload`.
  if (contentType?.startsWith('application/x-www-form-urlencoded')) text = new URLSearchParams(text).get('payload') ?? '';
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GantryError('GANTRY_E_WEBHOOK_PAYLOAD', 'the payload is not JSON');
  }
}

export async function webhookRoutes(app: FastifyInstance, ctx: WebhookContext): Promise<void> {
  const targets = new WebhookTargetCache(ctx.store);
  // The intake reads the body as bytes: the signature is over the bytes as sent, and nothing is
  // parsed before it is verified.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));
    scope.addHook('onResponse', async (request, reply) => {
      const provider = (request.params as { provider?: string } | undefined)?.provider;
      const known = (WEBHOOK_PROVIDERS as readonly string[]).includes(provider ?? '') ? provider! : 'unknown';
      ctx.metrics.webhookDeliveries.inc({ provider: known, result: webhookResult(request, reply.statusCode) });
    });
    scope.setErrorHandler((err: Error & { code?: string }) => {
      // Thrown on to the API's error handler (src/server/errors.ts), as a GantryError.
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') throw new GantryError('GANTRY_E_TOO_LARGE', `a webhook payload may be at most ${WEBHOOK_BODY_LIMIT} bytes`);
      throw err;
    });
    scope.post(
      '/webhooks/:provider/:project',
      {
        bodyLimit: WEBHOOK_BODY_LIMIT,
        config: { public: true, routeClass: 'webhook' },
        schema: {
          summary: 'Receive a webhook from GitHub, Gitea/Forgejo or GitLab',
          description:
            'Authenticated by the signature (GitHub X-Hub-Signature-256, Gitea X-Gitea-Signature or X-Forgejo-Signature) or token ' +
            "(GitLab X-Gitlab-Token) made with the project's webhook secret; a request that does not verify is 401 and nothing is stored.",
          tags: ['webhooks'],
          params: {
            type: 'object',
            properties: { provider: { type: 'string', enum: [...WEBHOOK_PROVIDERS] }, project: projectParams.properties.project },
            required: ['provider', 'project'],
          },
          response: errors(400, 413),
        },
      },
      async (request, reply) => {
        const { provider, project: param } = request.params as { provider: WebhookProvider; project: string };
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const target = await targets.get(/^[0-9]+$/.test(param) ? (Number(param) as never) : param, provider);
        const project = target?.project ?? null;
        const sealed = target?.secret ?? null;
        // One answer for an unknown project, a project without a secret and a wrong signature:
        // an unauthenticated caller learns nothing about which projects exist.
        if (!project || !sealed || !verifySignature(provider, request.headers, body, ctx.secrets.open(sealed, webhookContext(project.id, provider)))) {
          throw new ApiError('GANTRY_E_WEBHOOK_SIGNATURE', `the request is not signed with this project's ${provider} webhook secret`);
        }
        const parser = PARSERS[provider];
        const event = parser.eventName(request.headers);
        if (event === undefined) throw new GantryError('GANTRY_E_WEBHOOK_PAYLOAD', `the request has no ${provider} event header`);
        // A delivery without an id is known by its bytes: a resend of the same body is the same delivery.
        const deliveryId = parser.deliveryId(request.headers) ?? `sha256:${crypto.createHash('sha256').update(body).digest('hex')}`;
        if (deliveryId.length > 255) throw new GantryError('GANTRY_E_WEBHOOK_PAYLOAD', 'the delivery id is longer than 255 characters');
        const parsed = parser.parse(event, rawPayload(header(request.headers, 'content-type'), body));
        return intake(ctx, reply, project, provider, deliveryId, event, parsed);
      },
    );
  });

  app.post(
    '/projects/:project/pushes',
    {
      config: { access: 'developer', routeClass: 'webhook' },
      // Counted with the forges' webhooks, as provider git.
      onResponse: async (request, reply) => {
        ctx.metrics.webhookDeliveries.inc({ provider: 'git', result: webhookResult(request, reply.statusCode) });
      },
      schema: {
        summary: 'Report a pushed ref (what `gantry hook post-receive` sends)',
        description:
          'For git servers without webhooks. Recorded as a delivery like a webhook push and answered 202; an X-Gantry-Delivery ' +
          'header makes a resend of the same report a duplicate (200). A push to a protected ref needs maintainer (403 ' +
          'GANTRY_E_PROTECTED_REF): the report comes with a person\'s token, and its pipeline gets the protected variables.',
        tags: ['webhooks'],
        params: projectParams,
        headers: { type: 'object', properties: { 'x-gantry-delivery': deliveryIdHeader } },
        body: {
          type: 'object',
          properties: {
            ref: { type: 'string', minLength: 1, maxLength: 1024 },
            before: { type: 'string', pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' },
            after: { type: 'string', pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' },
            pusher: {
              type: 'object',
              properties: { name: { type: 'string', minLength: 1, maxLength: 255 } },
              required: ['name'],
              additionalProperties: false,
            },
          },
          required: ['ref', 'before', 'after'],
          additionalProperties: false,
        },
        response: errors(400, 403, 404),
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const body = request.body as { ref: string; before: string; after: string; pusher?: { name: string } };
      const sent = header(request.headers, 'x-gantry-delivery');
      // Whoever holds the token says what was pushed: on a protected ref that must be someone who may run it.
      const split = splitRef(body.ref);
      refuseOnProtectedRef(request.principal!, project, split === null ? null : { kind: split.refKind, name: split.ref }, 'push to');
      const deliveryId = sent ?? `sha256:${crypto.createHash('sha256').update(`${body.ref}\n${body.before}\n${body.after}`).digest('hex')}`;
      return intake(ctx, reply, project, 'git', deliveryId, 'push', pushOf(body, false));
    },
  );

  app.post(
    '/projects/:project/webhooks',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Make (or rotate) the project's webhook secret for a forge",
        description: 'The secret is shown in this answer only; it is stored encrypted. Calling again replaces it: the old one stops working.',
        tags: ['webhooks'],
        params: projectParams,
        body: {
          type: 'object',
          properties: { provider: { type: 'string', enum: [...WEBHOOK_PROVIDERS] } },
          required: ['provider'],
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            properties: { provider: { type: 'string' }, url: { type: 'string' }, secret: { type: 'string' } },
            required: ['provider', 'url', 'secret'],
          },
          ...errors(400, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const { provider } = request.body as { provider: WebhookProvider };
      const secret = `gantry_whsec_${crypto.randomBytes(32).toString('base64url')}`;
      const at = ctx.now();
      await ctx.store.putWebhookSecret(project.id, provider, ctx.secrets.seal(secret, webhookContext(project.id, provider)), at, auditAlways(request, at, {
        action: 'webhook_secret.set',
        projectId: project.id,
        target: { type: 'webhook_secret', id: provider },
      }));
      // After the write: a delivery that read the old secret while it was being made is forgotten too.
      targets.forget(project.id);
      // The URL as this request reached the server; behind a proxy, the forge may need another host.
      const url = `${request.protocol}://${request.host}/api/v1/webhooks/${provider}/${project.id}`;
      return reply.status(201).send({ provider, url, secret });
    },
  );

  app.get(
    '/projects/:project/webhooks/deliveries',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "The project's latest webhook and git hook deliveries, newest first (for debugging)",
        tags: ['webhooks'],
        params: projectParams,
        querystring: { type: 'object', properties: { limit: limitSchema }, additionalProperties: false },
        response: errors(400, 403, 404),
      },
    },
    async (request) => {
      const project = routeProject(request);
      const limit = numOrUndefined((request.query as { limit?: string }).limit) ?? 20;
      return { items: (await ctx.store.listDeliveries(project.id, limit)).map(deliveryJson) };
    },
  );

  app.put(
    '/projects/:project/ref-filters',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Set which branches and tags start pipelines from webhooks and git hooks',
        description: 'Glob lists (`main`, `release/**`, `v*`); null lets every branch or tag through. Pull requests match by target branch.',
        tags: ['webhooks'],
        params: projectParams,
        body: refFiltersSchema,
        response: { 200: refFiltersSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const filters = request.body as { branches: string[] | null; tags: string[] | null };
      const audit = auditWhen(request, ctx.now(), (ok: boolean) => ok, () => ({ action: 'ref_filters.set', projectId: project.id, target: { type: 'ref_filters', id: null }, details: { ...filters } }));
      const set = await ctx.store.setRefFilters(project.id, filters, audit);
      targets.forget(project.id);
      if (!set) throw new ApiError('GANTRY_E_NOT_FOUND', `no project ${project.id}`);
      return filters;
    },
  );

  app.get(
    '/projects/:project/ref-filters',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Which branches and tags start pipelines from webhooks and git hooks',
        tags: ['webhooks'],
        params: projectParams,
        response: { 200: refFiltersSchema, ...errors(403, 404) },
      },
    },
    async (request) => (routeProject(request)).refFilters,
  );
}
