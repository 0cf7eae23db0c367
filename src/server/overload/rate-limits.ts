// The callers' own rates, counted by @fastify/rate-limit (its in-memory store: per instance, a
// fixed window of a minute): API requests per token or session and per address, and sign-ins per
// address. The plugin only counts here; the answer, a 429 GANTRY_E_RATE_LIMITED with Retry-After,
// is made like every other error (src/server/errors.ts).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { RouteClass } from './route-class.js';
import { RATE_LIMITED } from './route-class.js';

export const RATE_WINDOW_MS = 60_000;

/** Whose rate a refused request spent. */
export type RateSubject = 'token' | 'address' | 'sign-in';

export interface RateRefusal {
  subject: RateSubject;
  /** Requests a minute allowed to that subject. */
  max: number;
  /** Seconds until its window starts again (at least 1). */
  retryAfter: number;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

export interface RateSettings {
  perTokenPerMinute: number;
  perAddressPerMinute: number;
  signInsPerMinute: number;
}

export class RateLimits {
  private constructor(
    private readonly token: Limiter | null,
    private readonly address: Limiter | null,
    private readonly signIn: Limiter | null,
  ) {}

  /**
   * `callerOf` names the token or session of a request (a hash), or null when it carries none:
   * keys are counted before authentication, so a flood of bad tokens costs no database reads.
   */
  static async install(app: FastifyInstance, settings: RateSettings, callerOf: (request: FastifyRequest) => string | null): Promise<RateLimits> {
    // global: false: no route gets the plugin's own hook; the overload hook asks the limiters below.
    await app.register(rateLimit, { global: false, timeWindow: RATE_WINDOW_MS });
    const make = (max: number, keyGenerator?: (request: FastifyRequest) => string) =>
      max > 0 ? app.createRateLimit({ max, timeWindow: RATE_WINDOW_MS, ...(keyGenerator ? { keyGenerator } : {}) }) : null;
    return new RateLimits(
      make(settings.perTokenPerMinute, (request) => callerOf(request) ?? ''),
      // The plugin's own key: the address, an IPv6 one by its /64 (as the sign-in failure limits count it).
      make(settings.perAddressPerMinute),
      make(settings.signInsPerMinute),
    );
  }

  /**
   * Counts the request against its caller's rates and says which one is spent, if any; sets the
   * `x-ratelimit-*` headers of the rate the caller controls (its token's, else its address's).
   * A token over its rate does not spend its address's, so one token's flood does not limit the
   * others behind the same address.
   */
  async check(request: FastifyRequest, reply: FastifyReply, cls: RouteClass, caller: string | null): Promise<RateRefusal | null> {
    if (cls === 'sign-in') return this.count(this.signIn, 'sign-in', request, reply, true);
    if (!RATE_LIMITED.has(cls)) return null;
    if (caller !== null) {
      const refused = await this.count(this.token, 'token', request, reply, true);
      if (refused) return refused;
    }
    return this.count(this.address, 'address', request, reply, caller === null || this.token === null);
  }

  private async count(limiter: Limiter | null, subject: RateSubject, request: FastifyRequest, reply: FastifyReply, showHeaders: boolean): Promise<RateRefusal | null> {
    if (limiter === null) return null;
    const r = await limiter(request);
    if (r.isAllowed) return null;
    if (showHeaders || r.isExceeded) {
      reply.header('x-ratelimit-limit', r.max);
      reply.header('x-ratelimit-remaining', r.remaining);
      reply.header('x-ratelimit-reset', r.ttlInSeconds);
    }
    if (!r.isExceeded) return null;
    return { subject, max: r.max, retryAfter: Math.max(1, r.ttlInSeconds) };
  }
}
