import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { checkArchiveEntries, createArchive, extractArchive } from '../../src/agent/archive.js';
import { collectPaths } from '../../src/agent/collect-paths.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-archive-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

let n = 0;
/** A fresh directory under the test's temp directory. */
function scratch(name: string): string {
  const dir = path.join(base, `${name}-${n++}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

interface Node {
  type: 'file' | 'dir' | 'symlink';
  mode?: number;
  sha?: string;
  target?: string;
}

/** Everything below `root` as path → what it is: content hash, link target, permission bits. */
function tree(root: string): Record<string, Node> {
  const out: Record<string, Node> = {};
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const rel = path.relative(root, abs);
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) out[rel] = { type: 'symlink', target: fs.readlinkSync(abs) };
      else if (st.isDirectory()) {
        out[rel] = { type: 'dir', mode: st.mode & 0o777 };
        walk(abs);
      } else out[rel] = { type: 'file', mode: st.mode & 0o777, sha: createHash('sha256').update(fs.readFileSync(abs)).digest('hex') };
    }
  };
  walk(root);
  return out;
}

interface Crafted {
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'FIFO' | 'CharacterDevice';
  linkpath?: string;
  body?: string;
}

/** A .tar.gz written header by header, with whatever paths and types a hostile client would send. */
function craft(dir: string, entries: Crafted[]): string {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = new Header({ path: e.path, type: e.type, linkpath: e.linkpath ?? '', mode: e.type === 'Directory' ? 0o755 : 0o644, size: body.length, mtime: new Date(0), uid: 0, gid: 0 });
    h.encode();
    blocks.push(h.block as Buffer, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const file = path.join(dir, `crafted-${n++}.tar.gz`);
  fs.writeFileSync(file, gzipSync(Buffer.concat(blocks)));
  return file;
}

/** A workspace with the kinds of things artifacts and caches hold. */
function workspace(): string {
  const ws = scratch('ws');
  fs.mkdirSync(path.join(ws, 'bin'));
  fs.writeFileSync(path.join(ws, 'bin', 'run.sh'), '#!/bin/sh\necho hi\n');
  fs.chmodSync(path.join(ws, 'bin', 'run.sh'), 0o755);
  fs.writeFileSync(path.join(ws, 'shared.txt'), 'group-writable\n');
  fs.chmodSync(path.join(ws, 'shared.txt'), 0o664);
  fs.writeFileSync(path.join(ws, 'private.key'), 'secret\n');
  fs.chmodSync(path.join(ws, 'private.key'), 0o600);
  fs.writeFileSync(path.join(ws, 'blob.bin'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)));
  fs.writeFileSync(path.join(ws, 'empty.txt'), '');
  fs.writeFileSync(path.join(ws, 'résumé.txt'), 'unicode name\n');
  const deep = path.join(ws, 'a-rather-long-directory-name-to-need-more-than-one-hundred-bytes', 'and-another-one-below-it-for-good-measure');
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'file-with-a-long-name-too.txt'), 'long path\n');
  fs.mkdirSync(path.join(ws, 'empty-dir'));
  fs.chmodSync(path.join(ws, 'empty-dir'), 0o750);
  fs.symlinkSync('bin/run.sh', path.join(ws, 'run'));
  fs.symlinkSync('bin', path.join(ws, 'bin-link'));
  fs.symlinkSync('../shared.txt', path.join(ws, 'bin', 'up-link'));
  // Over 100 bytes: these need pax headers.
  fs.writeFileSync(path.join(ws, `${'n'.repeat(120)}.txt`), 'long name\n');
  fs.symlinkSync(path.relative(ws, path.join(deep, 'file-with-a-long-name-too.txt')), path.join(ws, 'long-link'));
  return ws;
}

/** The paths collectPaths gives for everything, plus the empty directory it cannot name. */
function everything(ws: string): string[] {
  return [...collectPaths(ws, ['**']), 'empty-dir'];
}

async function assertRefused(promise: Promise<unknown>, entry: string, code = 'GANTRY_E_ARTIFACT_PATH'): Promise<void> {
  await assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.code, code);
    assert.ok(err.message.includes(JSON.stringify(entry)), `the message names ${entry}: ${err.message}`);
    return true;
  });
}

describe('artifact and cache archives', () => {
  it('round-trip files, permission bits, symlinks, long and unicode names and empty directories byte for byte', async () => {
    const ws = workspace();
    const out = path.join(scratch('out'), 'a.tar.gz');
    const made = await createArchive(ws, everything(ws), out);

    const bytes = fs.readFileSync(out);
    assert.equal(made.size, bytes.length);
    assert.equal(made.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(made.files, 12); // 8 regular files and 4 symlinks; directories are not counted
    assert.deepEqual(await checkArchiveEntries(out), { files: 12 });

    const dest = path.join(scratch('dest'), 'workspace');
    assert.deepEqual(await extractArchive(out, dest), { files: 12 });
    const expected = tree(ws);
    // Parent directories that were not listed themselves come back with the default mode.
    for (const node of Object.values(expected)) if (node.type === 'dir') delete node.mode;
    expected['empty-dir'] = { type: 'dir', mode: 0o750 };
    const got = tree(dest);
    for (const [p, node] of Object.entries(got)) if (node.type === 'dir' && p !== 'empty-dir') delete node.mode;
    assert.deepEqual(got, expected);
  });

  it('are the same bytes for the same files, so a blob is stored once', async () => {
    const ws = workspace();
    const out = scratch('out');
    const a = await createArchive(ws, everything(ws), path.join(out, 'a.tar.gz'));
    const b = await createArchive(ws, everything(ws), path.join(out, 'b.tar.gz'));
    assert.equal(a.sha256, b.sha256);
  });

  it('carry no owner: uid and gid 0, no user or group names', async () => {
    const ws = workspace();
    const file = path.join(scratch('out'), 'a.tar.gz');
    await createArchive(ws, ['bin/run.sh'], file);
    const tar = (await import('node:zlib')).gunzipSync(fs.readFileSync(file));
    const h = new Header(tar, 0);
    assert.equal(h.path, 'bin/run.sh');
    assert.equal(h.uid, 0);
    assert.equal(h.gid, 0);
    assert.equal(h.uname, '');
    assert.equal(h.gname, '');
    assert.equal(h.mode, 0o755);
  });

  it('replace existing files when extracted, contents and modes, and a symlink where a file goes', async () => {
    const ws = workspace();
    const file = path.join(scratch('out'), 'a.tar.gz');
    await createArchive(ws, ['shared.txt', 'bin/run.sh'], file);
    const dest = scratch('dest');
    const outside = scratch('outside');
    fs.writeFileSync(path.join(outside, 'target'), 'untouched');
    fs.writeFileSync(path.join(dest, 'shared.txt'), 'old');
    fs.chmodSync(path.join(dest, 'shared.txt'), 0o600);
    fs.mkdirSync(path.join(dest, 'bin'));
    fs.symlinkSync(path.join(outside, 'target'), path.join(dest, 'bin', 'run.sh'));

    await extractArchive(file, dest);
    assert.equal(fs.readFileSync(path.join(dest, 'shared.txt'), 'utf8'), 'group-writable\n');
    assert.equal(fs.statSync(path.join(dest, 'shared.txt')).mode & 0o777, 0o664);
    assert.ok(fs.lstatSync(path.join(dest, 'bin', 'run.sh')).isFile());
    assert.equal(fs.readFileSync(path.join(outside, 'target'), 'utf8'), 'untouched');
  });

  it('may be empty: no file matched, nothing extracted', async () => {
    const box = scratch('box');
    const file = path.join(box, 'empty.tar.gz');
    assert.equal((await createArchive(box, [], file)).files, 0);
    assert.deepEqual(await checkArchiveEntries(file), { files: 0 });
    const dest = path.join(box, 'dest');
    assert.deepEqual(await extractArchive(file, dest), { files: 0 });
    assert.deepEqual(fs.readdirSync(dest), []);
  });

  it('are not made from a symlink that leads outside the listed tree', async () => {
    const ws = scratch('ws');
    fs.symlinkSync('/etc', path.join(ws, 'etc'));
    fs.symlinkSync('../..', path.join(ws, 'up'));
    await assertRefused(createArchive(ws, ['etc'], path.join(ws, 'x.tar.gz')), 'etc');
    await assertRefused(createArchive(ws, ['up'], path.join(ws, 'x.tar.gz')), 'up');
  });

  describe('a hostile archive is refused by the check and by extraction, and nothing is written', () => {
    const hostile: [string, (outside: string) => Crafted[], string][] = [
      ['a path with a .. segment', () => [{ path: 'ok.txt', type: 'File', body: 'ok' }, { path: '../x', type: 'File', body: 'x' }], '../x'],
      ['a .. segment in the middle', () => [{ path: 'a/../../x', type: 'File', body: 'x' }], 'a/../../x'],
      ['an absolute path', (outside) => [{ path: path.join(outside, 'x'), type: 'File', body: 'x' }], 'ABS'],
      ['a hard link', () => [{ path: 'ok.txt', type: 'File', body: 'ok' }, { path: 'h', type: 'Link', linkpath: 'ok.txt' }], 'h'],
      ['a symlink to an absolute path', () => [{ path: 'l', type: 'SymbolicLink', linkpath: '/etc' }], 'l'],
      ['a symlink that climbs out', () => [{ path: 'd/l', type: 'SymbolicLink', linkpath: '../../outside' }], 'd/l'],
      [
        'a symlink that climbs out through another symlink of the archive',
        () => [
          { path: 'd/s', type: 'SymbolicLink', linkpath: '..' },
          { path: 'l', type: 'SymbolicLink', linkpath: 'd/s/..' },
        ],
        'l',
      ],
      ['a FIFO', () => [{ path: 'fifo', type: 'FIFO' }], 'fifo'],
      ['a device', () => [{ path: 'tty', type: 'CharacterDevice' }], 'tty'],
      [
        'a symlink to /tmp, then a file through it',
        () => [
          { path: 'a', type: 'SymbolicLink', linkpath: os.tmpdir() },
          { path: `a/gantry-escape-${process.pid}`, type: 'File', body: 'escaped' },
        ],
        'a',
      ],
      [
        'a symlink inside the archive, then a file through it',
        () => [
          { path: 'real', type: 'Directory' },
          { path: 'a', type: 'SymbolicLink', linkpath: 'real' },
          { path: 'a/x', type: 'File', body: 'x' },
        ],
        'a/x',
      ],
    ];
    for (const [what, entries, named] of hostile) {
      it(what, async () => {
        const box = scratch('box');
        const outside = path.join(box, 'outside');
        fs.mkdirSync(outside);
        const list = entries(outside);
        const file = craft(box, list);
        const entry = named === 'ABS' ? path.join(outside, 'x') : named;
        await assertRefused(checkArchiveEntries(file), entry);
        const dest = path.join(box, 'dest');
        fs.mkdirSync(dest);
        await assertRefused(extractArchive(file, dest), entry);
        assert.deepEqual(fs.readdirSync(dest), [], 'nothing extracted');
        assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside');
        assert.equal(fs.existsSync(path.join(box, 'x')), false);
        assert.equal(fs.existsSync(path.join(os.tmpdir(), `gantry-escape-${process.pid}`)), false);
      });
    }
  });

  it('are not extracted through a symlink already in the destination', async () => {
    const ws = scratch('ws');
    fs.mkdirSync(path.join(ws, 'a'));
    fs.writeFileSync(path.join(ws, 'a', 'x'), 'x');
    const file = path.join(scratch('out'), 'a.tar.gz');
    await createArchive(ws, ['a/x'], file);
    const box = scratch('box');
    const outside = path.join(box, 'outside');
    fs.mkdirSync(outside);
    const dest = path.join(box, 'dest');
    fs.mkdirSync(dest);
    fs.symlinkSync(outside, path.join(dest, 'a'));
    await assertRefused(extractArchive(file, dest), 'a/x');
    assert.deepEqual(fs.readdirSync(outside), []);
  });

  it('that are not gzip-compressed tars are refused as such', async () => {
    const box = scratch('box');
    const plain = path.join(box, 'plain.tar.gz');
    fs.writeFileSync(plain, 'not an archive at all');
    await assert.rejects(checkArchiveEntries(plain), { code: 'GANTRY_E_INVALID_REQUEST' });
    const ws = workspace();
    const good = path.join(box, 'good.tar.gz');
    await createArchive(ws, ['blob.bin'], good);
    const truncated = path.join(box, 'truncated.tar.gz');
    const whole = fs.readFileSync(good);
    fs.writeFileSync(truncated, whole.subarray(0, whole.length >> 1));
    await assert.rejects(checkArchiveEntries(truncated), { code: 'GANTRY_E_INVALID_REQUEST' });
    const dest = path.join(box, 'dest');
    fs.mkdirSync(dest);
    await assert.rejects(extractArchive(truncated, dest), { code: 'GANTRY_E_INVALID_REQUEST' });
    assert.deepEqual(fs.readdirSync(dest), []);
  });
});
