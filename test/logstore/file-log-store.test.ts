import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { isGantryError } from '../../src/domain/errors.js';
import { FILE_HEADER_SIZE, FileLogStore, RECORD_HEADER_SIZE } from '../../src/logstore/file-log-store.js';
import type { LogKey } from '../../src/logstore/log-store.js';
import { chunkOf, rng } from './helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-logs-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshStore = () => new FileLogStore(path.join(tmp, `s${n++}`));
const key: LogKey = { pipelineId: 7, jobId: 42, attempt: 1 };

function writeChunks(store: FileLogStore, k: LogKey, chunks: Buffer[], at0 = 1_000): Buffer {
  const w = store.openWriter(k);
  chunks.forEach((c, i) => w.append(c, at0 + i));
  w.close();
  return Buffer.concat(chunks);
}

describe('file log store', () => {
  it('random binary data in random chunk sizes reads back exactly, from the writer and from a fresh store', () => {
    const store = freshStore();
    const r = rng(11);
    const chunks: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const len = [1, 2, 15, 16, 17, 4096, 65_536, 100_000][r() % 8]!;
      const b = Buffer.allocUnsafe(len);
      for (let j = 0; j < len; j++) b[j] = r() & 0xff;
      chunks.push(b);
    }
    const w = store.openWriter(key);
    for (const c of chunks) w.append(c);
    const all = Buffer.concat(chunks);
    assert.equal(w.size, all.length);
    assert.ok(store.read(key).equals(all));
    assert.equal(w.close(), all.length);
    const other = new FileLogStore(store.root);
    assert.equal(other.size(key), all.length);
    assert.ok(other.read(key).equals(all));
  });

  it('NUL bytes, invalid UTF-8, carriage returns and a multi-megabyte line round-trip', () => {
    const store = freshStore();
    const longLine = Buffer.alloc(5 * 1024 * 1024, 'x');
    const chunks = [
      Buffer.from([0, 0, 0, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]),
      Buffer.from('progress 10%\rprogress 50%\rprogress 100%\r\n'),
      longLine,
      Buffer.from('\n\u0000tail\r'),
    ];
    const all = writeChunks(store, key, chunks);
    assert.ok(new FileLogStore(store.root).read(key).equals(all));
  });

  it('byte-range reads are exact at every record boundary and inside records', () => {
    const store = freshStore();
    const chunks = [3, 1, 5, 2, 8, 1, 13].map((len, i) => Buffer.alloc(len, 65 + i));
    const all = writeChunks(store, key, chunks);
    for (const s of [store, new FileLogStore(store.root)]) {
      for (let a = 0; a <= all.length; a++) {
        for (let b = a; b <= all.length + 2; b++) {
          assert.ok(s.read(key, a, b).equals(all.subarray(a, b)), `[${a}, ${b})`);
        }
        assert.ok(s.read(key, a).equals(all.subarray(a)));
      }
    }
    assert.equal(store.read(key, 10, 5).length, 0);
    assert.equal(store.read(key, 1_000).length, 0);
  });

  it('a small read from the middle of a large log does not read the whole file', () => {
    const store = freshStore();
    const w = store.openWriter(key);
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 800; i++) w.append(chunk); // 50 MiB
    w.close();
    const other = new FileLogStore(store.root);
    const readSync = fs.readSync;
    let bytesRead = 0;
    (fs as { readSync: typeof fs.readSync }).readSync = ((...args: Parameters<typeof fs.readSync>) => {
      const got = readSync(...args);
      bytesRead += got;
      return got;
    }) as typeof fs.readSync;
    try {
      assert.equal(other.read(key, 25_000_000, 25_000_100).length, 100);
    } finally {
      (fs as { readSync: typeof fs.readSync }).readSync = readSync;
    }
    assert.ok(bytesRead < 1024 * 1024, `read ${bytesRead} bytes`);
  });

  it('readChunks returns each chunk with its arrival time and offset', () => {
    const store = freshStore();
    const w = store.openWriter(key);
    w.append(Buffer.from('one\n'), 1_700_000_000_123.5);
    w.append(Buffer.from('two\n'), 1_700_000_000_456);
    const before = Date.now();
    w.append(Buffer.from('three\n'));
    const afterT = Date.now();
    w.close();
    const chunks = new FileLogStore(store.root).readChunks(key);
    assert.deepEqual(
      chunks.slice(0, 2).map((c) => [c.offset, c.at, c.data.toString()]),
      [
        [0, 1_700_000_000_123.5, 'one\n'],
        [4, 1_700_000_000_456, 'two\n'],
      ],
    );
    assert.equal(chunks[2]!.offset, 8);
    assert.ok(chunks[2]!.at >= before && chunks[2]!.at <= afterT);
    assert.deepEqual(
      store.readChunks(key, 5).map((c) => [c.offset, c.data.toString()]),
      [
        [5, 'wo\n'],
        [8, 'three\n'],
      ],
    );
  });

  it('a log that does not exist is empty', () => {
    const store = freshStore();
    assert.equal(store.exists(key), false);
    assert.equal(store.size(key), 0);
    assert.equal(store.read(key).length, 0);
    assert.deepEqual(store.readChunks(key), []);
  });

  it('empty appends write nothing and a log keeps growing across writers', () => {
    const store = freshStore();
    const w = store.openWriter(key);
    w.append(Buffer.alloc(0));
    assert.equal(w.size, 0);
    w.append(Buffer.from('abc'));
    assert.equal(w.close(), 3);
    assert.equal(store.exists(key), true);
    const w2 = store.openWriter(key);
    assert.equal(w2.size, 3);
    w2.append(Buffer.from('def'));
    w2.close();
    assert.equal(store.read(key).toString(), 'abcdef');
  });

  it('a log cannot have two writers in one process, and a closed writer refuses appends', () => {
    const store = freshStore();
    const w = store.openWriter(key);
    assert.throws(() => store.openWriter(key), (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_LOG');
    w.close();
    assert.throws(() => w.append(Buffer.from('x')), (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_LOG');
    store.openWriter(key).close();
  });

  it('a file that is not a Gantry log is refused, not overwritten', () => {
    const store = freshStore();
    const file = store.pathOf(key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'hello, I am a text file\n');
    assert.throws(() => store.openWriter(key), (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_LOG');
    assert.throws(() => store.read(key), (e: unknown) => isGantryError(e) && e.code === 'GANTRY_E_LOG');
    assert.equal(fs.readFileSync(file, 'utf8'), 'hello, I am a text file\n');
  });

  describe('recovery', () => {
    const chunks = [Buffer.from('first record\n'), Buffer.from('second\n'), Buffer.from('third, the torn one\n')];
    const whole2 = chunks[0]!.length + chunks[1]!.length;
    const fileEnd2 = FILE_HEADER_SIZE + 2 * RECORD_HEADER_SIZE + whole2;

    function setup(damage: (file: string) => void) {
      const store = freshStore();
      writeChunks(store, key, chunks);
      damage(store.pathOf(key));
      return store;
    }

    for (const cut of [1, RECORD_HEADER_SIZE - 1, RECORD_HEADER_SIZE, RECORD_HEADER_SIZE + 5]) {
      it(`a record torn ${cut} bytes in is cut, and appends continue after the last whole record`, () => {
        const store = setup((file) => fs.truncateSync(file, fileEnd2 + cut));
        assert.equal(new FileLogStore(store.root).size(key), whole2);
        assert.equal(new FileLogStore(store.root).read(key).toString(), 'first record\nsecond\n');
        const w = store.openWriter(key);
        assert.equal(w.size, whole2);
        assert.equal(fs.statSync(store.pathOf(key)).size, fileEnd2);
        w.append(Buffer.from('after\n'));
        w.close();
        assert.equal(new FileLogStore(store.root).read(key).toString(), 'first record\nsecond\nafter\n');
      });
    }

    it('a record whose checksum fails ends the log there, and the writer cuts it', () => {
      const store = setup((file) => {
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.from('X'), 0, 1, fileEnd2 + RECORD_HEADER_SIZE + 3);
        fs.closeSync(fd);
      });
      assert.equal(new FileLogStore(store.root).read(key).toString(), 'first record\nsecond\n');
      const w = store.openWriter(key);
      assert.equal(w.size, whole2);
      w.append(Buffer.from('again\n'));
      w.close();
      assert.equal(store.read(key).toString(), 'first record\nsecond\nagain\n');
    });

    it('a corrupted timestamp fails the checksum too', () => {
      const store = setup((file) => {
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.from([0x55]), 0, 1, fileEnd2 + 9);
        fs.closeSync(fd);
      });
      assert.equal(store.openWriter(key).close(), whole2);
    });

    it('corruption in the middle ends the stream there: nothing after it is trusted', () => {
      const store = setup((file) => {
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.from('Z'), 0, 1, FILE_HEADER_SIZE + RECORD_HEADER_SIZE + chunks[0]!.length + RECORD_HEADER_SIZE);
        fs.closeSync(fd);
      });
      assert.equal(new FileLogStore(store.root).read(key).toString(), 'first record\n');
      assert.equal(store.openWriter(key).close(), chunks[0]!.length);
    });

    it('a zero-filled tail (what an OS crash can leave) is cut', () => {
      const store = setup((file) => fs.appendFileSync(file, Buffer.alloc(100)));
      assert.equal(store.openWriter(key).close(), Buffer.concat(chunks).length);
    });

    it('a file torn inside its own header starts over empty', () => {
      const store = freshStore();
      const file = store.pathOf(key);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, Buffer.from('GLO'));
      const w = store.openWriter(key);
      w.append(Buffer.from('ok'));
      w.close();
      assert.equal(store.read(key).toString(), 'ok');
    });
  });

  it('a writer killed at a random moment leaves a prefix of what it wrote, with every synced byte', async () => {
    const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));
    for (let round = 0; round < 3; round++) {
      const root = path.join(tmp, `crash${round}`);
      const seed = 1234 + round;
      const proc = spawn(process.execPath, [child, root, String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (d: string) => (out += d));
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (out.includes('ready')) {
            clearInterval(t);
            resolve();
          }
        }, 2);
        proc.on('exit', () => reject(new Error(`child exited early: ${out}`)));
      });
      await new Promise((r) => setTimeout(r, 30 + Math.floor(Math.random() * 150)));
      proc.kill('SIGKILL');
      await new Promise((r) => proc.on('close', r));
      const synced = [...out.matchAll(/synced (\d+)\n/g)].map((m) => Number(m[1]));
      const lastSynced = synced.length ? synced[synced.length - 1]! : 0;

      const store = new FileLogStore(root);
      const w = store.openWriter({ pipelineId: 1, jobId: 1, attempt: 1 });
      const size = w.size;
      w.close();
      assert.ok(size >= lastSynced, `size ${size} < synced ${lastSynced}`);
      const got = store.read({ pipelineId: 1, jobId: 1, attempt: 1 });
      assert.equal(got.length, size);
      // Compare with the stream the child wrote, chunk by chunk.
      let off = 0;
      for (let k = 0; off < size; k++) {
        const c = chunkOf(seed, k);
        const part = got.subarray(off, off + c.length);
        assert.ok(part.equals(c.subarray(0, part.length)), `chunk ${k} differs`);
        // Whole records only: the log never ends inside a chunk.
        assert.equal(part.length, c.length, 'the log ends on a record boundary');
        off += c.length;
      }
    }
  });
});
