// An agent's isolation in words: its limits (the server's words, src/views/limits-text.ts), its
// last check. Pure, so the words are tested in Node (test/ui/log-rendering.test.ts) and the agents
// page stays a table.

import type { IsolationCheck } from '../api/types.js';

export { limitsText, memoryText } from '../../src/views/limits-text.js';

/** "check passed", "check failed: 2 of 30 probes", "no isolation check". */
export function checkText(c: IsolationCheck | null | undefined): string {
  if (!c) return 'no isolation check';
  if (c.passed) return 'check passed';
  const failed = c.probes.filter((p) => !p.ok).length;
  return failed === 0 ? 'check failed' : `check failed: ${failed} of ${c.probes.length} probes`;
}
