// The log viewer's pure parts, in Node: ANSI colours across lines, carriage returns, UTF-8 split
// across chunks, line times, search, and the DAG layout. The browser tests cover the rest.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAnsiLine, plainText } from '../../ui/log/ansi.js';
import { LogBuffer } from '../../ui/log/log-buffer.js';
import { freshBytes } from '../../ui/log/log-offsets.js';
import { layoutDag } from '../../ui/dag/layout.js';
import type { Job } from '../../ui/api/types.js';
import { SseParser, type SseEvent } from '../../ui/api/sse-parser.js';
import { reasonJob, reasonText } from '../../ui/queue/reason.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('ANSI colours in a log line', () => {
  it('turns SGR codes into segments and drops other escapes', () => {
    const { segments, end } = parseAnsiLine('a\x1b[1;31mred\x1b[0m b\x1b[2K\x1b]0;title\x07c', null);
    assert.deepEqual(
      segments.map((s) => [s.text, s.sgr?.fg ?? null, s.sgr?.bold ?? false]),
      [
        ['a', null, false],
        ['red', 'p1', true],
        [' bc', null, false],
      ],
    );
    assert.equal(end, null);
  });

  it('reads 256-colour and truecolour codes', () => {
    const [seg256] = parseAnsiLine('\x1b[38;5;208mx', null).segments;
    const [segRgb] = parseAnsiLine('\x1b[48;2;1;2;3my', null).segments;
    assert.equal(seg256!.sgr!.fg, 'rgb(255,135,0)');
    assert.equal(segRgb!.sgr!.bg, 'rgb(1,2,3)');
  });

  it('keeps a colour across an erase-line escape, turns off one attribute of two, reads the colon form', () => {
    const { segments, end } = parseAnsiLine('\x1b[1;4;32mA\x1b[2KB\x1b[24mC\x1b[38:5:208mD', null);
    assert.deepEqual(
      segments.map((s) => [s.text, s.sgr?.fg ?? null, s.sgr?.bold ?? false, s.sgr?.underline ?? false]),
      [
        ['AB', 'p2', true, true],
        ['C', 'p2', true, false],
        ['D', 'rgb(255,135,0)', true, false],
      ],
    );
    assert.equal(end?.fg, 'rgb(255,135,0)');
  });

  it('starts a line from the state the previous one ended in, bright and truecolour included', () => {
    const { end } = parseAnsiLine('\x1b[3;7;91;48;2;10;20;30mx', null);
    // Inverse: anser swaps the colours for drawing.
    assert.deepEqual(end, { fg: 'rgb(10,20,30)', bg: 'p9', bold: false, dim: false, italic: true, underline: false, inverse: true });
    const next = parseAnsiLine('still\x1b[23m plain-ish', end);
    assert.deepEqual(next.segments[0]!.sgr, end);
    assert.equal(next.segments[1]!.sgr!.italic, false);
    assert.equal(next.segments[1]!.sgr!.fg, 'rgb(10,20,30)');
  });

  it('keeps what a terminal would show after a carriage return', () => {
    assert.equal(plainText('progress 10%\rprogress 100%'), 'progress 100%');
    assert.equal(plainText('windows line\r'), 'windows line');
  });
});

describe('the log buffer', () => {
  it('carries a colour left open at the end of a line into the next', () => {
    const b = new LogBuffer();
    b.append(enc('\x1b[32mgreen starts\nstill green\x1b[0m\nplain\n'), 1);
    assert.equal(b.lineCount, 3);
    assert.equal(b.startState(1)?.fg, 'p2');
    assert.equal(parseAnsiLine(b.line(1), b.startState(1)).segments[0]!.sgr!.fg, 'p2');
    assert.equal(b.startState(2), null);
  });

  it('decodes a character split across two chunks, and stamps each line with its first byte', () => {
    const b = new LogBuffer();
    const bytes = enc('héllo\nwörld');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of é
    b.append(bytes.subarray(0, cut), 100);
    b.append(bytes.subarray(cut), 200);
    assert.equal(b.line(0), 'héllo');
    assert.equal(b.line(1), 'wörld');
    assert.equal(b.bytes, bytes.length);
    assert.equal(b.arrival(0), 100);
    assert.equal(b.arrival(1), 200);
  });

  it('finds lines by their visible text, case-insensitively', () => {
    const b = new LogBuffer();
    b.append(enc('one\n\x1b[31mERROR\x1b[0m: two\nthree error\n'), 1);
    assert.deepEqual(b.search('error'), [1, 2]);
    assert.deepEqual(b.search('31m'), []);
  });
});

describe('the pipeline graph layout', () => {
  const job = (id: number, name: string, stage: string, needs: string[] | null): Job => ({
    id, name, stage, needs, status: 'created', allowFailure: false, when: 'on_success', attempts: 0, exitCode: null, failureReason: null, startedAt: null, finishedAt: null,
  });

  it('puts stages in columns, draws an edge per need, and sits a job near what it needs', () => {
    const l = layoutDag([job(1, 'a', 'build', null), job(2, 'b', 'build', null), job(3, 'x', 'test', ['b']), job(4, 'y', 'test', ['a'])]);
    assert.deepEqual(l.stages.map((s) => s.name), ['build', 'test']);
    const at = (name: string) => l.nodes.find((n) => n.job.name === name)!;
    assert.equal(at('x').column, 1);
    // y needs a (row 0), x needs b (row 1): y goes first.
    assert.equal(at('y').row, 0);
    assert.equal(at('x').row, 1);
    assert.equal(l.edges.length, 2);
  });
});

describe('the event-stream parser', () => {
  it('splits events across chunk boundaries, keeps ids, skips comments, joins data lines', () => {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    p.push(': keep-alive\n\nevent: log\nid: 12\r');
    p.push('\ndata: {"offset":0,');
    p.push('"b64":"aGk="}\n\nevent: end\ndata: a\ndata: b\n\n');
    assert.deepEqual(got, [
      { event: 'log', id: '12', data: '{"offset":0,"b64":"aGk="}' },
      { event: 'end', id: '12', data: 'a\nb' },
    ]);
  });
});

describe('the queue page\'s words', () => {
  it('says why a job waits, and names the job a resource group waits on', () => {
    assert.equal(reasonText({ code: 'no_agent', tags: ['gpu', 'linux'] }), 'No online agent has the tags gpu, linux');
    assert.equal(reasonText({ code: 'no_agent', tags: [] }), 'No agent is online');
    assert.equal(reasonText({ code: 'project_max_running', limit: 2, running: 2 }), 'Project limit reached: 2 of 2 running');
    assert.equal(reasonText({ code: 'agents_busy', agents: 1 }), 'The one matching agent is busy');
    assert.equal(reasonText({ code: 'agents_busy', agents: 3 }), 'All 3 matching agents are busy');
    assert.deepEqual(reasonJob({ code: 'resource_group_busy', group: 'prod', heldByJobId: 7 }), { label: 'held by', jobId: 7 });
    assert.equal(reasonJob({ code: 'ready' }), null);
  });
});

describe('live log offsets', () => {
  const b = (t: string) => new TextEncoder().encode(t);
  const text = (u: Uint8Array) => new TextDecoder().decode(u);

  it('keeps only the bytes a viewer does not hold when a resumed stream repeats some', () => {
    assert.equal(freshBytes(10, b('abcde'), 5), null);
    const f = freshBytes(7, b('abcde'), 5)!;
    assert.deepEqual([text(f.bytes), f.held], ['cde', 10]);
  });

  it('a hole of the size limit moves the viewer to its end (the event id), its note shown whole', () => {
    const note = b('[gantry] 1000 bytes of output dropped here\n');
    const f = freshBytes(100, note, 100, 1100)!;
    assert.deepEqual([text(f.bytes), f.held], [text(note), 1100]);
    // The next bytes after the hole are new, not mistaken for a repeat.
    assert.deepEqual(text(freshBytes(f.held, b('tail'), 1100)!.bytes), 'tail');
  });
});
