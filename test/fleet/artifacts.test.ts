// Artifacts and caches across machines (PROTOCOL.md §11), end to end: a real `gantry server` and
// two real `gantry agent` processes with their own homes, jobs forced onto one or the other by
// tags, on SQLite and on PostgreSQL. The blob routes' refusals are driven by the test acting as an
// agent itself (register, session, poll, start), since only a running attempt's token may upload.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { DirBlobStore } from '../../src/blobstore/dir-blob-store.js';
import { openStore } from '../../src/store/open.js';
import { testPostgres } from '../helpers/postgres.js';
import { Fleet } from './fleet-harness.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The files of the server's blob store. */
function blobFiles(f: Fleet): string[] {
  const root = path.join(f.sb.home, 'blobs', 'sha256');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d)).map((rest) => d + rest));
}

/** Which agent ran a job, from the first line of its log. */
async function ranOn(f: Fleet, jobId: number): Promise<string> {
  return /Running with gantry \S+ on ([A-Za-z0-9._-]+)/.exec((await f.log(jobId)).toString())?.[1] ?? '?';
}

/** Method, URL and status of the server's requests whose URL matches, from its request log. */
function requests(output: string, url: RegExp): { method: string; url: string; status: number }[] {
  const byId = new Map<string, { method: string; url: string; status: number }>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { reqId?: string; req?: { method: string; url: string }; res?: { statusCode: number } };
    if (!e.reqId) continue;
    if (e.req && url.test(e.req.url)) byId.set(e.reqId, { method: e.req.method, url: e.req.url, status: 0 });
    const r = byId.get(e.reqId);
    if (r && e.res) r.status = e.res.statusCode;
  }
  return [...byId.values()];
}

/** A .tar.gz written header by header, with whatever a hostile client would put in it. */
function craftArchive(entries: { path: string; type: 'File' | 'SymbolicLink'; linkpath?: string; body?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = new Header({ path: e.path, type: e.type, linkpath: e.linkpath ?? '', mode: 0o644, size: body.length, mtime: new Date(0), uid: 0, gid: 0 });
    h.encode();
    blocks.push(h.block as Buffer, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

interface Answer {
  status: number;
  body: { error?: { code: string; message: string; blob?: string } } & Record<string, unknown>;
}

/** The test as an agent: just enough of the protocol to hold a running attempt and its token. */
class ProbeAgent {
  token = '';
  private session = '';
  attemptId = 0;
  attemptToken = '';

  constructor(private readonly f: Fleet) {}

  async call(method: string, p: string, opts: { json?: unknown; bytes?: Buffer; attemptToken?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...opts.headers };
    if (this.session) headers['gantry-session'] = this.session;
    if (opts.attemptToken ?? this.attemptToken) headers['gantry-attempt-token'] = opts.attemptToken ?? this.attemptToken;
    let body: BodyInit | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.bytes) {
      headers['content-type'] = 'application/octet-stream';
      body = opts.bytes as unknown as BodyInit;
    }
    const res = await fetch(`${this.f.url}/api/v1/agent${p}`, { method, headers, body });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
  }

  /** Registers with tag `probe`, opens a session and takes and starts the one job tagged `probe`. */
  async takeAndStart(): Promise<void> {
    const facts = { name: 'probe', tags: ['probe'], concurrency: 1, version: 'test', protocol: 1 };
    this.token = this.f.agentToken;
    const reg = await this.call('POST', '/register', { json: facts });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    this.token = reg.body.token as string;
    const s = await this.call('POST', '/sessions', { json: facts });
    assert.equal(s.status, 201);
    this.session = s.body.sessionId as string;
    for (let i = 0; i < 20 && !this.attemptId; i++) {
      const poll = await this.call('POST', '/jobs/request', { json: { slots: 1, waitMs: 1000 } });
      const offer = (poll.body.offers as { attemptId: number; attemptToken: string }[] | undefined)?.[0];
      if (offer) {
        this.attemptId = offer.attemptId;
        this.attemptToken = offer.attemptToken;
      }
    }
    assert.ok(this.attemptId, 'the probe job was offered');
    assert.equal((await this.call('POST', `/attempts/${this.attemptId}/start`, { json: {} })).status, 200);
  }

  put(bytes: Buffer, name = sha256(bytes), attemptToken?: string): Promise<Answer> {
    return this.call('PUT', `/attempts/${this.attemptId}/blobs/sha256/${name}`, { bytes, attemptToken });
  }
}

function artifactSuite(label: string, db: () => Promise<string | null>): void {
  describe(`artifacts and caches across agents (${label})`, () => {
    const fleets: Fleet[] = [];
    after(async () => {
      for (const f of fleets) await f.teardown();
    });
    /** A server and two agents, `box-a` (tag a) and `box-b` (tag b), on a repository with `files`. */
    const fleet = async (files: Record<string, string>, agents = true): Promise<Fleet> => {
      const f = new Fleet(files, await db());
      fleets.push(f);
      // GANTRY_DEBUG: the server logs every agent request, which the tests count (PUTs sent, HEADs answered).
      await f.startServer({ env: { GANTRY_DEBUG: '1' } });
      if (agents) {
        await f.startAgent({ tags: ['a'], name: 'box-a' });
        await f.startAgent({ tags: ['b'], name: 'box-b' });
      }
      await f.project();
      return f;
    };

    it("a dependent on agent B gets agent A's artifacts byte for byte (modes, symlinks); an identical archive is uploaded once", async () => {
      const f = await fleet({
        '.gantry.yml': `stages: [build, test]
produce:
  stage: build
  tags: [a]
  script:
    - mkdir -p out/bin && head -c 3000000 /dev/urandom > out/data.bin
    - printf '#!/bin/sh\\necho run\\n' > out/bin/run.sh && chmod 751 out/bin/run.sh
    - ln -s data.bin out/link
    - cp out/data.bin "$OUT_DIR/produced.bin"
  artifacts:
    paths: [out/]
consume:
  stage: test
  tags: [b]
  needs: [produce]
  script:
    - cp out/data.bin "$OUT_DIR/consumed.bin"
    - stat -c %a out/bin/run.sh > "$OUT_DIR/mode"
    - readlink out/link > "$OUT_DIR/link"
twin1:
  stage: build
  tags: [a]
  script: &same
    - mkdir -p same && printf 'the same bytes' > same/f && chmod 644 same/f && touch -d @1000000000 same/f same
  artifacts:
    paths: [same/f]
twin2:
  stage: test
  tags: [b]
  needs: [twin1]
  script: *same
  artifacts:
    paths: [same/f]
`,
      });
      const out = f.sharedDir('out');
      const p = await f.trigger('demo', { OUT_DIR: out });
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success', JSON.stringify(done));
      const job = (name: string) => done.jobs.find((j) => j.name === name)!;
      assert.equal(await ranOn(f, job('produce').id), 'box-a');
      assert.equal(await ranOn(f, job('consume').id), 'box-b');
      const produced = fs.readFileSync(path.join(out, 'produced.bin'));
      assert.equal(produced.length, 3_000_000);
      assert.equal(sha256(fs.readFileSync(path.join(out, 'consumed.bin'))), sha256(produced));
      assert.equal(fs.readFileSync(path.join(out, 'mode'), 'utf8').trim(), '751');
      assert.equal(fs.readFileSync(path.join(out, 'link'), 'utf8').trim(), 'data.bin');
      assert.match((await f.log(job('consume').id)).toString(), /Downloaded artifacts of produce/);

      // People see what a job uploaded, and download the archive with their own token.
      const listed = await f.api<{ items: Array<{ attempt: number; size: number; files: number; expired: boolean }> }>('GET', `/jobs/${job('produce').id}/artifacts`);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.items.map((a) => [a.attempt, a.expired]), [[1, false]]);
      assert.ok(listed.body.items[0]!.files >= 3);
      const dl = await fetch(`${f.url}/api/v1/jobs/${job('produce').id}/artifacts/1`, { headers: { authorization: `Bearer ${f.adminToken}` } });
      assert.equal(dl.status, 200);
      assert.match(dl.headers.get('content-disposition') ?? '', /filename="produce-1-artifacts\.tar\.gz"/);
      const archive = Buffer.from(await dl.arrayBuffer());
      assert.equal(archive.length, listed.body.items[0]!.size);
      assert.ok(blobFiles(f).includes(sha256(archive)));
      assert.deepEqual((await f.api('GET', `/jobs/${job('consume').id}/artifacts`)).body, { items: [] });
      const none = await f.api<{ error: { code: string } }>('GET', `/jobs/${job('consume').id}/artifacts/1`);
      assert.deepEqual([none.status, none.body.error.code], [404, 'GANTRY_E_NOT_FOUND']);
      assert.equal((await fetch(`${f.url}/api/v1/jobs/${job('produce').id}/artifacts/1`)).status, 401);

      // twin1 and twin2 made the same archive on two machines: one blob, sent once; the second
      // agent's HEAD found it and it sent no bytes.
      assert.equal(await ranOn(f, job('twin2').id), 'box-b');
      assert.equal(blobFiles(f).length, 2, 'one blob for produce, one shared by the twins');
      const server = f.procs[0]!.output();
      const puts = requests(server, /\/blobs\/sha256\//).filter((r) => r.method === 'PUT');
      assert.deepEqual(puts.map((r) => r.status).sort(), [201, 201], 'two PUTs: produce and the first twin');
      const heads = requests(server, /\/blobs\/sha256\//).filter((r) => r.method === 'HEAD');
      assert.deepEqual(heads.map((r) => r.status).sort(), [200, 404, 404]);
    });

    it('a cache saved in one pipeline is restored by the next on the other agent; a save replaces it whole; fallback keys are tried', async () => {
      const f = await fleet({
        '.gantry.yml': `save:
  tags: [a]
  rules: [{if: '$PHASE == "one"'}]
  cache: {key: deps, paths: [vendor/]}
  script:
    - mkdir -p vendor && head -c 500000 /dev/urandom > vendor/lib.bin && echo old > vendor/old.txt
    - cp vendor/lib.bin "$OUT_DIR/saved.bin"
restore:
  tags: [b]
  rules: [{if: '$PHASE == "two"'}]
  cache: {key: deps, paths: [vendor/]}
  script:
    - cp vendor/lib.bin "$OUT_DIR/restored.bin"
    - rm -rf vendor && mkdir vendor && echo new > vendor/new.txt
fallback:
  tags: [a]
  rules: [{if: '$PHASE == "three"'}]
  cache: {key: 'nothing-here', fallback_keys: [deps], policy: pull, paths: [vendor/]}
  script:
    - ls vendor > "$OUT_DIR/after-replace"
`,
      });
      const out = f.sharedDir('out');
      const jobs: number[] = [];
      for (const phase of ['one', 'two', 'three']) {
        const p = await f.trigger('demo', { OUT_DIR: out, PHASE: phase });
        const done = await f.waitPipeline(p.id);
        assert.equal(done.status, 'success', `${phase}: ${JSON.stringify(done)}`);
        jobs.push(done.jobs[0]!.id);
      }
      const saved = fs.readFileSync(path.join(out, 'saved.bin'));
      assert.equal(sha256(fs.readFileSync(path.join(out, 'restored.bin'))), sha256(saved));
      // The second save replaced the cache: the old files are gone, not merged.
      assert.equal(fs.readFileSync(path.join(out, 'after-replace'), 'utf8'), 'new.txt\n');
      assert.deepEqual(await Promise.all(jobs.map((id) => ranOn(f, id))), ['box-a', 'box-b', 'box-a']);
      assert.match((await f.log(jobs[1]!)).toString(), /Restored cache deps/);
      assert.match((await f.log(jobs[2]!)).toString(), /Restored fallback cache deps/);

      // Expiry, as the server's sweep runs it: a cache used (saved or restored) within the
      // maximum age stays; one unused since goes, and then its archive, referenced by nothing.
      const store = await openStore(f.storeUrl);
      try {
        const blobs = new DirBlobStore(path.join(f.sb.home, 'blobs'));
        const remove = async (sha: string) => void (await blobs.delete(sha));
        const at = Date.now();
        const kept = await store.fleet.sweepArtifacts(at, 0, remove, at - 3600_000);
        assert.equal(kept.caches, 0, 'used within the hour');
        const before = blobFiles(f).length;
        const swept = await store.fleet.sweepArtifacts(at + 8 * 24 * 3600_000, at + 1, remove, at + 1);
        assert.ok(swept.caches >= 1, 'the caches unused since went');
        assert.ok(swept.blobs >= 1 && blobFiles(f).length < before, 'and their archives with them');
      } finally {
        await store.close();
      }
    });

    it('expire_in: 1 second artifacts are not given to a later job, others are, and the sweep purges the expired ones', async () => {
      const f = await fleet({
        '.gantry.yml': `stages: [build, wait, test]
short:
  stage: build
  tags: [a]
  script: [echo short > short.txt]
  artifacts: {paths: [short.txt], expire_in: 1 second}
long:
  stage: build
  tags: [a]
  script: [echo long > long.txt]
  artifacts: {paths: [long.txt], expire_in: 1 hour}
pause:
  stage: wait
  tags: [b]
  script: [sleep 2]
use:
  stage: test
  tags: [b]
  script:
    - test -f long.txt
    - if test -e short.txt; then echo "short is here"; exit 1; fi
`,
      });
      const p = await f.trigger();
      const done = await f.waitPipeline(p.id);
      const log = (await f.log(done.jobs.find((j) => j.name === 'use')!.id)).toString();
      assert.equal(done.status, 'success', `${JSON.stringify(done)}\n${log}`);
      assert.match(log, /Downloaded artifacts of long/);
      assert.doesNotMatch(log, /Downloaded artifacts of short/);

      // The sweep, as the server's sweeper runs it, an hour later: the expired row goes (unless
      // the server's own sweep took it already), then its blob, referenced by nothing now, file
      // included; the other artifact's blob stays.
      assert.equal(blobFiles(f).length, 2);
      const store = await openStore(f.storeUrl);
      try {
        const blobs = new DirBlobStore(path.join(f.sb.home, 'blobs'));
        const at = Date.now();
        const r = await store.fleet.sweepArtifacts(at, at + 1, async (sha) => void (await blobs.delete(sha)));
        assert.equal(r.blobs, 1);
        assert.equal(blobFiles(f).length, 1);
        assert.deepEqual(await store.fleet.sweepArtifacts(at, at + 1, async () => assert.fail('nothing left to delete')), { artifacts: 0, caches: 0, blobs: 0 });
      } finally {
        await store.close();
      }
    });

    it('the server refuses archives that escape, bytes that do not match their name, blobs over the limit, and tokens of other attempts', async () => {
      const f = await fleet({ '.gantry.yml': 'probe:\n  tags: [probe]\n  script: [echo probe]\n' }, false);
      await f.trigger();
      const agent = new ProbeAgent(f);
      await agent.takeAndStart();

      for (const entries of [
        [{ path: '../x', type: 'File' as const, body: 'escaped' }],
        [{ path: '/etc/x', type: 'File' as const, body: 'absolute' }],
        [{ path: 'l', type: 'SymbolicLink' as const, linkpath: '../../outside' }],
      ]) {
        const r = await agent.put(craftArchive(entries));
        assert.equal(r.status, 422, JSON.stringify(r.body));
        assert.equal(r.body.error?.code, 'GANTRY_E_ARTIFACT_PATH');
      }
      const good = craftArchive([{ path: 'ok.txt', type: 'File', body: 'fine' }]);
      const mismatch = await agent.put(good, sha256(Buffer.from('something else')));
      assert.equal(mismatch.status, 422);
      assert.equal(mismatch.body.error?.code, 'GANTRY_E_BLOB_DIGEST_MISMATCH');
      assert.deepEqual(blobFiles(f), [], 'nothing refused was kept');

      // Over the limit by its Content-Length: refused before the body is read.
      const tooLarge = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${f.url}/api/v1/agent/attempts/${agent.attemptId}/blobs/sha256/${sha256(good)}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${agent.token}`, 'gantry-attempt-token': agent.attemptToken, 'content-type': 'application/octet-stream', 'content-length': String(5 * 1024 ** 3) },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => {
            resolve({ status: res.statusCode!, body });
            req.destroy();
          });
        });
        req.on('error', reject);
        req.write(good);
      });
      assert.equal(tooLarge.status, 413);
      assert.equal((JSON.parse(tooLarge.body) as Answer['body']).error?.code, 'GANTRY_E_TOO_LARGE');

      // The HEAD, PUT, record cycle, each of the three twice.
      const path1 = `/attempts/${agent.attemptId}/blobs/sha256/${sha256(good)}`;
      assert.equal((await agent.call('HEAD', path1)).status, 404);
      assert.equal((await agent.put(good)).status, 201);
      assert.equal((await agent.put(good)).status, 200, 'the same blob again: had it');
      assert.equal((await agent.call('HEAD', path1)).status, 200);
      assert.deepEqual(blobFiles(f), [sha256(good)]);
      const record = { sha256: sha256(good), size: good.length, files: 1, expireInSeconds: 60 };
      assert.equal((await agent.call('POST', `/attempts/${agent.attemptId}/artifacts`, { json: record })).status, 201);
      assert.equal((await agent.call('POST', `/attempts/${agent.attemptId}/artifacts`, { json: record })).status, 200);
      const other = await agent.call('POST', `/attempts/${agent.attemptId}/artifacts`, { json: { ...record, files: 2 } });
      assert.equal(other.status, 409);
      const unknown = await agent.call('PUT', `/attempts/${agent.attemptId}/caches/k`, { json: { sha256: sha256(Buffer.from('never uploaded')), size: 3 } });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error?.blob, 'missing');
      assert.equal((await agent.call('PUT', `/attempts/${agent.attemptId}/caches/k`, { json: { sha256: sha256(good), size: good.length } })).status, 200);
      const cached = await fetch(`${f.url}/api/v1/agent/attempts/${agent.attemptId}/caches/k`, {
        headers: { authorization: `Bearer ${agent.token}`, 'gantry-attempt-token': agent.attemptToken },
      });
      assert.equal(cached.status, 200);
      assert.deepEqual(Buffer.from(await cached.arrayBuffer()), good);
      assert.equal((await agent.call('GET', `/attempts/${agent.attemptId}/caches/none`)).status, 404);
      const badKey = await agent.call('GET', `/attempts/${agent.attemptId}/caches/${encodeURIComponent('a/../b')}`);
      assert.equal(badKey.status, 400);

      // Another attempt's token (or a made-up one) uploads and records nothing.
      const forged = await agent.put(good, sha256(good), 'gantry_attempt_forged');
      assert.equal(forged.status, 409);
      assert.equal(forged.body.error?.code, 'GANTRY_E_ATTEMPT_FENCED');
      // Once the attempt has ended, its token writes nothing either.
      const complete = await agent.call('POST', `/attempts/${agent.attemptId}/complete`, { json: { status: 'success', exitCode: 0, failureReason: null, logEnd: 0 } });
      assert.equal(complete.status, 200, JSON.stringify(complete.body));
      const late = await agent.put(craftArchive([{ path: 'late.txt', type: 'File', body: 'late' }]));
      assert.equal(late.status, 409);
      assert.equal(late.body.error?.code, 'GANTRY_E_ATTEMPT_FENCED');
      const lateCache = await agent.call('PUT', `/attempts/${agent.attemptId}/caches/k2`, { json: { sha256: sha256(good), size: good.length } });
      assert.equal(lateCache.status, 409);
      assert.deepEqual(blobFiles(f), [sha256(good)]);
    });
  });
}

artifactSuite('sqlite', async () => null);

const postgres = await testPostgres('artifacts and caches across agents on PostgreSQL', 2);
if (postgres) {
  artifactSuite('postgres', async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`);
}
