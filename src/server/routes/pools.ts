// Pools: where agents run jobs (each agent says which, `gantry agent --pool`), and the price of a
// compute minute in each, which an admin sets (docs/API.md, "Pools").

import type { FastifyInstance } from 'fastify';
import { costFactorMilliOf, DEFAULT_COST_FACTOR_MILLI, FACTOR_SCALE, MAX_COST_FACTOR, POOL_NAME_PATTERN } from '../../domain/pools.js';
import type { AgentView } from '../../store/fleet.js';
import type { PoolPrice } from '../../store/pools.js';
import { auditAlways } from '../audit.js';
import { ApiError } from '../errors.js';
import { errors } from '../schemas.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const poolSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    costFactor: { type: 'number', description: 'what a wall-clock minute of a job here counts as (1 unless an admin priced the pool; 0: free)' },
    agents: {
      type: 'array',
      items: { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' }, status: { type: 'string', enum: ['idle', 'busy', 'offline'] } }, required: ['id', 'name', 'status'] },
    },
    updatedAt: { type: ['string', 'null'], format: 'date-time', description: 'when an admin last priced it (null: never)' },
  },
  required: ['name', 'costFactor', 'agents', 'updatedAt'],
} as const;

const poolParams = {
  type: 'object',
  properties: { pool: { type: 'string', pattern: POOL_NAME_PATTERN.source } },
  required: ['pool'],
} as const;

function poolJson(name: string, price: PoolPrice | undefined, agents: readonly AgentView[]) {
  return {
    name,
    costFactor: (price?.costFactorMilli ?? DEFAULT_COST_FACTOR_MILLI) / FACTOR_SCALE,
    agents: agents.filter((a) => a.pool === name).map((a) => ({ id: a.id, name: a.name, status: a.status })),
    updatedAt: iso(price?.updatedAt ?? null),
  };
}

export function poolRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/pools',
    {
      // Whoever may see the agents may see which pools they are in and what those cost.
      config: { access: 'signed-in' },
      schema: {
        summary: 'Every pool that an admin priced or an agent named, by name, with its agents and cost factor',
        tags: ['agents'],
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: poolSchema } } }, ...errors(403) },
      },
    },
    async () => {
      const [prices, agents] = await Promise.all([ctx.store.pools.listPrices(), ctx.store.fleet.listAgents(ctx.now(), ctx.settings.leaseMs)]);
      const byName = new Map(prices.map((p) => [p.name, p]));
      const names = [...new Set([...byName.keys(), ...agents.map((a) => a.pool)])].sort();
      return { items: names.map((name) => poolJson(name, byName.get(name), agents)) };
    },
  );

  app.put(
    '/pools/:pool',
    {
      config: { access: 'admin' },
      schema: {
        summary: "Price a pool (admin): the cost factor of its compute minutes, from now on (attempts keep the price they were offered at)",
        tags: ['agents'],
        params: poolParams,
        body: {
          type: 'object',
          properties: { costFactor: { type: 'number', minimum: 0, maximum: MAX_COST_FACTOR, description: 'at most 3 decimals; 0: free' } },
          required: ['costFactor'],
          additionalProperties: false,
        },
        response: { 200: poolSchema, ...errors(400, 403) },
      },
    },
    async (request) => {
      const { pool } = request.params as { pool: string };
      const { costFactor } = request.body as { costFactor: number };
      const milli = costFactorMilliOf(costFactor);
      if (milli === null) throw new ApiError('GANTRY_E_INVALID_REQUEST', `body.costFactor must be 0 to ${MAX_COST_FACTOR} with at most 3 decimals`, { field: 'body.costFactor' });
      const at = ctx.now();
      const price = await ctx.store.pools.setPrice(pool, milli, at, auditAlways(request, at, { action: 'pool.set', projectId: null, target: { type: 'pool', id: pool }, details: { costFactor: milli / FACTOR_SCALE } }));
      return poolJson(pool, price, await ctx.store.fleet.listAgents(at, ctx.settings.leaseMs));
    },
  );
}
