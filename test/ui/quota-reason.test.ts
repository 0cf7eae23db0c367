// The queue page's words for a job waiting for compute minutes (ui/queue/reason.ts, pure).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { minutes, reasonText } from '../../ui/queue/reason.js';

describe('the queue in words: compute minutes', () => {
  it('a project that spent its minutes says how many of how many, and what its running jobs hold', () => {
    assert.equal(
      reasonText({ code: 'quota', project: 'q', usedMinutes: 1, reservedMinutes: 0, totalMinutes: 1 }),
      'Waiting for compute minutes: project q has used 1.0 of its 1.0 minutes this month',
    );
    assert.equal(
      reasonText({ code: 'quota', project: 'web', usedMinutes: 0.9, reservedMinutes: 0.125, totalMinutes: 1 }),
      'Waiting for compute minutes: project web has used 0.9 of its 1.0 minutes this month, and its running jobs hold 0.125 more',
    );
    assert.deepEqual([minutes(12), minutes(0.25), minutes(1.0004)], ['12.0', '0.25', '1.0']);
  });
});
