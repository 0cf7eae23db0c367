// A restore reads an archive someone handed over: one crafted to write outside the home (a `..`
// name, an absolute one) writes nothing there, and is refused before the home is touched.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as tar from 'tar';
import { restoreBackup } from '../../src/backup/restore-backup.js';
import { GantryError } from '../../src/domain/errors.js';

const S3 = { accessKeyId: null, secretAccessKey: null, sessionToken: null, region: 'us-east-1', endpoint: null, pathStyle: null, timeoutMs: 1000 } as never;

describe('gantry restore of a hostile archive', () => {
  it('an entry named ../ or /abs writes nothing outside the home, and the home keeps what it had', async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-hostile-'));
    try {
      const home = path.join(base, 'home');
      const src = path.join(base, 'src');
      fs.mkdirSync(path.join(src, 'inner'), { recursive: true });
      fs.mkdirSync(home);
      fs.writeFileSync(path.join(home, 'secrets.key'), 'mine');
      fs.writeFileSync(path.join(src, 'escaped'), 'planted');
      fs.writeFileSync(path.join(src, 'inner', 'MANIFEST.json'), '{"format":1,"schemaVersion":1}');
      const file = path.join(base, 'evil.tar');
      // preservePaths keeps the `..` in the entry's name, as an attacker's tar would.
      await tar.c({ file, cwd: path.join(src, 'inner'), preservePaths: true }, ['MANIFEST.json', '../escaped', path.join(src, 'escaped')]);
      const listed: string[] = [];
      await tar.t({ file, onReadEntry: (e) => listed.push(e.path) });
      assert.ok(listed.some((p) => p.includes('..')), `the archive carries a .. entry: ${listed.join(', ')}`);
      fs.rmSync(path.join(src, 'escaped'));
      await assert.rejects(
        restoreBackup({ file, home: path.join(home, 'sub'), force: true, logObjects: null, s3: S3, now: Date.now() }),
        (e: unknown) => e instanceof GantryError && e.code === 'GANTRY_E_USAGE',
      );
      assert.equal(fs.existsSync(path.join(src, 'escaped')), false, 'nothing written beside the archive source');
      assert.equal(fs.existsSync(path.join(home, 'escaped')), false, 'nothing written beside the home');
      assert.equal(fs.readFileSync(path.join(home, 'secrets.key'), 'utf8'), 'mine');
      assert.deepEqual(fs.readdirSync(path.join(home, 'sub')), [], 'the staging directory is gone');
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
