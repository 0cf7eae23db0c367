// The agent's upload loop of one attempt's log (PROTOCOL.md §9), against a fake server: what it
// sends and how it waits.

import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AttemptLog, uploadAlone } from '../../src/agent/remote/attempt-log.js';
import type { ProtocolAnswer, ProtocolClient, RequestOptions } from '../../src/agent/remote/protocol-client.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-attempt-log-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A server that stores what it is sent, in order, and answers each upload after `delayMs`. */
function fakeServer(delayMs: number) {
  const stored: Buffer[] = [];
  let received = 0;
  let requests = 0;
  const client = {
    async request(_method: string, _path: string, opts: RequestOptions = {}): Promise<ProtocolAnswer> {
      requests++;
      await new Promise((r) => setTimeout(r, delayMs));
      const [, start, last] = /^bytes (\d+)-(\d+)\/\*$/.exec(opts.headers!['content-range']!)!.map(Number);
      if (start! > received) return { status: 416, headers: new Headers({ 'gantry-log-received': String(received) }), body: { error: { received } }, code: 'GANTRY_E_LOG_GAP' };
      if (last! + 1 > received) {
        stored.push(opts.bytes!.subarray(received - start!));
        received = last! + 1;
      }
      return { status: 200, headers: new Headers(), body: { received, cancel: false }, code: null };
    },
  } as unknown as ProtocolClient;
  return { client, stored, requests: () => requests };
}

describe('an attempt log', () => {
  it('uploads everything in order, batches what is printed while an upload is in flight, and leaves no listener behind on the long-lived signal', async () => {
    const server = fakeServer(2);
    const stop = new AbortController();
    const log = new AttemptLog(path.join(dir, 'a.log'), 1, 'tok', 1 << 20);
    uploadAlone(log, server.client, 1_000, stop.signal);
    const want: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const line = Buffer.from(`line ${i}\n`);
      want.push(line);
      log.append(line);
      // The uploader goes idle and waits again many times.
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    assert.deepEqual(await log.finish(), { kind: 'delivered' });
    assert.equal(Buffer.concat(server.stored).toString(), Buffer.concat(want).toString());
    assert.ok(server.requests() < 300, `lines printed during an upload go in the next one (${server.requests()} uploads for 300 lines)`);
    // Each wait used to add an abort listener to the agent's signal and never remove it.
    assert.ok(getEventListeners(stop.signal, 'abort').length <= 1, `${getEventListeners(stop.signal, 'abort').length} abort listeners left`);
    log.dispose();
  });
});
