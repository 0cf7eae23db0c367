// The S3 blob store against a real S3-compatible server on loopback (s3rver behind a front that
// checks SigV4 signatures and payload hashes: test/helpers/s3-server.ts): the contract every
// store keeps, addressing (path-style, virtual-hosted, a key prefix), listings of several pages,
// and a bucket that hangs, resets, is busy, refuses the credentials, or gets corrupted bytes.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/blobstore/s3-blob-store.js';
import { S3Client } from '../../src/blobstore/s3-client.js';
import { TEST_BUCKET, TEST_REGION, TestS3 } from '../helpers/s3-server.js';
import { blobStoreContract, sha } from './blob-store-contract.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-s3-store-'));
const s3 = new TestS3();
before(() => s3.start());
after(async () => {
  await s3.close();
  fs.rmSync(base, { recursive: true, force: true });
});

let n = 0;
function store(over: Partial<S3BlobStoreOptions> = {}): S3BlobStore & { spoolDir: string } {
  const i = n++;
  const spoolDir = path.join(base, `spool-${i}`);
  const s = new S3BlobStore({
    bucket: TEST_BUCKET,
    prefix: `run-${i}/logs/`,
    endpoint: s3.endpoint,
    region: TEST_REGION,
    pathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, sessionToken: null },
    timeoutMs: 2_000,
    spoolDir,
    ...over,
  });
  after(() => s.close());
  return Object.assign(s, { spoolDir });
}

function spooled(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => `spool/${f}`) : [];
}

blobStoreContract('an S3-compatible bucket', async () => {
  const s = store();
  return {
    store: s,
    leftovers: async () => [...s3.objects(s.prefix).keys(), ...spooled(s.spoolDir)].sort(),
    stored: (name) => `${s.prefix}${name}`,
  };
});

describe('the S3 blob store', () => {
  it('signs every request (SigV4, checked by the server) and keeps blob <sha256> as <prefix><sha256>', async () => {
    const s = store();
    const seen = s3.requests.length;
    const data = Buffer.from('a compacted log, more or less');
    await s.put(sha(data), Readable.from([data]), { maxBytes: 1000 });
    assert.deepEqual([...s3.objects(s.prefix)], [[`${s.prefix}${sha(data)}`, data]]);
    assert.deepEqual(await s.read(sha(data), 2, 10), data.subarray(2, 12));
    const mine = s3.requests.slice(seen);
    assert.deepEqual(
      mine.map((r) => `${r.method} ${r.status}`),
      ['HEAD 404', 'PUT 200', 'GET 206'],
    );
    assert.equal(mine[2]!.range, 'bytes=2-11');
  });

  it('speaks virtual-hosted style: the bucket in the host name', async () => {
    // `gantry-logs.s3.localhost` resolves to loopback through the agent; the server takes the bucket from Host.
    const agent = new http.Agent({
      keepAlive: true,
      lookup: ((host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) =>
        host.endsWith('.localhost') ? (opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) : cb(new Error(`unexpected host ${host}`))) as never,
    });
    after(() => agent.destroy());
    const s = store({ endpoint: `http://s3.localhost:${s3.port}`, pathStyle: false, agent });
    const data = Buffer.from('by host');
    const seen = s3.requests.length;
    await s.put(sha(data), Readable.from([data]), { maxBytes: 1000 });
    assert.deepEqual(await s.read(sha(data), 0, 100), data);
    assert.ok(s3.objects(s.prefix).has(`${s.prefix}${sha(data)}`));
    assert.ok(s3.requests.slice(seen).every((r) => r.url.startsWith(`/${s.prefix}`)), 'the path holds the key alone');
  });

  it('wrong credentials: a GANTRY_E_BLOB_STORE error with S3\'s code, the secret nowhere in it, nothing stored', async () => {
    const secret = 'not-the-secret-0123456789';
    const s = store({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: secret, sessionToken: null } });
    const data = Buffer.from('refused');
    const err = await s.put(sha(data), Readable.from([data]), { maxBytes: 1000 }).catch((e: unknown) => e);
    assert.equal((err as { code?: string }).code, 'GANTRY_E_BLOB_STORE');
    // The put's first call is a HEAD, whose refusal has no body to name S3's code; a GET's has.
    assert.match(String((err as Error).message), /^HEAD s3:\/\/gantry-logs\/.*: 403 Forbidden$/);
    const read = await s.read(sha(data), 0, 1).catch((e: unknown) => e as Error);
    assert.match(String((read as Error).message), /403 SignatureDoesNotMatch/);
    for (const e of [err, read]) assert.ok(!String((e as Error).message).includes(secret));
    assert.deepEqual(s3.objects(s.prefix).size, 0);
    assert.deepEqual(spooled(s.spoolDir), []);
  });

  it('bytes corrupted on their way: the bucket refuses them (the signed SHA-256), nothing is published', async () => {
    const s = store();
    const data = Buffer.alloc(10_000, 7);
    s3.corruptNextPut = true;
    await assert.rejects(s.put(sha(data), Readable.from([data]), { maxBytes: 1 << 20 }), (e: Error & { code?: string }) => e.code === 'GANTRY_E_BLOB_STORE' && /XAmzContentSHA256Mismatch/.test(e.message));
    assert.equal(await s.has(sha(data)), false);
    assert.deepEqual(spooled(s.spoolDir), []);
  });

  it('a busy bucket (503 SlowDown) is tried again and the put goes through', async () => {
    const s = store();
    const data = Buffer.from('patience');
    s3.busyRequests = 2;
    assert.equal((await s.put(sha(data), Readable.from([data]), { maxBytes: 1000 })).created, true);
    assert.ok(s3.objects(s.prefix).has(`${s.prefix}${sha(data)}`));
  });

  it('a bucket that hangs or resets connections: GANTRY_E_BLOB_STORE within the timeout, and the next call works once it is back', async () => {
    const s = store({ timeoutMs: 300 });
    const data = Buffer.from('later');
    const name = sha(data);
    for (const mode of ['hang', 'reset'] as const) {
      s3.mode = mode;
      const t0 = Date.now();
      await assert.rejects(s.put(name, Readable.from([data]), { maxBytes: 1000 }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'GANTRY_E_BLOB_STORE');
        assert.match(e.message, mode === 'hang' ? /no answer within 300 ms/ : /socket hang up|ECONNRESET/);
        return true;
      });
      await assert.rejects(s.read(name, 0, 5), { code: 'GANTRY_E_BLOB_STORE' });
      assert.ok(Date.now() - t0 < 5_000, `${mode}: failed in ${Date.now() - t0} ms`);
    }
    s3.mode = 'up';
    assert.equal((await s.put(name, Readable.from([data]), { maxBytes: 1000 })).created, true);
    assert.deepEqual(await s.read(name, 0, 5), data);
    assert.deepEqual(spooled(s.spoolDir), []);
  });

  it('a bucket that does not exist: puts fail saying so', async () => {
    const s = store({ bucket: 'no-such-bucket' });
    const data = Buffer.from('nowhere');
    await assert.rejects(s.put(sha(data), Readable.from([data]), { maxBytes: 1000 }), (e: Error & { code?: string }) => e.code === 'GANTRY_E_BLOB_STORE' && /NoSuchBucket/.test(e.message));
    await assert.rejects(s.read(sha(data), 0, 1), (e: Error & { code?: string }) => e.code === 'GANTRY_E_BLOB_STORE' && /does not exist/.test(e.message));
    await assert.rejects(s.probe(), { code: 'GANTRY_E_BLOB_STORE' });
  });

  it('lists past one ListObjectsV2 page (2 keys a page, 5 blobs and a key that is not one): every blob exactly once, by the continuation tokens, signed', async () => {
    const s = store({ listPageSize: 2 });
    const blobs = Array.from({ length: 5 }, (_, i) => Buffer.from(`blob ${i}${'.'.repeat(i)}`));
    for (const b of blobs) await s.put(sha(b), Readable.from([b]), { maxBytes: 1000 });
    // Under the prefix but not named like a blob: listed by the bucket, skipped by the store.
    const other = Buffer.from('not a blob');
    const client = new S3Client({ bucket: TEST_BUCKET, endpoint: s3.endpoint, region: TEST_REGION, pathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, sessionToken: null } });
    after(() => client.close());
    (await client.send({ method: 'PUT', key: `${s.prefix}README`, body: { open: () => Readable.from([other]), length: other.length, sha256: sha(other) }, accept: [200] })).body.resume();
    assert.equal(s3.objects(s.prefix).size, 6);

    const seen = s3.requests.length;
    const listed: { sha256: string; size: number }[] = [];
    for await (const b of s.listOlderThan(Date.now() + 60_000)) listed.push({ sha256: b.sha256, size: b.size });
    const byName = (a: { sha256: string }, b: { sha256: string }) => a.sha256.localeCompare(b.sha256);
    assert.deepEqual(listed.sort(byName), blobs.map((b) => ({ sha256: sha(b), size: b.length })).sort(byName));
    const pages = s3.requests.slice(seen);
    assert.deepEqual(pages.map((r) => `${r.method} ${r.status}`), ['GET 200', 'GET 200', 'GET 200'], 'six keys, two a page');
    const tokens = pages.map((r) => new URL(r.url, 'http://x').searchParams.get('continuation-token'));
    assert.equal(tokens[0], null);
    assert.ok(tokens[1] && tokens[2] && tokens[1] !== tokens[2], 'each later page asks with the token of the one before');
    for (const r of pages) assert.equal(new URL(r.url, 'http://x').searchParams.get('max-keys'), '2');

    // The time cut applies on every page: nothing is older than a minute ago.
    for await (const b of s.listOlderThan(Date.now() - 60_000)) assert.fail(`listed ${b.sha256}`);
  });

  it('removes spool files a killed process left once nobody has written them for a while; nothing in the bucket is partial', async () => {
    const s = store();
    fs.mkdirSync(s.spoolDir, { recursive: true });
    const old = path.join(s.spoolDir, `${sha('a')}.0011223344556677.part`);
    fs.writeFileSync(old, 'cut short');
    const hourAgo = (Date.now() - 3_600_000) / 1000;
    fs.utimesSync(old, hourAgo, hourAgo);
    assert.equal(await s.removePartials(Date.now() - 60_000), 1);
    assert.deepEqual(spooled(s.spoolDir), []);
  });
});
