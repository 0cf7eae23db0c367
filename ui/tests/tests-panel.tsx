// The Tests section of a pipeline page (GET /pipelines/:id/tests, docs/UI.md "Tests") and of a job
// page (GET /jobs/:id/tests: its latest attempt's): the summary line, then every case, failures
// first (the API's order), flaky passes marked, a search box and a status filter. A pipeline may
// have tens of thousands of cases, so the list is virtual: rows of one fixed height, only those in
// view (and a few around) in the DOM. A case's message and output open in the detail below the
// list: a row is a button that says whether it is the one shown.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { TestStatus, TestSummary, ViewCase } from '../../src/domain/test-reports.js';
import { summaryLine } from '../../src/domain/test-reports.js';
import { useApi } from '../api/use-api.js';
import { ErrorBox } from '../components/feedback.js';

interface TestsAnswer {
  summary: TestSummary;
  matched: number;
  cases: (ViewCase & { truncated?: boolean })[];
}

type Show = 'all' | 'failures' | 'flaky' | 'passed' | 'skipped';

/** Pixels per row (two lines); the list's height shows about twelve. */
const ROW = 44;
const VIEW = 528;
const OVERSCAN = 8;

/** The word each case shows beside its icon: status reads without colour. */
function statusWord(c: ViewCase): string {
  if (c.flaky) return 'flaky';
  return c.status === 'error' ? 'error' : c.status;
}
const GLYPH: Record<TestStatus | 'flaky', string> = { failed: '✗', error: '!', passed: '✓', skipped: '–', flaky: '~' };

export function formatMs(ms: number | null): string {
  if (ms === null) return '';
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

const fullName = (c: ViewCase) => [c.classname && c.classname !== c.suite ? c.classname : '', c.name].filter(Boolean).join(' › ');

function matches(c: ViewCase, show: Show, needle: string): boolean {
  if (show === 'failures' && c.status !== 'failed' && c.status !== 'error') return false;
  if (show === 'flaky' && !c.flaky) return false;
  if (show === 'passed' && c.status !== 'passed') return false;
  if (show === 'skipped' && c.status !== 'skipped') return false;
  if (needle === '') return true;
  return [c.suite, c.classname, c.name, c.file, c.jobName, c.message ?? ''].some((s) => s.toLowerCase().includes(needle));
}

/** Whose reports: a pipeline's (each job's latest attempt) or one job's (its latest attempt). */
export type TestsOf = { pipelineId: number } | { jobId: number };

/** `version` changes when the pipeline or job moves, so the reports are read again. */
export function TestsPanel({ of, version }: { of: TestsOf; version: string }) {
  const tests = useApi<TestsAnswer>('pipelineId' in of ? `/pipelines/${of.pipelineId}/tests` : `/jobs/${of.jobId}/tests`);
  const seen = useRef(version);
  useEffect(() => {
    if (seen.current !== version) tests.reload();
    seen.current = version;
  }, [version]);
  const [search, setSearch] = useState('');
  const [show, setShow] = useState<Show>('all');
  const [selected, setSelected] = useState<ViewCase | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const listRef = useRef<HTMLDivElement>(null);

  const all = tests.data?.cases ?? [];
  const needle = search.trim().toLowerCase();
  const shown = useMemo(() => (needle === '' && show === 'all' ? all : all.filter((c) => matches(c, show, needle))), [all, needle, show]);
  // The first failure is open to begin with: it is what a person came for.
  useEffect(() => {
    if (selected === null && all.length > 0 && (all[0]!.status === 'failed' || all[0]!.status === 'error')) setSelected(all[0]!);
  }, [all]);
  useEffect(() => {
    if (listRef.current) listRef.current.scrollTop = 0;
    setScrollTop(0);
  }, [needle, show]);

  if (tests.error) return <ErrorBox error={tests.error} />;
  if (!tests.data) return null;
  const s = tests.data.summary;
  if (s.total === 0) return null;

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((scrollTop + VIEW) / ROW) + OVERSCAN);
  const rows = shown.slice(first, last);
  const bad = s.failed + s.error;

  return (
    <section class="card tests" aria-labelledby="tests-heading">
      <h2 id="tests-heading">Tests</h2>
      <p class={`tests-summary ${bad > 0 ? 'st-failed' : s.flaky > 0 ? 'st-pending' : 'st-success'}`} data-testid="tests-summary">
        <strong>{summaryLine(s)}</strong>
        <span class="muted">
          {' '}
          · {s.total.toLocaleString('en-US')} tests in {formatMs(s.durationMs)}
          {s.unlisted > 0 ? ` · ${s.unlisted.toLocaleString('en-US')} past the limits counted, not listed` : ''}
        </span>
      </p>
      <div class="tests-tools">
        <label>
          Search tests{' '}
          <input type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} placeholder="name, suite, class, file or message" />
        </label>
        <label>
          Show{' '}
          <select value={show} onChange={(e) => setShow((e.target as HTMLSelectElement).value as Show)}>
            <option value="all">all</option>
            <option value="failures">failures and errors</option>
            <option value="flaky">flaky</option>
            <option value="passed">passed</option>
            <option value="skipped">skipped</option>
          </select>
        </label>
        <span class="muted" role="status">
          {shown.length.toLocaleString('en-US')} {shown.length === 1 ? 'test' : 'tests'} shown
        </span>
      </div>
      <div
        class="tests-list"
        ref={listRef}
        style={{ height: `${Math.min(VIEW, Math.max(shown.length, 1) * ROW)}px` }}
        onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}
        role="list"
        aria-label="Test cases, failures first"
      >
        <div style={{ height: `${shown.length * ROW}px`, position: 'relative' }}>
          {rows.map((c, i) => {
            const word = statusWord(c);
            const isSel = selected === c;
            return (
              <div role="listitem" key={`${first + i}`} class="tests-row" style={{ top: `${(first + i) * ROW}px`, height: `${ROW}px` }}>
                <button type="button" class={isSel ? 'selected' : ''} aria-pressed={isSel} aria-controls="test-detail" onClick={() => setSelected(isSel ? null : c)}>
                  <span class={`tests-status st-${c.flaky ? 'pending' : c.status === 'error' ? 'failed' : c.status}`}>
                    <span aria-hidden="true">{GLYPH[c.flaky ? 'flaky' : c.status]}</span> {word}
                  </span>
                  <span class="tests-name">
                    <span class="mono">{fullName(c)}</span>
                    <span class="muted tests-sub">
                      {c.suite ? `${c.suite} · ` : ''}
                      {c.jobName}
                      {c.message && (c.status === 'failed' || c.status === 'error') ? ` · ${c.message.split('\n', 1)[0]}` : ''}
                    </span>
                  </span>
                  <span class="tests-time mono">{formatMs(c.durationMs)}</span>
                </button>
              </div>
            );
          })}
        </div>
      </div>
      <div id="test-detail" class="tests-detail" aria-live="polite">
        {selected ? (
          <>
            <h3>
              {statusWord(selected)}: <span class="mono">{fullName(selected)}</span>
            </h3>
            <p class="muted">
              {selected.suite ? `suite ${selected.suite} · ` : ''}job {selected.jobName}, attempt {selected.attempt} · {selected.file}
              {selected.durationMs !== null ? ` · ${formatMs(selected.durationMs)}` : ''}
              {selected.flaky ? ' · failed in an earlier attempt of this job, passed in this one' : ''}
            </p>
            {selected.message ? <pre class="tests-message">{selected.message}</pre> : null}
            {selected.output ? (
              <details open={selected.status === 'failed' || selected.status === 'error'}>
                <summary>Output{selected.truncated ? ' (cut at 64 KiB)' : ''}</summary>
                <pre class="tests-output">{selected.output}</pre>
              </details>
            ) : null}
          </>
        ) : (
          <p class="muted">Choose a test to see its message and output.</p>
        )}
      </div>
    </section>
  );
}
