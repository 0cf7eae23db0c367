// The one place that turns errors into HTTP answers: every GantryError code has a status here,
// every answer is `{error: {code, message}}`, and nothing unexpected leaves the process with
// more than a code (the detail, stack included, goes to the server log only).

import type { FastifyError, FastifyInstance } from 'fastify';
import { GantryError, isGantryError, type ErrorCode } from '../domain/errors.js';

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  GANTRY_E_INVALID_REQUEST: 400,
  GANTRY_E_USAGE: 400,
  GANTRY_E_UNAUTHENTICATED: 401,
  GANTRY_E_WEBHOOK_SIGNATURE: 401,
  GANTRY_E_WEBHOOK_PAYLOAD: 400,
  GANTRY_E_FORBIDDEN: 403,
  GANTRY_E_NOT_FOUND: 404,
  GANTRY_E_CONFLICT: 409,
  GANTRY_E_ILLEGAL_TRANSITION: 409,
  GANTRY_E_IDEMPOTENCY_MISMATCH: 409,
  GANTRY_E_TOO_LARGE: 413,
  GANTRY_E_RANGE_NOT_SATISFIABLE: 416,
  GANTRY_E_PIPELINE_INVALID: 422,
  GANTRY_E_PIPELINE_NOT_FOUND: 422,
  GANTRY_E_PIPELINE_FILTERED: 422,
  GANTRY_E_REF_NOT_FOUND: 422,
  GANTRY_E_BLOB_DIGEST_MISMATCH: 422,
  GANTRY_E_ARTIFACT_PATH: 422,
  GANTRY_E_SCHEDULE_CRON: 422,
  GANTRY_E_SCHEDULE_TIMEZONE: 422,
  GANTRY_E_SIGN_IN_FAILED: 401,
  GANTRY_E_SIGN_IN_LIMITED: 429,
  GANTRY_E_RATE_LIMITED: 429,
  GANTRY_E_OVERLOADED: 503,
  GANTRY_E_CSRF: 403,
  GANTRY_E_PROTECTED_REF: 403,
  GANTRY_E_NOT_WAITING_FOR_APPROVAL: 409,
  GANTRY_E_SELF_APPROVAL: 403,
  GANTRY_E_ALREADY_APPROVED: 409,
  GANTRY_E_PASSWORD_TOO_SHORT: 422,
  GANTRY_E_SSO_CONFIG: 500,
  GANTRY_E_SSO_FAILED: 400,
  GANTRY_E_SSO_REFUSED: 403,
  GANTRY_E_SSO_UNAVAILABLE: 502,
  GANTRY_E_TOKEN_EXPIRED: 401,
  GANTRY_E_LAST_MAINTAINER: 409,
  GANTRY_E_AGENT_DEREGISTERED: 401,
  GANTRY_E_AGENT_INCOMPATIBLE: 400,
  GANTRY_E_SESSION_REPLACED: 409,
  GANTRY_E_OFFER_EXPIRED: 409,
  GANTRY_E_ATTEMPT_NOT_STARTED: 409,
  GANTRY_E_ATTEMPT_FENCED: 409,
  GANTRY_E_LOG_GAP: 416,
  GANTRY_E_LOG_INCOMPLETE: 409,
  GANTRY_E_ARTIFACT_EXPIRED: 410,
  GANTRY_E_TEST_REPORT_INVALID: 422,
  GANTRY_E_DOTENV_INVALID: 400,
  GANTRY_E_LOG_EXPIRED: 410,
  GANTRY_E_GIT: 502,
  GANTRY_E_STORE: 503,
  GANTRY_E_BLOB_STORE: 503,
  GANTRY_E_ID_TOKEN: 503,
};

/** Codes whose message may carry internals (SQL, paths): the client gets a fixed sentence. */
const OPAQUE: Partial<Record<ErrorCode, string>> = {
  GANTRY_E_STORE: 'the store is unavailable; see the server log',
  GANTRY_E_LOG: 'the log cannot be read; see the server log',
  GANTRY_E_BLOB_STORE: 'the object store is unavailable; see the server log',
  GANTRY_E_SECRETS: 'the secrets key cannot be used; see the server log',
  GANTRY_E_ID_TOKEN: 'an identity token cannot be signed; see the server log',
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

/** A GantryError with extra fields for the JSON answer (`field`, `diagnostics`) and headers (`Retry-After`). */
export class ApiError extends GantryError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}

/** The errors @fastify/csrf-protection sends (no secret cookie, a missing or wrong token). */
const CSRF_ERRORS = new Set(['FST_CSRF_MISSING_SECRET', 'FST_CSRF_INVALID_TOKEN']);

export interface ErrorBody {
  error: { code: string; message: string; [k: string]: unknown };
}

export function errorBody(code: ErrorCode, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, ...details } };
}

/** Where a schema failure is: `body.name`, `querystring.limit`, `params.key`. */
function fieldOf(err: FastifyError): string {
  const v = err.validation?.[0];
  const ctx = err.validationContext ?? 'body';
  if (!v) return ctx;
  const base = v.instancePath ? v.instancePath.replace(/^\//, '').replace(/\//g, '.') : '';
  const missing = (v.params as { missingProperty?: string; additionalProperty?: string } | undefined) ?? {};
  const leaf = missing.missingProperty ?? missing.additionalProperty ?? '';
  return [ctx, base, leaf].filter(Boolean).join('.');
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | GantryError | Error, request, reply) => {
    if (isGantryError(err)) {
      const status = httpStatusOf(err.code);
      const opaque = OPAQUE[err.code];
      // A refusal for overload is no failure, and one line each would be a storm of its own (overload/shed-log.ts).
      if (status >= 500 && err.code !== 'GANTRY_E_OVERLOADED') request.log.error({ err }, `${err.code}: ${err.message}`);
      const details = err instanceof ApiError ? err.details : {};
      if (err instanceof ApiError) reply.headers(err.headers);
      return reply.status(status).send(errorBody(err.code, opaque ?? err.message, details));
    }
    const fe = err as FastifyError;
    if (CSRF_ERRORS.has(fe.code)) {
      return reply
        .status(403)
        .send(errorBody('GANTRY_E_CSRF', 'a write signed in by session cookie needs the X-CSRF-Token header that POST or GET /api/v1/session gives'));
    }
    if (fe.validation) {
      const field = fieldOf(fe);
      const first = fe.validation[0];
      const what = first?.keyword === 'required' ? 'is required' : (first?.message ?? 'is invalid');
      return reply
        .status(400)
        .send(errorBody('GANTRY_E_INVALID_REQUEST', `${field} ${what}`, { field }));
    }
    // A body over the route's limit (overload/body-limits.ts), read or refused from Content-Length;
    // or over a multipart form's own limits (a file, too many fields).
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const limit = request.routeOptions.bodyLimit;
      return reply.status(413).send(errorBody('GANTRY_E_TOO_LARGE', `the request body is larger than this route takes (${limit} bytes)`, { limit }));
    }
    if (fe.statusCode === 413) return reply.status(413).send(errorBody('GANTRY_E_TOO_LARGE', fe.message));
    // Fastify's own client errors (bad JSON, wrong content type): their messages are written for
    // clients and carry no internals.
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send(errorBody('GANTRY_E_INVALID_REQUEST', fe.message));
    }
    request.log.error({ err }, 'unexpected error');
    return reply.status(500).send(errorBody('GANTRY_E_INTERNAL', 'internal server error; see the server log'));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody('GANTRY_E_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}
