// Logs end to end with real `gantry server` and `gantry agent` processes on loopback, on SQLite
// and PostgreSQL: kill -9 of the server during heavy output with viewers attached, masking of a
// project's secrets printed in pieces, `gantry logs -f` across a network break (a loopback proxy
// stopped and started), the size limit (and the agent's spool bounded by it), and a server
// killed in the middle of a compaction.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { GANTRY_BIN } from '../helpers/gantry.js';
import { testPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/processes.js';
import { Fleet, fleetsOn, freePort, TEST_LEASE_MS } from '../fleet/fleet-harness.js';
import { logObject, SseViewer } from './log-harness.js';

async function compacted(f: Fleet, jobId: number): Promise<void> {
  const until = Date.now() + 20_000;
  while ((await logObject(f, jobId)) === null) {
    if (Date.now() > until) throw new Error(`job ${jobId}'s log was not compacted`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A viewer that reconnects with Last-Event-ID whenever its stream breaks, until the end event. */
async function followLog(url: () => string, token: string, jobId: number): Promise<{ bytes: Buffer; reconnects: number }> {
  let bytes = Buffer.alloc(0);
  let last = '0';
  for (let reconnects = 0; ; reconnects++) {
    const v = new SseViewer(`${url()}/api/v1/jobs/${jobId}/log/stream`, { authorization: `Bearer ${token}`, 'last-event-id': last });
    await v.done;
    bytes = Buffer.concat([bytes, v.bytes]);
    last = v.lastId ?? last;
    if (v.end) return { bytes, reconnects };
    if (reconnects > 200) throw new Error('the viewer never saw the end');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `gantry logs -f` as a child process; resolves with its stdout and stderr when it exits. */
function logsFollow(server: string, home: string, pipelineId: number, job: string) {
  const child = spawn(process.execPath, [GANTRY_BIN, 'logs', String(pipelineId), job, '-f'], {
    env: { ...process.env, GANTRY_HOME: home, GANTRY_SERVER: server },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err })),
  );
  return { child, done };
}

function logsSuite(name: string, db: () => Promise<string | null>): void {
  describe(`logs through the fleet (${name})`, () => {
    const make = fleetsOn(db);

    it('kill -9 of the server during heavy output: the stored log holds every byte the script printed; reconnecting viewers and logs -f get exactly the stored log; it is compacted and reads the same', async () => {
      const f = await make({
        '.gantry.yml': `printer:
  script:
    - 'for i in $(seq 1 40); do seq $((i*10000)) $((i*10000+4999)); printf "\\000\\377\\r progress $i\\r"; head -c 2000 /dev/urandom; sleep 0.08; done > "$DIR/out"'
    - cat "$DIR/out"
    - 'for i in $(seq 1 40); do seq $((i*10000)) $((i*10000+4999)); printf "\\000\\377\\r progress $i\\r"; sleep 0.08; done | tee "$DIR/out2"'
`,
      });
      const server = await f.startServer();
      await f.startAgent();
      await f.project();
      const dir = f.sharedDir('out');
      const p = await f.trigger('demo', { DIR: dir });
      const jobId = p.jobs[0]!.id;
      const viewer = followLog(() => f.url, f.adminToken, jobId);
      const cli = logsFollow(f.url, f.sb.home, p.id, 'printer');
      await f.waitPipeline(p.id, (x) => x.jobs[0]!.status === 'running');
      await waitFor('the second loop to print', () => fs.existsSync(path.join(dir, 'out2')) && fs.statSync(path.join(dir, 'out2')).size > 50_000, 30_000);
      await f.kill(server);
      await new Promise((r) => setTimeout(r, TEST_LEASE_MS / 2));
      await f.startServer();
      const done = await f.waitPipeline(p.id, undefined, 60_000);
      assert.equal(done.status, 'success');
      const stored = await f.log(jobId);
      const printed1 = fs.readFileSync(path.join(dir, 'out'));
      const printed2 = fs.readFileSync(path.join(dir, 'out2'));
      assert.ok(stored.indexOf(printed1) >= 0, 'the first output is in the log, whole');
      assert.ok(stored.indexOf(printed2) >= 0, 'the output printed across the kill is in the log, whole');
      const seen = await viewer;
      assert.ok(seen.reconnects >= 1, 'the viewer had to reconnect');
      assert.ok(seen.bytes.equals(stored), 'the viewer saw exactly the stored log');
      const c = await cli.done;
      assert.equal(c.code, 0, c.stderr);
      assert.ok(c.stdout.equals(stored), `logs -f printed exactly the stored log (${c.stdout.length} vs ${stored.length})`);
      // Compaction after the end: the same bytes from the object.
      await compacted(f, jobId);
      assert.ok((await f.log(jobId)).equals(stored));
      const tail = await fetch(`${f.url}/api/v1/jobs/${jobId}/log`, { headers: { authorization: `Bearer ${f.adminToken}`, range: 'bytes=-1000' } });
      assert.ok(Buffer.from(await tail.arrayBuffer()).equals(stored.subarray(stored.length - 1000)));
    });

    it("a project's masked values never reach the stored, streamed or followed log, printed whole, in pieces cut at every offset, or line by line", async () => {
      const f = await make({
        '.gantry.yml': `masker:
  script:
    - 'echo "whole: $TOKEN"'
    - 'S="$TOKEN"; for i in $(seq 1 $((\${#S}-1))); do printf "%s" "\${S:0:$i}"; sleep 0.01; printf "%s\\n" "\${S:$i}"; done'
    - 'printf "%s\\n" "$CERT"'
    - 'printf "%s\\n" "$CERT" | while IFS= read -r l; do printf "%s" "\${l:0:3}"; sleep 0.01; printf "%s\\n" "\${l:3}"; done'
`,
      });
      await f.startServer();
      await f.startAgent();
      await f.project();
      const token = 'tok-9f8e7d6c5b4a';
      const cert = 'BEGIN-line-one-secret\nsecond-line-secret\nEND-third-line-x';
      for (const [key, value] of [['TOKEN', token], ['CERT', cert]] as const) {
        assert.equal((await f.api('PUT', `/projects/demo/variables/${key}`, { value, masked: true })).status, 204);
      }
      const p = await f.trigger();
      const jobId = p.jobs[0]!.id;
      const viewer = followLog(() => f.url, f.adminToken, jobId);
      const cli = logsFollow(f.url, f.sb.home, p.id, 'masker');
      const done = await f.waitPipeline(p.id);
      assert.equal(done.status, 'success');
      const stored = await f.log(jobId);
      const streamed = (await viewer).bytes;
      const followed = (await cli.done).stdout;
      for (const [what, bytes] of [['stored', stored], ['streamed', streamed], ['followed', followed]] as const) {
        const text = bytes.toString();
        for (const secret of [token, ...cert.split('\n')]) assert.ok(!text.includes(secret), `${what} log shows ${secret}`);
        assert.match(text, /whole: \[MASKED\]/);
        assert.equal(text.split('[MASKED]').length - 1, 1 + (token.length - 1) + 3 + 3, `${what}: every print is masked`);
      }
      assert.ok(streamed.equals(stored) && followed.equals(stored));
      // The agent's steps are sections with offsets and durations.
      const sections = (await f.api<{ sections: { name: string; endOffset: number | null; durationMs: number | null }[] }>('GET', `/jobs/${jobId}/log/sections`)).body.sections;
      assert.deepEqual(
        sections.map((x) => x.name),
        ['get_sources', 'prepare_script', 'step_script'],
      );
      assert.ok(sections.every((x) => x.endOffset !== null && x.durationMs !== null));
    });
  });
}

logsSuite('sqlite', async () => null);

const postgres = await testPostgres('logs through the fleet on PostgreSQL', 2);
if (postgres) logsSuite('postgres', async () => `${postgres.url}?options=${encodeURIComponent(`-c search_path=${await postgres.freshSchema()}`)}`);

describe('logs through the fleet (network breaks, limits, crashes)', () => {
  const fleets: Fleet[] = [];
  after(async () => {
    for (const f of fleets) await f.teardown();
  });

  it('gantry logs -f resumes after the network breaks (a loopback proxy stopped and started) without repeating or losing a byte', async () => {
    // The job ticks until the test says stop (at most 30 s), so a slow machine cannot let it end before the cut.
    const f = new Fleet({ '.gantry.yml': 'ticker:\n  script:\n    - \'for i in $(seq 1 600); do echo "tick $i"; head -c 500 /dev/urandom; echo; [ -s "$STOP" ] && break; sleep 0.05; done\'\n' });
    fleets.push(f);
    await f.startServer();
    await f.startAgent();
    await f.project();
    // A TCP proxy in this process: stopping it cuts every connection and refuses new ones.
    const proxyPort = await freePort();
    const conns = new Set<net.Socket>();
    const proxy = net.createServer((c) => {
      const up = net.connect(f.port, '127.0.0.1');
      conns.add(c).add(up);
      c.pipe(up).pipe(c);
      const drop = () => {
        c.destroy();
        up.destroy();
      };
      c.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
    });
    const listen = () => new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', () => r()));
    await listen();
    try {
      const stop = f.sharedFile('stop');
      const p = await f.trigger('demo', { STOP: stop });
      const cli = logsFollow(`http://127.0.0.1:${proxyPort}`, f.sb.home, p.id, 'ticker');
      let seen = '';
      cli.child.stdout.on('data', (c: Buffer) => (seen += c.toString('latin1')));
      const ticks = () => Math.max(0, ...[...seen.matchAll(/tick (\d+)\n/g)].map((m) => Number(m[1])));
      const untilTick = async (n: number) => {
        for (const end = Date.now() + 20_000; ticks() < n; await new Promise((r) => setTimeout(r, 20))) {
          if (Date.now() > end) throw new Error(`logs -f never printed tick ${n}: ${seen.slice(-300)}`);
        }
      };
      await untilTick(5);
      await new Promise<void>((r) => {
        proxy.close(() => r());
        for (const c of conns) c.destroy();
      });
      await new Promise((r) => setTimeout(r, 1_000));
      const beforeResume = ticks();
      await listen();
      await untilTick(beforeResume + 10);
      fs.writeFileSync(stop, 'stop');
      const c = await cli.done;
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stderr, /resum|retrying/);
      const stored = await f.log(p.jobs[0]!.id);
      assert.ok(c.stdout.equals(stored), `logs -f printed exactly the stored log (${c.stdout.length} vs ${stored.length})`);
      assert.ok(ticks() >= beforeResume + 10, `ticks printed after the proxy came back: ${ticks()} after ${beforeResume}`);
    } finally {
      proxy.close();
      for (const c of conns) c.destroy();
    }
  });

  it('the size limit (GANTRY_MAX_LOG_BYTES): the head and the tail are kept with a note, also across a server outage while the job prints', async () => {
    const f = new Fleet({ '.gantry.yml': 'big:\n  script:\n    - \'for i in $(seq 1 30); do seq -f "line %06g ........................................" $((i*2000)) $((i*2000+1999)); sleep 0.1; done\'\n' });
    fleets.push(f);
    const env = { GANTRY_MAX_LOG_BYTES: '200000' };
    const server = await f.startServer({ env });
    await f.startAgent();
    await f.project();
    const p = await f.trigger();
    await f.waitPipeline(p.id, (x) => x.jobs[0]!.status === 'running');
    await new Promise((r) => setTimeout(r, 800));
    await f.kill(server);
    await new Promise((r) => setTimeout(r, TEST_LEASE_MS / 2));
    await f.startServer({ env });
    assert.equal((await f.waitPipeline(p.id, undefined, 60_000)).status, 'success');
    const log = (await f.log(p.jobs[0]!.id)).toString('latin1');
    assert.ok(log.length < 200_000 + 2 * 1_048_576, `the log keeps about the limit: ${log.length}`);
    assert.match(log, /^[\s\S]*Running with gantry[\s\S]*line 002000 /, 'the head');
    assert.match(log, /line 061999 [^\n]*\n[\s\S]*Job succeeded/, 'the tail');
    assert.match(log, /\[gantry\] \d+ bytes of output dropped here/);
    assert.ok(!log.includes('line 030000 '), 'the middle is gone');
  });

  it("a job printing 20x the size limit keeps the agent's spool file within head + tail while it runs, and the stored log is the head, the note and the tail", async () => {
    // 40 x 100,000 bytes of numbered 50-byte lines: 4 MB against a limit of 200,000.
    const f = new Fleet({ '.gantry.yml': `flood:\n  script:\n    - 'for i in $(seq 0 39); do seq -f "line %07g ${'.'.repeat(36)}" $((i*2000+1)) $((i*2000+2000)); sleep 0.05; done'\n` });
    fleets.push(f);
    const limit = { headBytes: 100_000, tailBytes: 100_000 };
    await f.startServer({ env: { GANTRY_MAX_LOG_BYTES: '200000' } });
    const agent = await f.startAgent();
    await f.project();
    const p = await f.trigger();
    const spoolDir = path.join(agent.home, 'spool');
    let biggest = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      for (const name of fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir) : []) {
        try {
          biggest = Math.max(biggest, fs.statSync(path.join(spoolDir, name)).size);
          samples++;
        } catch {
          // removed at the attempt's end
        }
      }
    }, 10);
    try {
      assert.equal((await f.waitPipeline(p.id, undefined, 60_000)).status, 'success');
    } finally {
      clearInterval(sampler);
    }
    assert.ok(samples >= 20, `the spool was looked at while the job ran (${samples} times)`);
    assert.ok(biggest > limit.headBytes && biggest <= limit.headBytes + limit.tailBytes, `the spool file reached ${biggest} bytes`);

    const log = (await f.log(p.jobs[0]!.id)).toString('latin1');
    const note = /\n\[gantry\] (\d+) bytes of output dropped here \(bytes (\d+) to (\d+)\)[^\n]*\n/.exec(log);
    assert.ok(note, 'one note where the middle was');
    assert.equal(note.index, limit.headBytes, 'the head is exactly headBytes: no upload straddles its end');
    assert.equal(Number(note[2]), limit.headBytes);
    const tail = log.slice(note.index + note[0].length);
    assert.equal(Number(note[1]), Number(note[3]) + 1 - limit.headBytes);
    assert.ok(tail.length >= limit.tailBytes && tail.length < limit.tailBytes + 2 * 1_048_576, `the tail holds ${tail.length} bytes`);
    // Where the tail's lines are in the stream, from where the first line is: 50 bytes a line.
    const lines = [...tail.matchAll(/line (\d{7}) \.{36}\n/g)];
    const numbers = lines.map((m) => Number(m[1]));
    const first = log.indexOf('line 0000001 ');
    assert.equal(Number(note[3]) + 1 + lines[0]!.index - first, (numbers[0]! - 1) * 50, 'the tail is at its offsets in the stream');
    assert.equal(numbers.at(-1), 80_000, 'the tail ends with the last line printed');
    assert.ok(numbers.every((n, i) => i === 0 || n === numbers[i - 1]! + 1), 'the tail is whole: every line after the note follows the one before');
    assert.match(tail, /Job succeeded/);
    assert.match(log.slice(0, note.index), /^[\s\S]*Running with gantry[\s\S]*line 0000001 /, 'the head');
  });

  it("a full disk under the agent's spool (its writes fail with ENOSPC) fails the job as runner_system_failure and stops its script; the agent lives on and runs the next job", async () => {
    const f = new Fleet({ '.gantry.yml': 'stuck:\n  script:\n    - echo hello; sleep 60\n' });
    fleets.push(f);
    await f.startServer();
    const agent = await f.startAgent();
    await f.project();
    // The first attempt's spool file is /dev/full, whose writes fail as on a full disk. (The
    // agent empties its spool directory when it starts, so this comes after.)
    const spoolDir = path.join(agent.home, 'spool');
    await waitFor('the spool directory', () => fs.existsSync(spoolDir), 10_000);
    fs.symlinkSync('/dev/full', path.join(spoolDir, '1.log'));
    const started = Date.now();
    const p = await f.trigger();
    const done = await f.waitPipeline(p.id, undefined, 30_000);
    assert.equal(done.status, 'failed');
    assert.deepEqual([done.jobs[0]!.status, done.jobs[0]!.failureReason], ['failed', 'runner_system_failure']);
    assert.ok(Date.now() - started < 20_000, 'the script was stopped, not waited for');
    assert.equal(agent.child.exitCode, null, 'the agent is still running');
    // The next job has a spool that works.
    const next = await f.waitPipeline((await f.trigger()).id, (x) => x.jobs[0]!.status === 'running', 30_000);
    for (const until = Date.now() + 10_000; !(await f.log(next.jobs[0]!.id)).includes('hello'); ) {
      assert.ok(Date.now() < until, 'the next job printed');
      await new Promise((r) => setTimeout(r, 100));
    }
    await f.api('POST', `/pipelines/${next.id}/cancel`);
  });

  it('a server killed in the middle of a compaction (after the object is stored) comes back and finishes it; the log reads the same', async () => {
    const f = new Fleet({ '.gantry.yml': 'short:\n  script:\n    - seq 1 20000\n' });
    fleets.push(f);
    const server = await f.startServer({ env: { GANTRY_TEST_CRASH_AT: 'log.compaction-stored' } });
    await f.startAgent();
    await f.project();
    const p = await f.trigger();
    const jobId = p.jobs[0]!.id;
    await waitFor('the server to die in its compaction', () => server.child.exitCode !== null || server.child.signalCode !== null, 30_000);
    assert.equal(server.child.signalCode, 'SIGKILL');
    assert.equal(await logObject(f, jobId), null, 'the rows are still the log');
    await f.startServer();
    await f.waitPipeline(p.id);
    const log = await f.log(jobId);
    assert.match(log.toString(), /\n1\n2\n3\n[\s\S]*\n20000\n/);
    await compacted(f, jobId);
    assert.ok((await f.log(jobId)).equals(log));
  });
});
