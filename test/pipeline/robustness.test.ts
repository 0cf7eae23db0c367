// Whatever the input, the compiler answers with diagnostics that have positions, never throws,
// and never reports an internal error. Inputs: the fixtures, randomly damaged (fixed seed).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compilePipeline, memoryProjectFiles } from '../../src/pipeline/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/pipelines');
const INSERTS = ['-', ':', ' ', '\n', '[', '{', '"', "'", '*', '&', '!reference [a]', '$', 'needs: [x]', 'extends: .a', '  '];

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (name.endsWith('.yml')) out.push(p);
  }
  return out;
}

test('damaged pipelines never crash the compiler', () => {
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (const file of yamlFiles(ROOT)) {
    const text = readFileSync(file, 'utf8');
    for (let k = 0; k < 20; k++) {
      let t = text;
      for (let o = 1 + rnd(3); o > 0; o--) {
        const i = rnd(t.length + 1);
        const lines = t.split('\n');
        switch (rnd(4)) {
          case 0:
            t = t.slice(0, i) + t.slice(i + 1 + rnd(10));
            break;
          case 1:
            t = t.slice(0, i) + INSERTS[rnd(INSERTS.length)] + t.slice(i);
            break;
          case 2:
            lines.splice(rnd(lines.length), 1);
            t = lines.join('\n');
            break;
          default:
            lines.splice(rnd(lines.length), 0, lines[rnd(lines.length)]!);
            t = lines.join('\n');
        }
      }
      const res = compilePipeline('.gitlab-ci.yml', {
        variables: { CI_COMMIT_BRANCH: 'main' },
        changedFiles: null,
        files: memoryProjectFiles({ '.gitlab-ci.yml': t }),
      });
      if (res.ok !== false) continue;
      for (const e of res.errors) {
        assert.notEqual(e.code, 'GANTRY_E_COMPILER_BUG', `${e.message}\ninput:\n${t}`);
        assert.ok(e.location.line >= 1 && e.location.column >= 1, `bad position for ${e.code}`);
      }
    }
  }
});
