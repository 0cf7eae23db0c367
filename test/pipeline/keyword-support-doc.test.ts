// docs/PIPELINE.md's keyword table is the compiler's: every keyword the compiler knows (run,
// ignored or refused) has a row, no row names one it does not know, and a row's support level
// agrees with what the compiler does with the keyword.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_KEYWORDS, GLOBAL_KEYWORDS, IGNORED_KEYWORDS, JOB_KEYWORDS, UNSUPPORTED_JOB_KEYWORDS } from '../../src/pipeline/keywords.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/PIPELINE.md');
const LEVELS = new Set(['full', 'partial', 'ignored', 'error']);

function rows(): Map<string, string> {
  const text = fs.readFileSync(DOC, 'utf8');
  const block = /<!-- keyword-support -->\n([\s\S]*?)<!-- \/keyword-support -->/.exec(text);
  assert.ok(block, 'docs/PIPELINE.md has the keyword-support table');
  const out = new Map<string, string>();
  for (const line of block[1]!.split('\n')) {
    const m = /^\| `([a-z_]+)` \| [^|]+ \| ([a-z]+) \|/.exec(line);
    if (!m) continue;
    assert.ok(!out.has(m[1]!), `${m[1]} has one row`);
    assert.ok(LEVELS.has(m[2]!), `${m[1]}: support "${m[2]}" is one of ${[...LEVELS].join(', ')}`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

test('docs/PIPELINE.md lists every keyword the compiler knows, each with the support the compiler gives it', () => {
  const doc = rows();
  const known = new Set<string>([...GLOBAL_KEYWORDS, ...JOB_KEYWORDS, ...DEFAULT_KEYWORDS, ...Object.keys(UNSUPPORTED_JOB_KEYWORDS), 'spec']);
  assert.deepEqual([...known].filter((k) => !doc.has(k)).sort(), [], 'keywords without a row');
  assert.deepEqual([...doc.keys()].filter((k) => !known.has(k)).sort(), [], 'rows for keywords the compiler does not know');
  for (const k of Object.keys(UNSUPPORTED_JOB_KEYWORDS)) assert.equal(doc.get(k), 'error', `${k} is refused by the compiler`);
  for (const k of Object.keys(IGNORED_KEYWORDS)) assert.equal(doc.get(k), 'ignored', `${k} is ignored by the compiler`);
  for (const [k, level] of doc) {
    if (level === 'ignored') assert.ok(k in IGNORED_KEYWORDS, `${k} is documented as ignored, but the compiler reads it`);
    if (level === 'error') assert.ok(k in UNSUPPORTED_JOB_KEYWORDS, `${k} is documented as an error, but the compiler accepts it`);
  }
});
