// One attempt's log with its tools: live follow, search with next/previous, timestamps, line
// links (#L120, kept in the URL so they survive reload and can be shared), raw download, and
// folding sections. A line a link or the search goes to is shown even inside a folded section:
// the sections around it unfold.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { downloadFile, safeName } from '../api/download.js';
import { errorText } from '../api/client.js';
import { useTick } from '../components/time.js';
import { followLog, type LogEnd, type LogMode } from './live-log.js';
import { LogBuffer } from './log-buffer.js';
import { rowsOf } from './log-rows.js';
import type { LogSection } from './log-sections.js';
import { LogView } from './log-view.js';

const TIMES_KEY = 'gantry.log.timestamps';

/** `#L120` -> 119 (0-based); anything else -> null. */
export function lineOfHash(hash: string): number | null {
  const m = /^#L([1-9][0-9]*)$/.exec(hash);
  return m ? Number(m[1]) - 1 : null;
}

export interface LogPanelProps {
  jobId: number;
  jobName: string;
  attempt: number;
  /** Whether this attempt has ended (the job page knows from the API). */
  finished: boolean;
  hash: string;
  onEnd?(end: LogEnd | null): void;
}

export function LogPanel(p: LogPanelProps) {
  const buffer = useMemo(() => new LogBuffer(), [p.jobId, p.attempt]);
  const [version, setVersion] = useState(0);
  const [mode, setMode] = useState<LogMode | 'done'>('stream');
  const [error, setError] = useState<string | null>(null);
  const selected = lineOfHash(p.hash);
  const [follow, setFollow] = useState(!p.finished && selected === null);
  const [showTimes, setShowTimes] = useState(() => localStorage.getItem(TIMES_KEY) === '1');
  const [query, setQuery] = useState('');
  const [matches, setMatches] = useState<number[]>([]);
  const [current, setCurrent] = useState(-1);
  const [reveal, setReveal] = useState<{ line: number; seq: number } | null>(null);
  // Sections someone folded or unfolded; the others are as their markers say (collapsed=true).
  const [folds, setFolds] = useState(() => new Map<LogSection, boolean>());
  const finishedRef = useRef(p.finished);
  finishedRef.current = p.finished;
  const searchBox = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    let frame = 0;
    // Many chunks may arrive between two frames: draw once per frame.
    const redraw = () => {
      if (!frame) frame = requestAnimationFrame(() => ((frame = 0), setVersion(buffer.version)));
    };
    setMode('stream');
    setError(null);
    followLog({
      jobId: p.jobId,
      attempt: p.attempt,
      from: 0,
      isFinished: () => finishedRef.current,
      onBytes: (bytes, at) => {
        buffer.append(bytes, at);
        redraw();
      },
      onEnd: (end) => {
        buffer.end();
        setMode('done');
        redraw();
        p.onEnd?.(end);
      },
      onMode: setMode,
      onError: (err) => setError(errorText(err)),
      signal: abort.signal,
    });
    return () => {
      abort.abort();
      cancelAnimationFrame(frame);
    };
  }, [buffer]);

  const foldedIn = (m: Map<LogSection, boolean>, s: LogSection) => m.get(s) ?? s.collapsedByDefault;
  const isFolded = (s: LogSection) => foldedIn(folds, s);
  const rows = useMemo(() => rowsOf(buffer.sections.all, buffer.lineCount, isFolded), [version, folds, buffer]);
  const toggle = (s: LogSection, pinned: boolean) => {
    setFolds((m) => new Map(m).set(s, !foldedIn(m, s)));
    // Folded from its pinned header: the section's lines are gone from under the reader, so go to where it is.
    if (pinned) {
      setFollow(false);
      setReveal({ line: s.startLine, seq: Date.now() });
    }
  };
  /** Scrolls to `line`, unfolding what hides it. */
  const show = (line: number) => {
    setFolds((m) => {
      const around = buffer.sections.around(line).filter((s) => foldedIn(m, s));
      if (!around.length) return m;
      const next = new Map(m);
      for (const s of around) next.set(s, false);
      return next;
    });
    setFollow(false);
    setReveal({ line, seq: Date.now() });
  };

  // A #L link: select and show that line once the log has it.
  const revealed = useRef<string | null>(null);
  useEffect(() => {
    if (selected === null || selected >= buffer.lineCount || revealed.current === `${p.hash}/${p.attempt}`) return;
    revealed.current = `${p.hash}/${p.attempt}`;
    show(selected);
  }, [p.hash, version, buffer]);

  const runSearch = (q: string) => {
    const hits = buffer.search(q);
    setMatches(hits);
    const next = hits.length ? 0 : -1;
    setCurrent(next);
    if (next >= 0) show(hits[next]!);
  };
  useEffect(() => {
    const t = setTimeout(() => runSearch(query), 200);
    return () => clearTimeout(t);
  }, [query, buffer]);
  const step = (d: 1 | -1) => {
    if (!matches.length) return;
    const next = (current + d + matches.length) % matches.length;
    setCurrent(next);
    show(matches[next]!);
  };
  const matchSet = useMemo(() => new Set(matches), [matches]);

  const download = async () => {
    setError(null);
    try {
      await downloadFile(`/jobs/${p.jobId}/log?attempt=${p.attempt}`, `${safeName(p.jobName)}-job${p.jobId}-attempt${p.attempt}.log`);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      step(e.shiftKey ? -1 : 1);
    } else if (e.key === 'Escape') setQuery('');
  };

  // `/` puts the cursor in the search box, as on GitHub and GitLab.
  useEffect(() => {
    const onSlash = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (e.key !== '/' || (t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      e.preventDefault();
      searchBox.current?.focus();
    };
    window.addEventListener('keydown', onSlash);
    return () => window.removeEventListener('keydown', onSlash);
  }, []);

  const live = mode === 'stream' || mode === 'poll';
  // An open section's time runs while the attempt does (not while a finished log is read in).
  const running = live && !p.finished;
  const now = useTick(running && buffer.sections.openCount > 0);
  return (
    <section class="log-panel" aria-label="Log">
      <div class="log-tools">
        <div class="search" role="search">
          <input
            ref={searchBox}
            type="search"
            placeholder="Search the log  ( / )"
            aria-label="Search the log"
            value={query}
            onInput={(e) => setQuery(e.currentTarget.value)}
            onKeyDown={onKey}
          />
          <span class="count muted" aria-live="polite">
            {query ? (matches.length ? `${current + 1} / ${matches.length}` : 'no match') : ''}
          </span>
          <button type="button" class="icon" aria-label="Previous match" title="Previous match (Shift+Enter)" disabled={!matches.length} onClick={() => step(-1)}>
            ↑
          </button>
          <button type="button" class="icon" aria-label="Next match" title="Next match (Enter)" disabled={!matches.length} onClick={() => step(1)}>
            ↓
          </button>
        </div>
        <div class="toggles">
          <label class="check">
            <input
              type="checkbox"
              checked={showTimes}
              onChange={(e) => {
                setShowTimes(e.currentTarget.checked);
                localStorage.setItem(TIMES_KEY, e.currentTarget.checked ? '1' : '0');
              }}
            />{' '}
            Timestamps
          </label>
          <label class="check">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow
          </label>
          <button type="button" onClick={download}>
            Download raw
          </button>
          <span class={`live-dot ${live ? 'on' : ''}`} title={mode === 'poll' ? 'live (polling every second)' : mode === 'stream' ? 'live (stream)' : 'complete'}>
            {live ? (mode === 'poll' ? 'live · polling' : 'live') : `${buffer.lineCount.toLocaleString()} lines`}
          </span>
        </div>
      </div>
      {error ? (
        <div class="error-box" role="alert">
          {error}
        </div>
      ) : null}
      <LogView
        buffer={buffer}
        version={version}
        rows={rows}
        isFolded={isFolded}
        onToggle={toggle}
        live={running}
        now={now}
        showTimes={showTimes}
        follow={follow}
        onFollowChange={setFollow}
        selected={selected}
        matches={matchSet}
        current={current >= 0 ? (matches[current] ?? null) : null}
        reveal={reveal}
      />
    </section>
  );
}
