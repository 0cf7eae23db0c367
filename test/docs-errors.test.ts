import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { ERROR_CODES } from '../src/domain/errors.js';
import { ROOT } from './helpers/gantry.js';

it('docs/ERRORS.md documents every error code', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'ERRORS.md'), 'utf8');
  const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, []);
});
