import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { collectPaths } from '../../src/agent/collect-paths.js';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-collect-'));
after(() => fs.rmSync(ws, { recursive: true, force: true }));
fs.writeFileSync(path.join(ws, '..hidden'), 'x');
fs.mkdirSync(path.join(ws, 'out', 'deep'), { recursive: true });
fs.writeFileSync(path.join(ws, 'out', 'a.txt'), 'a');
fs.writeFileSync(path.join(ws, 'out', 'deep', 'b.log'), 'b');

describe('artifact and cache paths', () => {
  it('take a file whose name starts with two dots: it is inside the workspace', () => {
    assert.deepEqual(collectPaths(ws, ['..hidden']), ['..hidden']);
  });

  it('refuse a path that leaves the workspace', () => {
    assert.throws(() => collectPaths(ws, ['../elsewhere']), { code: 'GANTRY_E_ARTIFACT_PATH' });
    assert.throws(() => collectPaths(ws, ['out/../../elsewhere']), { code: 'GANTRY_E_ARTIFACT_PATH' });
    assert.throws(() => collectPaths(ws, ['/etc/passwd']), { code: 'GANTRY_E_ARTIFACT_PATH' });
  });

  it('take a directory whole, and globs with exclusions', () => {
    assert.deepEqual(collectPaths(ws, ['out/']), ['out/a.txt', 'out/deep/b.log']);
    assert.deepEqual(collectPaths(ws, ['out/**'], ['**/*.log']), ['out/a.txt']);
  });
});
