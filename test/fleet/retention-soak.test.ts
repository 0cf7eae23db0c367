// A soak of retention, end to end: a real `gantry server` and `gantry agent`, pipelines that write
// a log and an archive of random bytes back to back, aggressive retention (the newest 2 pipelines
// of the ref kept, a retention day of 1 ms: GANTRY_TEST_RETENTION_DAY_MS), and `gantry gc --wait`
// between rounds. The bytes on disk stop growing once retention has something to delete, and
// every kept pipeline's log and artifact read back byte for byte after every collection.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gantry } from '../helpers/gantry.js';
import { Fleet } from './fleet-harness.js';

const PIPELINE = `build:
  script:
    - head -c 300000 /dev/urandom > out.bin
    - sha256sum out.bin
    - for i in $(seq 1 3000); do echo "line $i of pipeline $CI_PIPELINE_ID"; done
  artifacts: {paths: [out.bin]}
`;
const ROUNDS = 6;
const PER_ROUND = 2;

/** Bytes of the regular files under `dir`. */
function bytesUnder(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) n += fs.statSync(path.join(e.parentPath, e.name)).size;
  }
  return n;
}

interface Kept {
  pipelineId: number;
  jobId: number;
  logSha: string;
  archiveSha: string;
}

describe('retention soak', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('disk use stays flat over rounds of pipelines with retention on, and kept logs and live artifacts read back byte for byte', { timeout: 90_000 }, async () => {
    const started = Date.now();
    const f = new Fleet({ '.gantry.yml': PIPELINE });
    fleets.push(f);
    await f.startServer({
      env: {
        GANTRY_RETENTION_PIPELINE_DAYS: '1',
        GANTRY_RETENTION_KEEP_PER_REF: String(PER_ROUND),
        GANTRY_TEST_RETENTION_DAY_MS: '1',
        // Collections only between rounds, when nothing uploads: a short grace is safe then.
        GANTRY_TEST_BLOB_GRACE_MS: '500',
        GANTRY_GC_INTERVAL_MINUTES: '0',
      },
    });
    await f.startAgent({ concurrency: PER_ROUND });
    await f.project();
    const cli = (args: string[]) => gantry(f.sb, args, { GANTRY_TOKEN: f.adminToken, GANTRY_SERVER: f.url });
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const get = async (p: string) => fetch(`${f.url}/api/v1${p}`, { headers: { authorization: `Bearer ${f.adminToken}` } });

    const all: Kept[] = [];
    const figures: { round: number; stores: number; home: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const triggered = await Promise.all(Array.from({ length: PER_ROUND }, () => f.trigger()));
      for (const t of triggered) {
        const done = await f.waitPipeline(t.id);
        assert.equal(done.status, 'success', JSON.stringify(done));
        const jobId = done.jobs[0]!.id;
        const artifact = await get(`/jobs/${jobId}/artifacts/1`);
        assert.equal(artifact.status, 200);
        all.push({ pipelineId: t.id, jobId, logSha: sha(await f.log(jobId)), archiveSha: sha(Buffer.from(await artifact.arrayBuffer())) });
      }
      // Compaction runs a second after each end: wait for the rows to become objects, so the
      // figures are of the same state each round.
      await new Promise((r) => setTimeout(r, 1_500));
      const gc = await cli(['gc', '--wait', '--json']);
      assert.equal(gc.code, 0, gc.stderr + gc.out);
      const run = JSON.parse(gc.out) as { summary: { pipelines: number; blobs: number; logObjects: number; bytes: number } };
      if (round > 1) assert.equal(run.summary.pipelines, PER_ROUND, `round ${round}: the previous round's pipelines went`);

      const kept = all.slice(-PER_ROUND);
      for (const k of kept) {
        assert.equal(sha(await f.log(k.jobId)), k.logSha, `the log of kept pipeline ${k.pipelineId}`);
        const a = await get(`/jobs/${k.jobId}/artifacts/1`);
        assert.equal(a.status, 200, `the artifact of kept pipeline ${k.pipelineId}`);
        assert.equal(sha(Buffer.from(await a.arrayBuffer())), k.archiveSha);
      }
      for (const gone of all.slice(0, -PER_ROUND)) assert.equal((await get(`/pipelines/${gone.pipelineId}`)).status, 404);
      const stores = bytesUnder(path.join(f.sb.home, 'blobs')) + bytesUnder(path.join(f.sb.home, 'log-objects'));
      figures.push({ round, stores, home: bytesUnder(f.sb.home) });
    }
    console.log(`# retention soak (${Math.round((Date.now() - started) / 1000)} s): bytes after each collection: ${figures.map((x) => `round ${x.round}: blobs+logs ${x.stores}, home ${x.home}`).join('; ')}`);

    // From the second round on, what retention keeps is the same two pipelines' worth: the
    // archives and logs on disk hold steady (random bytes of equal sizes), and the whole home
    // (the database and its WAL among it) grows by no more than a margin for the WAL's high water.
    const steady = figures.slice(1);
    const base = steady[0]!;
    for (const x of steady) {
      assert.ok(Math.abs(x.stores - base.stores) <= base.stores * 0.1, `round ${x.round}: blobs and logs ${x.stores} bytes against ${base.stores}`);
      assert.ok(x.home <= base.home + 2 * 1024 * 1024, `round ${x.round}: home ${x.home} bytes against ${base.home}`);
    }
    const total = all.length * 300_000;
    assert.ok(figures[figures.length - 1]!.stores < total / 2, `far less than the ${total} bytes of archives made`);

    // Nothing left to collect.
    const dry = await cli(['gc', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const left = JSON.parse(dry.out) as { pipelines: number; blobs: number; logObjects: number };
    assert.deepEqual([left.pipelines, left.blobs, left.logObjects], [0, 0, 0]);
    const words = await cli(['gc', '--dry-run']);
    assert.match(words.out, /a garbage collection now would delete \(nothing was deleted\):\n\s+pipelines\s+0\n/);
  });
});
