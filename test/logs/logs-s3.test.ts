// Compacted logs in an S3-compatible bucket, end to end: a real `gantry server` configured with
// GANTRY_LOG_OBJECTS=s3://..., a real agent, and a real S3 server on loopback (s3rver behind a
// front that checks SigV4 signatures and payload hashes, and can hang: test/helpers/s3-server.ts).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Fleet, fleetsOn } from '../fleet/fleet-harness.js';
import { waitFor } from '../helpers/processes.js';
import { TEST_BUCKET, TEST_REGION, TestS3 } from '../helpers/s3-server.js';
import { logObject, SseViewer } from './log-harness.js';

async function compacted(f: Fleet, jobId: number, timeoutMs = 20_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const sha = await logObject(f, jobId);
    if (sha) return sha;
    if (Date.now() > until) throw new Error(`job ${jobId}'s log was not compacted:\n${f.procs[0]?.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function rangeOf(f: Fleet, jobId: number, range: string): Promise<{ status: number; contentRange: string | null; body: Buffer }> {
  const res = await fetch(`${f.url}/api/v1/jobs/${jobId}/log`, { headers: { authorization: `Bearer ${f.adminToken}`, range } });
  return { status: res.status, contentRange: res.headers.get('content-range'), body: Buffer.from(await res.arrayBuffer()) };
}

async function streamed(f: Fleet, jobId: number, lastEventId?: number): Promise<SseViewer> {
  const v = new SseViewer(`${f.url}/api/v1/jobs/${jobId}/log/stream`, {
    authorization: `Bearer ${f.adminToken}`,
    ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }),
  });
  await v.done;
  return v;
}

describe('compacted logs in an S3-compatible bucket (a real server, agent and S3 server on loopback)', () => {
  const s3 = new TestS3();
  before(() => s3.start());
  after(() => s3.close());
  const make = fleetsOn(async () => null);
  const s3Env = (prefix: string, over: Record<string, string> = {}) => ({
    GANTRY_LOG_OBJECTS: `s3://${TEST_BUCKET}/${prefix}`,
    GANTRY_S3_ENDPOINT: s3.endpoint,
    GANTRY_S3_REGION: TEST_REGION,
    GANTRY_S3_ACCESS_KEY_ID: s3.accessKeyId,
    GANTRY_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    ...over,
  });

  it('a job\'s log is compacted into the bucket and reads back byte for byte: download, Range across blocks, the SSE stream from any offset', async () => {
    const f = await make({
      '.gantry.yml': `printer:
  script:
    - 'for i in $(seq 1 30); do seq $((i*10000)) $((i*10000+9999)); printf "\\000\\377\\r progress $i\\r"; head -c 20000 /dev/urandom; done | tee "$DIR/out"'
`,
    });
    const PREFIX = 'ci/logs/';
    const server = await f.startServer({ env: s3Env(PREFIX) });
    await f.startAgent();
    await f.project();
    const dir = f.sharedDir('out');
    const p = await f.trigger('demo', { DIR: dir });
    const jobId = p.jobs[0]!.id;
    assert.equal((await f.waitPipeline(p.id, undefined, 60_000)).status, 'success');
    const sha = await compacted(f, jobId);

    // One object in the bucket, under the prefix, named by its bytes' SHA-256; nothing on disk.
    const objects = s3.objects(PREFIX);
    assert.deepEqual([...objects.keys()], [`${PREFIX}${sha}`]);
    assert.equal(createHash('sha256').update(objects.get(`${PREFIX}${sha}`)!).digest('hex'), sha);
    assert.equal(fs.existsSync(path.join(f.sb.home, 'log-objects')), false);
    assert.deepEqual(fs.readdirSync(path.join(f.sb.home, 'log-objects-spool')), []);

    const printed = fs.readFileSync(path.join(dir, 'out'));
    assert.ok(printed.length > 2_500_000, `the script printed ${printed.length} bytes: several blocks`);
    const gets = s3.requests.length;
    const stored = await f.log(jobId);
    assert.ok(stored.indexOf(printed) >= 0, 'what the script printed is in the log, whole');
    assert.match(stored.toString('latin1'), /Job succeeded/);
    assert.ok(
      s3.requests.slice(gets).some((r) => r.method === 'GET' && r.range !== null),
      'the log was read from the bucket by ranged GETs',
    );

    for (const [range, start, end] of [
      ['bytes=0-99', 0, 100],
      ['bytes=1048000-1049999', 1_048_000, 1_050_000],
      [`bytes=${stored.length - 1000}-`, stored.length - 1000, stored.length],
      ['bytes=-777', stored.length - 777, stored.length],
    ] as const) {
      const r = await rangeOf(f, jobId, range);
      assert.equal(r.status, 206, range);
      assert.equal(r.contentRange, `bytes ${start}-${end - 1}/${stored.length}`);
      assert.ok(r.body.equals(stored.subarray(start, end)), `${range}: the same bytes`);
    }

    const whole = await streamed(f, jobId);
    assert.ok(whole.end, 'the stream ends');
    assert.ok(whole.bytes.equals(stored), `the stream is the log (${whole.bytes.length} vs ${stored.length})`);
    const resumed = await streamed(f, jobId, 2_000_000);
    assert.ok(resumed.bytes.equals(stored.subarray(2_000_000)), 'a stream resumed in the middle has the rest');

    const out = server.output();
    assert.match(out, /compacted logs go to s3:\/\/gantry-logs\/ci\/logs\//);
    assert.match(out, /the log object bucket answers/);
    assert.ok(!out.includes(s3.secretAccessKey), 'the secret is never logged');
    assert.ok(s3.requests.every((r) => r.status !== 403), 'every request was signed right');
  });

  it('a bucket that hangs: the job ends and its log reads from the rows, the server keeps answering; once the bucket is back the log moves there and reads the same; a read while it hangs is a 503', async () => {
    const f = await make({ '.gantry.yml': 'short:\n  script:\n    - seq 1 20000\n' });
    s3.mode = 'hang';
    try {
      const PREFIX = 'ci/hang/';
      const server = await f.startServer({ env: s3Env(PREFIX, { GANTRY_S3_TIMEOUT_MS: '500' }) });
      await f.startAgent();
      await f.project();
      const p = await f.trigger();
      const jobId = p.jobs[0]!.id;
      assert.equal((await f.waitPipeline(p.id)).status, 'success');
      await waitFor('a compaction to fail', () => /log compaction failed[\s\S]*GANTRY_E_BLOB_STORE/.test(server.output()) || /GANTRY_E_BLOB_STORE[\s\S]*log compaction failed/.test(server.output()), 20_000);
      assert.match(server.output(), /the log object bucket does not answer/);
      assert.equal(await logObject(f, jobId), null, 'the rows are still the log');
      const fromRows = await f.log(jobId);
      assert.match(fromRows.toString(), /\n1\n2\n3\n[\s\S]*\n20000\n[\s\S]*Job succeeded/);
      assert.equal((await fetch(`${f.url}/healthz`)).status, 200);

      s3.mode = 'up';
      const sha = await compacted(f, jobId);
      assert.ok(s3.objects(PREFIX).has(`${PREFIX}${sha}`));
      assert.ok((await f.log(jobId)).equals(fromRows), 'the object reads as the rows did');

      s3.mode = 'hang';
      const t0 = Date.now();
      const res = await fetch(`${f.url}/api/v1/jobs/${jobId}/log`, { headers: { authorization: `Bearer ${f.adminToken}` } });
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { error: { code: 'GANTRY_E_BLOB_STORE', message: 'the object store is unavailable; see the server log' } });
      assert.ok(Date.now() - t0 < 10_000, `answered in ${Date.now() - t0} ms`);
      assert.equal((await fetch(`${f.url}/healthz`)).status, 200, 'the server is still up');

      s3.mode = 'up';
      assert.ok((await f.log(jobId)).equals(fromRows));
      assert.ok(!server.output().includes(s3.secretAccessKey), 'the secret is never logged');
    } finally {
      s3.mode = 'up';
    }
  });
});
