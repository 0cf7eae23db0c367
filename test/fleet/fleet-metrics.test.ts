// The fleet's metrics on /metrics, end to end: after a pipeline has run (a job that succeeds while
// a viewer follows its log live, one that fails, one whose tags no agent has), a push reported
// and a forged webhook refused, every metric issue 19 names has a real value, the gauges that
// describe the fleet are the same on both server instances (one PostgreSQL database), and every
// metric the shipped dashboard and alert rules use (docs/ops/) exists.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { Fleet, freePort } from './fleet-harness.js';

const PIPELINE = `said:
  tags: [linux]
  script:
    - sleep 1
    - for i in 1 2 3 4 5; do echo "line $i"; sleep 0.1; done
broke:
  tags: [linux]
  script: [exit 3]
nowhere:
  tags: [gpu]
  script: [echo never]
`;

/** `name{labels} value` lines of a Prometheus text exposition, by name. */
function samples(text: string): Map<string, { labels: string; value: number }[]> {
  const out = new Map<string, { labels: string; value: number }[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), { labels: m[2] ?? '', value: Number(m[3]) }]);
  }
  return out;
}
const value = (s: Map<string, { labels: string; value: number }[]>, name: string, labels = '') => s.get(name)?.find((x) => x.labels === labels)?.value;
const total = (s: Map<string, { labels: string; value: number }[]>, name: string) => (s.get(name) ?? []).reduce((a, x) => a + x.value, 0);

const postgres = await testPostgres('the fleet metrics across two instances', 2);

describe('the fleet on /metrics', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('every metric of the fleet has a real value after a pipeline, the fleet gauges are equal on two instances, and the dashboard and alerts name only metrics that exist', async () => {
    const db = postgres ? `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}` : null;
    const f = new Fleet({ '.gantry.yml': PIPELINE }, db);
    fleets.push(f);
    await f.startServer();
    // A second instance on the same database where there is one (PostgreSQL); SQLite has one.
    const other = db ? `http://127.0.0.1:${await freePort()}` : f.url;
    if (db) await f.startServer({ port: Number(new URL(other).port) });
    await f.startAgent({ name: 'box', tags: ['linux'], args: ['--pool', 'linux'] });
    await f.project();
    const p = await f.trigger();
    const said = p.jobs.find((j) => j.name === 'said')!.id;
    // A viewer follows the log live, on the other instance.
    const stream = await fetch(`${other}/api/v1/jobs/${said}/log/stream`, { headers: { authorization: `Bearer ${f.adminToken}` } });
    const watched = stream.text();
    await f.waitPipeline(p.id, (v) => ['said', 'broke'].every((n) => ['success', 'failed'].includes(v.jobs.find((j) => j.name === n)!.status)));
    assert.match(await watched, /"b64":"bGluZSA1Cg=="[^]*event: end\n/, "the stream had line 5 and its end");
    // A push reported (a delivery recorded), and a webhook with no valid signature (refused).
    const push = await f.api('POST', '/projects/demo/pushes', { ref: 'refs/heads/side', before: '0'.repeat(40), after: f.sb.git('rev-parse', 'HEAD').trim() });
    assert.equal(push.status, 202);
    const forged = await fetch(`${f.url}/api/v1/webhooks/github/demo`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push' }, body: '{}' });
    assert.equal(forged.status, 401);

    const [a, b] = await Promise.all([f.url, other].map(async (u) => samples(await (await fetch(`${u}/metrics`)).text())));
    // The fleet's gauges: the same whichever instance is scraped.
    for (const name of ['gantry_agents', 'gantry_jobs_running', 'gantry_jobs_pending']) assert.deepEqual(a!.get(name), b!.get(name), name);
    assert.equal(value(a!, 'gantry_agents', '{pool="linux",state="idle"}'), 1);
    assert.equal(value(a!, 'gantry_agents', '{pool="linux",state="offline"}'), 0);
    assert.equal(value(a!, 'gantry_jobs_running', '{pool="linux"}'), 0);
    // `nowhere` wants a gpu: no pool's agents could take it.
    assert.equal(value(a!, 'gantry_jobs_pending', '{pool="",reason="no_agent"}'), 1);
    assert.ok(value(a!, 'gantry_oldest_pending_job_age_seconds', '{pool=""}')! > 0.5);
    assert.equal(value(a!, 'gantry_oldest_pending_job_age_seconds', '{pool="linux"}'), 0);
    // What the instances did, summed over both.
    const both = (name: string, labels = '') => (value(a!, name, labels) ?? 0) + (db ? value(b!, name, labels) ?? 0 : 0);
    assert.equal(both('gantry_job_queue_duration_seconds_count', '{pool="linux"}'), 2);
    assert.ok(both('gantry_dispatch_duration_seconds_count') >= 1);
    assert.equal(both('gantry_job_attempts_finished_total', '{status="success",failure_reason=""}'), 1);
    assert.equal(both('gantry_job_attempts_finished_total', '{status="failed",failure_reason="script_failure"}'), 1);
    assert.ok(total(a!, 'gantry_log_bytes_ingested_total') + (db ? total(b!, 'gantry_log_bytes_ingested_total') : 0) > 30);
    assert.ok((value(db ? b! : a!, 'gantry_log_delivery_seconds_count') ?? 0) >= 1, 'live pieces delivered to the viewer');
    assert.equal(value(db ? b! : a!, 'gantry_log_stream_clients'), 0, 'the viewer is gone');
    assert.equal(value(a!, 'gantry_webhook_deliveries_total', '{provider="git",result="accepted"}'), 1);
    assert.equal(value(a!, 'gantry_webhook_deliveries_total', '{provider="github",result="refused"}'), 1);
    assert.ok((value(a!, 'gantry_store_query_seconds_count') ?? 0) > 10);
    assert.ok(value(a!, 'gantry_compute_minutes_total', '{project="demo",pool="linux"}')! > 0);

    // The dashboard and the alert rules name only what exists.
    // Declared (a `# TYPE` line) is enough: a labelled counter has no sample until it first counts.
    const exposed = new Set([...(await (await fetch(`${f.url}/metrics`)).text()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const ops = fs.readFileSync(path.join(ROOT, 'docs/ops/alerts.yml'), 'utf8') + fs.readFileSync(path.join(ROOT, 'docs/ops/grafana-dashboard.json'), 'utf8');
    const used = new Set([...ops.matchAll(/\b(gantry_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, '')));
    assert.deepEqual([...used].filter((n) => !exposed.has(n)), []);
  });
});
