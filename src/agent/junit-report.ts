// Reads a job's `artifacts:reports:junit` files into one bounded TestReport (src/domain/test-reports.ts),
// on the agent, after the job: the files are the job's, so they are hostile. Each file is streamed
// through saxes (a non-validating parser that reads a DOCTYPE but never expands an entity it
// declares, so a "billion laughs" file is an undefined-entity error, not gigabytes), and nothing
// past the limits is kept in memory. A malformed file is a warning with the parser's line:column;
// the cases it gave are dropped, the job's status is not changed (GitLab's rule).

import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { SaxesParser } from 'saxes';
import { collectPaths } from './collect-paths.js';
import { addToCounts, emptyCounts, TEST_REPORT_LIMITS, type TestCase, type TestReport, type TestStatus } from '../domain/test-reports.js';

export type ReportLimits = { [K in keyof typeof TEST_REPORT_LIMITS]: number };

export interface ReadReports {
  report: TestReport;
  /** One line each, for the job's log: a missing pattern, a malformed or oversized file. */
  warnings: string[];
}

/** A string bounded while it is appended to: text past `max` characters is counted, not kept. */
class Bounded {
  private parts: string[] = [];
  private length = 0;
  cut = false;
  constructor(private readonly max: number) {}
  add(s: string): void {
    if (this.length >= this.max) {
      if (s.length > 0) this.cut = true;
      return;
    }
    const room = this.max - this.length;
    if (s.length > room) {
      this.parts.push(s.slice(0, room));
      this.length = this.max;
      this.cut = true;
    } else {
      this.parts.push(s);
      this.length += s.length;
    }
  }
  get text(): string {
    return this.parts.join('');
  }
  get empty(): boolean {
    return this.length === 0;
  }
}

const cut = (s: string, max: number): [string, boolean] => (s.length > max ? [s.slice(0, max), true] : [s, false]);

function seconds(v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number(v.trim().replace(/,/g, ''));
  // A duration over a year is a broken file, not a test.
  return Number.isFinite(n) && n >= 0 && n < 365 * 86400 ? Math.round(n * 1e6) / 1e3 : null;
}

/** The report being built: cases listed within the limits, every case counted. */
class Collector {
  readonly cases: TestCase[] = [];
  counts = emptyCounts();
  unlisted = 0;
  files = 0;
  private bytes = 2; // "[]"
  constructor(readonly limits: ReportLimits) {}

  add(c: TestCase): void {
    addToCounts(this.counts, c.status, c.durationMs);
    if (this.cases.length >= this.limits.cases) {
      this.unlisted++;
      return;
    }
    let size = Buffer.byteLength(JSON.stringify(c)) + 1;
    if (this.bytes + size > this.limits.reportBytes && c.output !== null) {
      // Over the report's budget: the output goes first, the case (its name, status, message) stays if it fits.
      c.output = null;
      c.truncated = true;
      size = Buffer.byteLength(JSON.stringify(c)) + 1;
    }
    if (this.bytes + size > this.limits.reportBytes) {
      this.unlisted++;
      return;
    }
    this.bytes += size;
    this.cases.push(c);
  }

  mark() {
    return { cases: this.cases.length, counts: { ...this.counts }, unlisted: this.unlisted, bytes: this.bytes };
  }

  /** Forgets what a file gave since `m` (the file was malformed). */
  rollback(m: ReturnType<Collector['mark']>): void {
    this.cases.length = m.cases;
    this.counts = m.counts;
    this.unlisted = m.unlisted;
    this.bytes = m.bytes;
  }
}

interface OpenCase {
  suite: string;
  classname: string;
  name: string;
  durationMs: number | null;
  status: TestStatus;
  message: string | null;
  failure: Bounded;
  out: Bounded;
  err: Bounded;
}

/** Where text goes: the failure's body, system-out, system-err, or nowhere. */
type Sink = 'failure' | 'out' | 'err' | null;

/** Parses one file's bytes into `into`; throws with `line:column: message` when it is malformed. */
/** The file's bytes in pieces, at most `max` of them (a job's process may still be writing it). */
async function* chunksOf(fh: fs.promises.FileHandle, max: number): AsyncGenerator<Buffer> {
  const buf = Buffer.alloc(256 * 1024);
  let read = 0;
  while (read < max) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, max - read), read);
    if (bytesRead === 0) return;
    read += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

async function parseFile(stream: AsyncIterable<Buffer>, file: string, into: Collector): Promise<void> {
  const L = into.limits;
  const parser = new SaxesParser({ position: true });
  let failure: Error | null = null;
  parser.on('error', (e) => {
    // saxes' message already starts with line:column.
    failure ??= e;
    throw e;
  });
  const suites: string[] = [];
  let current: OpenCase | null = null;
  let sink: Sink = null;
  /** Depth of elements inside a case that are not read (Surefire's rerunFailure, properties...). */
  let depthInCase = 0;

  parser.on('opentag', (tag) => {
    const a = tag.attributes as Record<string, string>;
    if (!current) {
      if (tag.name === 'testsuite') suites.push(a.name ?? '');
      else if (tag.name === 'testcase') {
        current = {
          suite: cut(suites.filter((s) => s !== '').join(' › '), L.name)[0],
          classname: cut(a.classname ?? a.class ?? '', L.name)[0],
          name: cut(a.name ?? '', L.name)[0],
          durationMs: seconds(a.time),
          status: 'passed',
          message: null,
          failure: new Bounded(L.output),
          out: new Bounded(L.output),
          err: new Bounded(L.output),
        };
        depthInCase = 0;
        sink = null;
      }
      return;
    }
    depthInCase++;
    if (depthInCase !== 1) return;
    const c: OpenCase = current;
    switch (tag.name) {
      case 'failure':
      case 'error': {
        const status: TestStatus = tag.name === 'failure' ? 'failed' : 'error';
        // A case with both keeps the first (pytest: a failure, then an error in its teardown).
        if (c.status === 'passed' || c.status === 'skipped') {
          c.status = status;
          c.message = a.message ?? null;
        }
        sink = 'failure';
        break;
      }
      case 'skipped':
        if (c.status === 'passed') {
          c.status = 'skipped';
          c.message = a.message ?? null;
        }
        sink = null;
        break;
      case 'system-out':
        sink = 'out';
        break;
      case 'system-err':
        sink = 'err';
        break;
      default:
        sink = null;
    }
  });
  const onText = (t: string) => {
    if (current && sink && depthInCase >= 1) current[sink].add(t);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', (tag) => {
    if (!current) {
      if (tag.name === 'testsuite') suites.pop();
      return;
    }
    if (depthInCase > 0) {
      depthInCase--;
      if (depthInCase === 0) sink = null;
      return;
    }
    // The testcase itself closes.
    const c: OpenCase = current;
    current = null;
    const failureText = c.failure.text.trim();
    let message = c.message;
    if (message === null && failureText !== '' && c.status !== 'passed') message = failureText.split('\n', 1)[0]!;
    const parts: string[] = [];
    if (failureText !== '') parts.push(failureText);
    if (!c.out.empty && c.out.text.trim() !== '') parts.push(`--- system-out ---\n${c.out.text.trimEnd()}`);
    if (!c.err.empty && c.err.text.trim() !== '') parts.push(`--- system-err ---\n${c.err.text.trimEnd()}`);
    const [output, outputCut] = cut(parts.join('\n'), L.output);
    const [msg, msgCut] = message === null ? [null, false] : cut(message, L.message);
    const tc: TestCase = {
      suite: c.suite,
      classname: c.classname,
      name: c.name,
      file: cut(file, L.name)[0],
      status: c.status,
      durationMs: c.durationMs,
      message: msg,
      output: output === '' ? null : output,
    };
    if (outputCut || msgCut || c.failure.cut || c.out.cut || c.err.cut) tc.truncated = true;
    into.add(tc);
  });

  try {
    // A character's bytes may straddle two reads: the decoder keeps them for the next.
    const decoder = new StringDecoder('utf8');
    for await (const chunk of stream) parser.write(decoder.write(chunk));
    parser.write(decoder.end());
    parser.close();
  } catch (e) {
    throw failure ?? e;
  }
  if (failure) throw failure;
}

/**
 * Reads the report files `patterns` name (globs, relative to the workspace `root`). Symlinks are
 * not followed and nothing outside the workspace is read: the agent may be able to read files the
 * job's user cannot (its token), and a report's text reaches the API.
 */
export async function readJunitReports(root: string, patterns: readonly string[], limits: ReportLimits = TEST_REPORT_LIMITS): Promise<ReadReports> {
  const warnings: string[] = [];
  const into = new Collector(limits);
  const files = new Set<string>();
  for (const p of patterns) {
    let found: string[];
    try {
      found = collectPaths(root, [p]);
    } catch (e) {
      warnings.push(`WARNING: artifacts:reports:junit ${JSON.stringify(p)}: ${(e as Error).message}`);
      continue;
    }
    if (found.length === 0) warnings.push(`WARNING: artifacts:reports:junit ${JSON.stringify(p)}: no file matches`);
    for (const f of found) files.add(f);
  }
  const realRoot = fs.realpathSync(root);
  let n = 0;
  for (const rel of [...files].sort()) {
    if (++n > limits.files) {
      warnings.push(`WARNING: ${rel}: skipped, a job reads at most ${limits.files} JUnit report files`);
      continue;
    }
    const abs = path.join(realRoot, rel);
    let fh: fs.promises.FileHandle;
    try {
      // The file's directory must be the workspace's (collectPaths checked the pattern, not
      // every match of a glob), and the file itself no symlink (O_NOFOLLOW).
      const dir = fs.realpathSync(path.dirname(abs));
      if (dir !== realRoot && !dir.startsWith(realRoot + path.sep)) throw new Error('it is outside the project directory');
      fh = await fs.promises.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symlink' : (e as Error).message;
      warnings.push(`WARNING: ${rel}: not read as a JUnit report: ${why}`);
      continue;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        warnings.push(`WARNING: ${rel}: not read as a JUnit report: not a regular file`);
        continue;
      }
      if (st.size > limits.fileBytes) {
        warnings.push(`WARNING: ${rel}: not read as a JUnit report: ${st.size} bytes, the limit is ${limits.fileBytes}`);
        continue;
      }
      const mark = into.mark();
      try {
        await parseFile(chunksOf(fh, limits.fileBytes), rel, into);
        into.files++;
      } catch (e) {
        into.rollback(mark);
        warnings.push(`WARNING: ${rel}:${(e as Error).message.replace(/\.$/, '')}: not a valid JUnit XML file, its tests are not counted`);
      }
    } finally {
      await fh.close();
    }
  }
  return { report: { counts: into.counts, unlisted: into.unlisted, files: into.files, cases: into.cases }, warnings };
}
