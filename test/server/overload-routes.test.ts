// Which class of work each route of the real app is (src/server/overload/route-class.ts), and its
// body size limit (overload/body-limits.ts), read back from an app built in-process.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { DEFAULT_BODY_LIMIT, MAX_BODY_LIMIT } from '../../src/server/overload/body-limits.js';
import { DEFAULT_OVERLOAD_SETTINGS } from '../../src/server/overload/settings.js';
import type { RouteEntry } from '../../src/server/overload/overload.js';
import { classOf, ROUTE_CLASSES } from '../../src/server/overload/route-class.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ROOT } from '../helpers/gantry.js';
import { startHarness, type Harness } from './harness.js';

const name = (r: RouteEntry) => `${r.method} ${r.url}`;

/** Whether the route's OpenAPI answer is an event stream. */
function isEventStream(r: RouteEntry): boolean {
  const ok = (r.schema as { response?: Record<string, { content?: Record<string, unknown> }> } | undefined)?.response?.['200'];
  return ok?.content?.['text/event-stream'] !== undefined;
}

describe('route classes and body limits', () => {
  let h: Harness;
  let routes: readonly RouteEntry[];
  before(async () => {
    h = await startHarness((home) => openSqliteStore(path.join(home, 'gantry.db')));
    routes = h.app.overload.routes;
  });
  after(() => h.close());

  it('a route is agent by its agent protocol, else what it declares, else read for GET/HEAD and write for the rest', () => {
    assert.equal(classOf({ method: 'POST', config: { agentProtocol: 'agent', routeClass: 'webhook' } }), 'agent');
    assert.equal(classOf({ method: 'GET', config: { routeClass: 'stream' } }), 'stream');
    assert.equal(classOf({ method: 'HEAD' }), 'read');
    assert.equal(classOf({ method: ['GET', 'HEAD'] }), 'read');
    assert.equal(classOf({ method: ['GET', 'POST'] }), 'write');
    assert.equal(classOf({ method: 'DELETE', config: {} }), 'write');
  });

  it('the bounds, rates and pressure thresholds are read from the environment: 0 turns one off, nonsense keeps the default', () => {
    assert.deepEqual(loadConfig({}).server.overload, DEFAULT_OVERLOAD_SETTINGS);
    const o = loadConfig({
      GANTRY_MAX_INFLIGHT_READS: '4',
      GANTRY_MAX_INFLIGHT_WRITES: '0',
      GANTRY_MAX_INFLIGHT_WEBHOOKS: 'many',
      GANTRY_MAX_INFLIGHT_WEBHOOK_BYTES: '1048576',
      GANTRY_MAX_INFLIGHT_SIGN_INS: '2',
      GANTRY_MAX_INFLIGHT_STREAMS: '10',
      GANTRY_MAX_STREAMS_PER_CALLER: '3',
      GANTRY_RATE_LIMIT_PER_TOKEN: '0',
      GANTRY_RATE_LIMIT_PER_ADDRESS: '-5',
      GANTRY_RATE_LIMIT_SIGN_INS: '7',
      GANTRY_PRESSURE_MAX_DELAY_MS: '0',
      GANTRY_PRESSURE_MAX_UTILIZATION: '1.5',
    }).server.overload;
    assert.deepEqual(o, {
      ...DEFAULT_OVERLOAD_SETTINGS,
      maxReads: 4,
      maxWrites: 0,
      maxWebhookBytes: 1048576,
      maxSignIns: 2,
      maxStreams: 10,
      maxStreamsPerCaller: 3,
      perTokenPerMinute: 0,
      signInsPerMinute: 7,
      maxEventLoopDelayMs: 0,
    });
    assert.equal(loadConfig({ GANTRY_PRESSURE_MAX_UTILIZATION: '0.8' }).server.overload.maxEventLoopUtilization, 0.8);
  });

  it('every route of the real app has a class; the agent protocol is agent, and nothing else is', () => {
    assert.ok(routes.length > 150, `${routes.length} routes`);
    for (const r of routes) assert.ok((ROUTE_CLASSES as readonly string[]).includes(r.routeClass), name(r));
    const agent = routes.filter((r) => r.routeClass === 'agent').map(name);
    assert.deepEqual(agent, routes.filter((r) => r.url.startsWith('/api/v1/agent/')).map(name));
    assert.ok(agent.includes('POST /api/v1/agent/jobs/request') && agent.includes('POST /api/v1/agent/heartbeat'));
    assert.ok(agent.includes('POST /api/v1/agent/logs') && agent.includes('PATCH /api/v1/agent/attempts/:id/log'));
    assert.ok(agent.includes('POST /api/v1/agent/attempts/:id/complete'));
  });

  it('every event stream is a stream, webhooks are the two intakes, health and sign-in are what they say', () => {
    const of = (cls: string) => routes.filter((r) => r.routeClass === cls && r.method !== 'HEAD').map(name).sort();
    assert.deepEqual(of('stream'), routes.filter((r) => isEventStream(r) && r.method !== 'HEAD').map(name).sort());
    assert.deepEqual(of('stream'), [
      'GET /api/v1/agents/events',
      'GET /api/v1/jobs/:id/log/stream',
      'GET /api/v1/pipelines/:id/events',
      'GET /api/v1/projects/:project/events',
      'GET /api/v1/queue/events',
    ]);
    assert.deepEqual(of('webhook'), ['POST /api/v1/projects/:project/pushes', 'POST /api/v1/webhooks/:provider/:project']);
    assert.deepEqual(of('health'), ['GET /healthz', 'GET /metrics', 'GET /readyz']);
    assert.deepEqual(of('sign-in'), ['GET /api/v1/session/oidc/callback', 'GET /api/v1/session/oidc/start', 'POST /api/v1/session']);
    for (const r of routes.filter((x) => ['read', 'write'].includes(x.routeClass))) {
      assert.equal(r.routeClass, ['GET', 'HEAD'].includes(r.method) ? 'read' : 'write', name(r));
    }
  });

  it('every route has a body limit at most MAX_BODY_LIMIT; those above the default, and the streamed ones, are the ones API.md lists', () => {
    for (const r of routes) {
      assert.ok(Number.isInteger(r.bodyLimit) && r.bodyLimit > 0 && r.bodyLimit <= MAX_BODY_LIMIT, `${name(r)}: ${r.bodyLimit}`);
      if (r.streamedBody) assert.ok(r.streamedBody.limit > 0, name(r));
    }
    const larger = routes.filter((r) => r.bodyLimit > DEFAULT_BODY_LIMIT || r.streamedBody !== null).map(name).sort();
    assert.deepEqual(larger, [
      'POST /api/v1/agent/attempts/:id/tests',
      'POST /api/v1/agent/logs',
      'POST /api/v1/projects/:project/trigger',
      'POST /api/v1/webhooks/:provider/:project',
      'PUT /api/v1/agent/attempts/:id/blobs/sha256/:hex',
    ]);
    // The table in API.md, "Body size limits", names exactly those.
    const api = fs.readFileSync(path.join(ROOT, 'docs', 'API.md'), 'utf8');
    const section = api.slice(api.indexOf('### Body size limits'));
    const table = section.slice(0, section.indexOf('\n\n', section.indexOf('|')));
    const documented = [...table.matchAll(/^\| `([A-Z]+ \/[^`]+)`/gm)].map((m) => m[1]!).sort();
    assert.deepEqual(documented, larger);
  });
});
