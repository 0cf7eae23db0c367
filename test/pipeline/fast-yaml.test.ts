// The fast YAML path must build exactly the tree the full parser builds, or decline.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Diagnostics } from '../../src/pipeline/diagnostics.js';
import { fastParseYaml } from '../../src/pipeline/fast-yaml.js';
import { parseYamlFull } from '../../src/pipeline/node.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/pipelines');

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

const SAMPLES: Record<string, string> = {
  scalars: 'a: 1\nb: -2\nc: 1.5\nd: .5\ne: 1e3\nf: true\ng: False\nh: ~\ni: null\nj:\nk: "q\\"x"\nl: \'it\'\'s\'\nm: 1h 30m\nn: v1.0\no: $A == "b"\np: 01\n',
  comments: '# top\na: b # trailing\n\n  # indented comment\nc:\n  - d # x\n  - "e" # y\n',
  nesting: 'job:\n  script:\n  - a\n  - b\n  rules:\n    - if: $X\n      when: manual\n    - when: always\n  variables:\n    A: "1"\n',
  flow: 'a: [x, "y", 1, true]\nb: {k: v, n: 2}\nc: []\nd: {}\ne: [ "true" ]\n',
  seqOfMaps: '- a: 1\n  b: 2\n-\n  c: 3\n- x\n-\n- y\n',
  urls: 'a: https://example.com/x\nb: "a: b"\nc: foo:bar\n',
  keys: '"quoted key": 1\n\'single\': 2\n3: three\n.hidden: x\n',
};

describe('fast YAML path', () => {
  const cases: [string, string][] = [
    ...yamlFiles(ROOT).map((f): [string, string] => [path.relative(ROOT, f), readFileSync(f, 'utf8')]),
    ...Object.entries(SAMPLES),
  ];
  let fast = 0;
  for (const [name, text] of cases) {
    test(name, () => {
      const got = fastParseYaml('f.yml', text);
      if (got === null) return;
      fast++;
      const want = parseYamlFull('f.yml', text, new Diagnostics());
      assert.deepStrictEqual(got, want);
    });
  }
  test('most fixtures take the fast path', () => {
    assert.ok(fast > cases.length * 0.7, `${fast} of ${cases.length}`);
  });
  test('declines what it does not handle', () => {
    for (const text of ['a: &x 1\nb: *x\n', 'a: |\n  x\n', 'a: !reference [b, c]\n', 'a:\n  b\n  c\n', 'a: [b\n', 'a: 1\na: 2\n', '<<: {a: 1}\n', 'a: "x\n  y"\n', 'a: b: c\n', 'a: 0x1F\n']) {
      assert.equal(fastParseYaml('f.yml', text), null, text);
    }
  });
});
