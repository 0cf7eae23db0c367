// Backup and restore, end to end: `gantry backup` of a real server's home while a job is still
// printing, then `gantry restore` over that home and a server started on what came back. Every
// log reads back (compacted ones from their objects, the running one up to the instant of the
// snapshot), artifacts download byte for byte, and stored secrets still open.

import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gantry } from '../helpers/gantry.js';
import { Fleet } from './fleet-harness.js';

const PIPELINE = `done:
  script:
    - seq 1 2000
    - mkdir -p out && head -c 100000 /dev/urandom > out/data.bin
  artifacts:
    paths: [out/]
slow:
  script:
    - for i in $(seq 1 60); do echo "slow line $i"; sleep 0.05; done
`;

describe('gantry backup and gantry restore', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('a backup taken mid-pipeline restores every log, artifact and secret; restore refuses a home with a database unless --force', async () => {
    const f = new Fleet({ '.gantry.yml': `${PIPELINE}secret:\n  when: manual\n  script:\n    - echo "secret length \${#TOPSECRET}"\n` });
    fleets.push(f);
    const server = await f.startServer();
    const agent = await f.startAgent();
    await f.project();
    assert.equal((await f.api('PUT', '/projects/demo/variables/TOPSECRET', { value: 'hunter2-hunter2', masked: true })).status, 204);
    const p = await f.trigger();
    const id = (name: string) => p.jobs.find((j) => j.name === name)!.id;
    // `done` finished and compacted into an object; `slow` halfway.
    await f.waitPipeline(p.id, (v) => v.jobs.find((j) => j.name === 'done')!.status === 'success');
    const db = new Database(path.join(f.sb.home, 'gantry.db'), { readonly: true });
    try {
      const until = Date.now() + 15_000;
      while (!(db.prepare('SELECT log_object FROM attempts WHERE job_id = ?').get(id('done')) as { log_object: string | null }).log_object) {
        if (Date.now() > until) throw new Error('the finished log was never compacted');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      db.close();
    }
    await f.waitLog(id('slow'), 1, /slow line 10\n/);

    const file = path.join(f.sb.base, 'home.backup');
    const env = { GANTRY_HOME: f.sb.home };
    const backup = await gantry(f.sb, ['backup', file, '--json'], env);
    assert.equal(backup.code, 0, backup.stderr);
    const made = JSON.parse(backup.out) as { bytes: number; manifest: { files: string[]; blobs: { referenced: unknown[]; included: boolean }; logObjects: { referenced: unknown[]; included: boolean } } };
    assert.deepEqual(made.manifest.files, ['secrets.key', 'admin.token', 'agent.token']);
    assert.equal(made.manifest.blobs.referenced.length, 1, 'the artifact');
    assert.ok(made.manifest.logObjects.referenced.length >= 1, 'the compacted log');
    assert.equal(fs.statSync(file).mode & 0o077, 0, 'the archive holds the secrets key: readable by its owner only');

    // The pipeline goes on after the snapshot; what it did after is not in the backup.
    assert.equal((await f.waitPipeline(p.id)).status, 'success');
    const before = { done: await f.log(id('done')), slow: await f.log(id('slow')) };
    const artifact = Buffer.from(await (await fetch(`${f.url}/api/v1/jobs/${id('done')}/artifacts/1`, { headers: { authorization: `Bearer ${f.adminToken}` } })).arrayBuffer());
    await f.kill(agent);
    await f.kill(server);

    // Not over a home with a database, unless asked; a file that is not a backup; a PostgreSQL store.
    const refused = await gantry(f.sb, ['restore', file], env);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /--force/);
    fs.writeFileSync(path.join(f.sb.base, 'junk'), 'not a tar');
    assert.equal((await gantry(f.sb, ['restore', path.join(f.sb.base, 'junk'), '--force'], env)).code, 2);
    const onPg = await gantry(f.sb, ['backup', path.join(f.sb.base, 'pg.backup')], { ...env, GANTRY_DB: 'postgres://nobody@127.0.0.1:1/none' });
    assert.equal(onPg.code, 2);
    assert.match(onPg.stderr, /pg_dump/);

    const restored = await gantry(f.sb, ['restore', file, '--force'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.out, /blobs \(artifacts, caches\): 1 of 1 present/);
    assert.match(restored.out, /compacted logs: (\d+) of \1 present/);
    assert.ok(fs.readdirSync(f.sb.home).some((n) => n.startsWith('before-restore-')), 'the earlier home kept aside');

    await f.startServer();
    const after = { done: await f.log(id('done')), slow: await f.log(id('slow')) };
    assert.ok(after.done.equals(before.done), 'the compacted log, byte for byte');
    assert.ok(after.slow.length > 0 && before.slow.subarray(0, after.slow.length).equals(after.slow), 'the running log up to the snapshot');
    assert.match(after.slow.toString(), /slow line 10\n/);
    assert.ok(after.slow.length < before.slow.length, 'and not what came after');
    const again = Buffer.from(await (await fetch(`${f.url}/api/v1/jobs/${id('done')}/artifacts/1`, { headers: { authorization: `Bearer ${f.adminToken}` } })).arrayBuffer());
    assert.ok(again.equals(artifact), 'the artifact, byte for byte');
    // The restored secrets key opens the stored variable: a job gets it.
    await f.startAgent();
    const q = await f.trigger();
    const secret = q.jobs.find((j) => j.name === 'secret')!.id;
    assert.equal((await f.api('POST', `/jobs/${secret}/play`)).status, 200);
    await f.waitLog(secret, 1, /secret length 15/);
  });
});
