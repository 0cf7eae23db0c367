// The log viewer's pure parts, in Node: ANSI colours across lines, carriage returns, UTF-8 split
// across chunks, line times, search, sections and folding, and the DAG layout. The browser tests
// cover the rest.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAnsiLine, plainText } from '../../ui/log/ansi.js';
import { LogBuffer } from '../../ui/log/log-buffer.js';
import { freshBytes } from '../../ui/log/log-offsets.js';
import { RowMap, rowsOf } from '../../ui/log/log-rows.js';
import { bodyLines, type LogSection } from '../../ui/log/log-sections.js';
import { layoutDag } from '../../ui/dag/layout.js';
import type { Job } from '../../ui/api/types.js';
import { SseParser, type SseEvent } from '../../ui/api/sse-parser.js';
import { reasonJob, reasonText } from '../../ui/queue/reason.js';
import { checkText, limitsText, memoryText } from '../../ui/agents/isolation-words.js';

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

const start = (t: number, name: string, opts = '') => `\x1b[0Ksection_start:${t}:${name}${opts}\r\x1b[0K`;
const end = (t: number, name: string) => `\x1b[0Ksection_end:${t}:${name}\r\x1b[0K`;

describe('log sections', () => {
  it("reads the agent's sections (an end glued to the next line) and a script's nested ones, collapsed=true included", () => {
    const b = new LogBuffer();
    const log =
      `${start(100, 'get_sources')}Getting source\n` + // 0
      `${end(101, 'get_sources')}Running with gantry\n` + // 1: after the section
      `${start(101, 'step_script')}Executing "step_script"\n` + // 2
      `$ build\n` + // 3
      `${start(102, 'build', '[collapsed=true]')}\x1b[1mBuilding\x1b[0m\n` + // 4
      `compiling\n` + // 5
      `${start(103, 'inner')}Inner\n` + // 6
      `inner work\n` + // 7
      `${end(104, 'inner')}\n` + // 8: only the end marker
      `${end(107, 'build')}\n` + // 9: only the end marker
      `after build\n` + // 10
      `${end(108, 'step_script')}Job succeeded\n`; // 11
    // Byte by byte: a marker cut anywhere is found once, when its line is complete.
    for (const byte of enc(log)) b.append(new Uint8Array([byte]), 1);
    const byName = (n: string) => b.sections.all.find((s) => s.name === n)!;
    assert.deepEqual(
      b.sections.all.map((s) => [s.name, s.depth, s.startLine, s.endLine, s.endLineBlank, s.collapsedByDefault, s.finishedAt! - s.startedAt]),
      [
        ['get_sources', 0, 0, 0, false, false, 1000],
        ['step_script', 0, 2, 10, false, false, 7000],
        ['build', 1, 4, 9, true, true, 5000],
        ['inner', 2, 6, 8, true, false, 1000],
      ],
    );
    assert.equal(byName('inner').parent, byName('build'));
    assert.equal(b.sections.headerAt(4), byName('build'));
    assert.deepEqual(b.sections.around(7).map((s) => s.name), ['step_script', 'build', 'inner']);
    assert.deepEqual(b.sections.around(4).map((s) => s.name), ['step_script']);
    // The markers are not drawn, nor searched.
    assert.equal(b.shown(1), 'Running with gantry');
    assert.equal(plainText(b.shown(4)), 'Building');
    assert.deepEqual(b.search('section'), []);
    assert.deepEqual(b.search('building'), [4]);
    assert.equal(bodyLines(byName('build'), b.lineCount), 4);
  });

  it('an open section runs to the end of the log; its marker is read once its line is complete, or the log ends', () => {
    const b = new LogBuffer();
    b.append(enc(`${start(1, 'slow')}Slow\nwork\n${start(2, 'tail')}Tail`), 1);
    assert.deepEqual(b.sections.all.map((s) => [s.name, s.endLine]), [['slow', null]]);
    assert.equal(bodyLines(b.sections.all[0]!, b.lineCount), 2);
    // A marker still arriving is not drawn as text.
    const c = new LogBuffer();
    c.append(enc(`done\n\x1b[0Ksection_st`), 1);
    assert.equal(c.shown(1), '');
    b.end();
    assert.deepEqual(b.sections.all.map((s) => [s.name, s.startLine, s.endLine]), [['slow', 0, null], ['tail', 2, null]]);
  });
});

describe('folded rows', () => {
  it('maps rows to lines around hidden ranges, and a hidden line to the row before it', () => {
    const m = new RowMap(12, [[6, 8], [2, 5], [3, 4], [10, 20]]);
    assert.equal(m.rowCount, 5);
    assert.deepEqual([0, 1, 2, 3, 4].map((r) => m.lineOf(r)), [0, 1, 5, 8, 9]);
    assert.deepEqual([0, 1, 5, 8, 9].map((l) => m.rowOf(l)), [0, 1, 2, 3, 4]);
    assert.equal(m.rowOf(3), 1);
    assert.equal(m.rowOf(7), 2);
    assert.equal(m.isHidden(4), true);
    assert.equal(m.isHidden(5), false);
    const none = new RowMap(1_000_000, []);
    assert.equal(none.rowCount, 1_000_000);
    assert.equal(none.lineOf(999_999), 999_999);
  });

  it('hides folded bodies and blank end lines, nested folds inside open ones', () => {
    const b = new LogBuffer();
    b.append(enc(`${start(1, 'a')}A\n1\n${start(1, 'b', '[collapsed=true]')}B\n2\n${end(2, 'b')}\n3\n${end(3, 'a')}\nafter\n`), 1);
    const shown = (fold: (s: LogSection) => boolean) => {
      const rows = rowsOf(b.sections.all, b.lineCount, fold);
      return Array.from({ length: rows.rowCount }, (_, r) => rows.lineOf(r));
    };
    assert.deepEqual(shown((s) => s.collapsedByDefault), [0, 1, 2, 5, 7]);
    assert.deepEqual(shown(() => false), [0, 1, 2, 3, 5, 7]);
    assert.deepEqual(shown((s) => s.name === 'a'), [0, 7]);
  });
});

describe('the pipeline graph layout', () => {
  const job = (id: number, name: string, stage: string, needs: string[] | null): Job => ({
    id, name, stage, needs, status: 'created', allowFailure: false, allowFailureExitCodes: null, when: 'on_success', attempts: 0, exitCode: null, failureReason: null, startedAt: null, finishedAt: null, scheduledAt: null, environment: null, coverage: null, trigger: false, downstream: null, downstreamError: null,
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

  it('says why a job needs a sandboxed agent, and whether none is online or all are busy', () => {
    assert.equal(
      reasonText({ code: 'no_sandbox_agent', requirement: 'untrusted', tags: [] }),
      'Needs a sandboxed agent (pipeline from a fork): no sandboxed agent with a passing isolation check is online',
    );
    assert.equal(
      reasonText({ code: 'no_sandbox_agent', requirement: 'project', tags: ['linux'] }),
      'Needs a sandboxed agent (the project requires the sandbox): no sandboxed agent with a passing isolation check and the tags linux is online',
    );
    assert.equal(
      reasonText({ code: 'sandbox_agents_busy', requirement: 'network', agents: 1 }),
      'Needs a sandboxed agent (network none is enforced only by the sandbox): the one sandboxed agent with a passing isolation check is busy',
    );
    assert.equal(
      reasonText({ code: 'sandbox_agents_busy', requirement: 'untrusted', agents: 3 }),
      'Needs a sandboxed agent (pipeline from a fork): all 3 sandboxed agents with a passing isolation check are busy',
    );
  });
});

describe("the agents page's words for isolation", () => {
  it('shows limits in MiB or GiB, processes and CPUs, and a check as passed or failed with its failed probes', () => {
    assert.deepEqual([memoryText(512 * 2 ** 20), memoryText(1.5 * 2 ** 30), memoryText(4 * 2 ** 30), memoryText(100)], ['512 MiB', '1.5 GiB', '4 GiB', '100 bytes']);
    assert.equal(limitsText({ memoryBytes: 2 ** 30, pids: 64, cpus: 1 }), '1 GiB memory · 64 processes · 1 CPU');
    assert.equal(limitsText({ memoryBytes: null, pids: null, cpus: 0.5 }), '0.5 CPUs');
    assert.equal(limitsText({ memoryBytes: null, pids: null, cpus: null }), 'no limits');
    const probe = { area: 'files' as const, probe: 'p', expected: 'denied', observed: 'denied', ok: true };
    assert.equal(checkText(null), 'no isolation check');
    assert.equal(checkText({ passed: true, checkedAt: '2025-01-01T00:00:00Z', probes: [probe] }), 'check passed');
    assert.equal(checkText({ passed: false, checkedAt: '2025-01-01T00:00:00Z', probes: [probe, { ...probe, ok: false }] }), 'check failed: 1 of 2 probes');
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
