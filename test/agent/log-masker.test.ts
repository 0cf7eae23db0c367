// The agent's masker: a secret never leaves it, wherever the output is cut, and output that
// cannot be a secret is not held back.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogMasker } from '../../src/agent/remote/attempt-log.js';

const MASK = '[MASKED]';

/** What the masker must produce for the whole text at once: each secret line replaced, longest first. */
function expected(text: string, values: string[]): string {
  const lines = [...new Set(values.flatMap((v) => v.split(/\r?\n/)).filter((l) => l.length >= 4))].sort((a, b) => b.length - a.length);
  let out = text;
  for (const l of lines) out = out.split(l).join(MASK);
  return out;
}

function run(values: string[], pieces: Buffer[]): Buffer {
  const m = new LogMasker(values);
  return Buffer.concat([...pieces.map((p) => m.push(p)), m.flush()]);
}

const CASES: { values: string[]; text: string }[] = [
  { values: ['hunter22-pw'], text: 'login hunter22-pw ok; again:hunter22-pwhunter22-pw\nhunte' },
  { values: ['abab'], text: 'ababab abab aba ababa\n' },
  { values: ['s3cr3t-value', 'value-2'], text: 'x s3cr3t-value value-2 s3cr3t-valu\n' },
  { values: ['line-one-secret\nline-two-secret\r\nab'], text: 'a line-one-secret b\nline-two-secret\nab c\n' },
  { values: ['é-ünïcødé-✓'], text: 'pre é-ünïcødé-✓ post \u0000\uFFFD\n' },
];

describe('the log masker', () => {
  for (const { values, text } of CASES) {
    it(`${JSON.stringify(values)}: the output cut at every offset, and at every pair of offsets, is masked exactly as the whole`, () => {
      const bytes = Buffer.from(text);
      const want = expected(text, values);
      for (let i = 0; i <= bytes.length; i++) {
        assert.equal(run(values, [bytes.subarray(0, i), bytes.subarray(i)]).toString(), want, `cut at ${i}`);
        for (let j = i; j <= bytes.length; j++) {
          const out = run(values, [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]).toString();
          assert.equal(out, want, `cuts at ${i}, ${j}`);
        }
      }
      // One byte at a time.
      assert.equal(run(values, [...bytes].map((b) => Buffer.from([b]))).toString(), want);
    });
  }

  it('no piece it returns contains a secret, even one that straddles two pushes', () => {
    const secret = 'TOPSECRET-123';
    const m = new LogMasker([secret]);
    const outs: Buffer[] = [];
    for (let i = 0; i < secret.length; i++) outs.push(m.push(Buffer.from(`x${secret.slice(0, i)}`)), m.push(Buffer.from(`${secret.slice(i)}y\n`)));
    outs.push(m.flush());
    for (const o of outs) assert.ok(!o.toString().includes(secret));
    assert.ok(!Buffer.concat(outs).toString().includes(secret));
    assert.equal(Buffer.concat(outs).toString().split(MASK).length - 1, secret.length);
  });

  it('output that cannot start a secret is returned at once, not held back', () => {
    const m = new LogMasker(['TOPSECRET']);
    assert.equal(m.push(Buffer.from('progress 10%\r')).toString(), 'progress 10%\r');
    assert.equal(m.push(Buffer.from('waiting for TOP')).toString(), 'waiting for ');
    assert.equal(m.push(Buffer.from('ICS\n')).toString(), 'TOPICS\n');
  });

  it('values shorter than four characters are not masked, and no secret passes bytes through untouched', () => {
    assert.equal(run(['abc'], [Buffer.from('abc abc')]).toString(), 'abc abc');
    const bin = Buffer.from([0, 255, 254, 10, 13, 0x1b]);
    assert.deepEqual(run([], [bin]), bin);
    assert.deepEqual(run(['zzzz'], [bin]), bin);
  });
});
