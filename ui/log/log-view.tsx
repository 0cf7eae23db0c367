// The log, virtualized: only the lines in view (and a few around) are in the DOM, each a fixed
// LINE_H high, so a million-line log scrolls like a short one. Browsers cap an element's height
// (Firefox near 17.9M px), so past MAX_SCROLL_PX the scrollbar maps onto the log proportionally.
//
// Rows are not lines: folded sections hide theirs (log-rows.ts). The view scrolls in rows, and
// labels each with its line number, so numbers and #L links mean the same folded or not.
//
// Following the tail: while `follow` is on, each change scrolls to the bottom; a scroll by the
// user that leaves the bottom turns it off, and scrolling back to the bottom turns it on again.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { formatDuration } from '../components/time.js';
import { parseAnsiLine, type Segment, type Sgr } from './ansi.js';
import type { LogBuffer } from './log-buffer.js';
import type { RowMap } from './log-rows.js';
import { bodyLines, type LogSection } from './log-sections.js';

export const LINE_H = 20;
const MAX_SCROLL_PX = 8_000_000;
const OVERSCAN = 20;
/** Section headers pinned at the top at most (the rest of a deeper nest scrolls). */
const MAX_PINNED = 3;

export interface LogViewProps {
  buffer: LogBuffer;
  /** buffer.version when it was last changed: a new value redraws. */
  version: number;
  rows: RowMap;
  isFolded(s: LogSection): boolean;
  /** `pinned`: from the copy of its header pinned at the top of the view. */
  onToggle(s: LogSection, pinned: boolean): void;
  /** The attempt is running: an open section's time runs (to `now`). */
  live: boolean;
  now: number;
  showTimes: boolean;
  follow: boolean;
  onFollowChange(follow: boolean): void;
  /** 0-based line picked by a #L link. */
  selected: number | null;
  /** 0-based lines that match the search, and the current one. */
  matches: ReadonlySet<number>;
  current: number | null;
  /** Scroll so this 0-based line is in view (the caller unfolds what hid it); `seq` changes to ask again for the same line. */
  reveal: { line: number; seq: number } | null;
}

function sgrClass(s: Sgr): string {
  let c = '';
  // Colours come already swapped under inverse (ansi.ts).
  const { fg, bg } = s;
  if (fg && fg.startsWith('p')) c += ` fg-${fg}`;
  if (bg && bg.startsWith('p')) c += ` bg-${bg}`;
  if (s.bold) c += ' b';
  if (s.dim) c += ' d';
  if (s.italic) c += ' i';
  if (s.underline) c += ' u';
  return c;
}

function sgrStyle(s: Sgr): Record<string, string> | undefined {
  const { fg, bg } = s;
  const style: Record<string, string> = {};
  if (fg && !fg.startsWith('p')) style.color = fg;
  if (bg && !bg.startsWith('p')) style.background = bg;
  return Object.keys(style).length ? style : undefined;
}

const clock = (ms: number) => {
  const d = new Date(ms);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
};

function Segments({ segments }: { segments: Segment[] }) {
  return (
    <>
      {segments.map((s, k) =>
        s.sgr ? (
          <span key={k} class={sgrClass(s.sgr)} style={sgrStyle(s.sgr)}>
            {s.text}
          </span>
        ) : (
          s.text
        ),
      )}
    </>
  );
}

/** The markers give whole seconds: a section that started and ended within one shows "< 1s". */
function sectionTime(s: LogSection, live: boolean, now: number): { text: string; title: string } | null {
  const started = new Date(s.startedAt).toLocaleTimeString([], { hour12: false });
  if (s.finishedAt !== null) {
    const ms = s.finishedAt - s.startedAt;
    return { text: ms < 1000 ? '< 1s' : formatDuration(ms), title: `${started} to ${new Date(s.finishedAt).toLocaleTimeString([], { hour12: false })}` };
  }
  if (!live) return null;
  return { text: formatDuration(now - s.startedAt), title: `running since ${started}` };
}

export function LogView(p: LogViewProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  const programmatic = useRef(false);
  const n = p.buffer.lineCount;
  const rowCount = p.rows.rowCount;
  const total = rowCount * LINE_H;
  const spacer = Math.min(total, MAX_SCROLL_PX);
  // scrollTop in [0, spacer - height] covers content in [0, total - height].
  const ratio = spacer > view.height ? Math.max(1, (total - view.height) / (spacer - view.height)) : 1;
  const contentTop = view.top * ratio;

  const scrollToContent = (y: number) => {
    const el = scroller.current;
    if (!el) return;
    programmatic.current = true;
    el.scrollTop = Math.max(0, y / ratio);
  };

  const measure = () => {
    const el = scroller.current;
    if (el) setView({ top: el.scrollTop, height: el.clientHeight });
  };

  useEffect(() => {
    const el = scroller.current!;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Follow the tail: after each change of the log, straight to the bottom.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!p.follow || !el) return;
    if (el.scrollTop + el.clientHeight < el.scrollHeight - 1) {
      programmatic.current = true;
      el.scrollTop = el.scrollHeight;
    }
    measure();
  }, [p.follow, p.version, spacer]);

  useLayoutEffect(() => {
    if (!p.reveal) return;
    const el = scroller.current;
    if (!el) return;
    const y = p.rows.rowOf(p.reveal.line) * LINE_H;
    // Leave it where it is if already in view; else put it a third of the way down.
    if (y < contentTop || y + LINE_H > contentTop + view.height) scrollToContent(y - view.height / 3);
    measure();
  }, [p.reveal?.line, p.reveal?.seq]);

  const onScroll = () => {
    const el = scroller.current!;
    measure();
    if (programmatic.current) {
      programmatic.current = false;
      return;
    }
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
    if (p.follow && !atBottom) p.onFollowChange(false);
    else if (!p.follow && atBottom && rowCount > 0) p.onFollowChange(true);
  };

  // A header's text toggles it too, as on GitLab, unless the click ended a text selection.
  const clickedHeader = (s: LogSection, pinned: boolean) => {
    if (window.getSelection()?.isCollapsed !== false) p.onToggle(s, pinned);
  };

  const digits = String(Math.max(n, 1)).length;
  /** Line `i` drawn at `top` px; a pinned copy of a header is hidden from assistive technology (the real one is in the log). */
  const row = (i: number, top: number, pinned = false) => {
    const { segments } = parseAnsiLine(p.buffer.shown(i), p.buffer.startState(i));
    const at = p.showTimes ? p.buffer.arrival(i) : null;
    const section = p.buffer.sections.headerAt(i);
    const cls =
      `log-line${section ? ' sec-head' : ''}${pinned ? ' pinned' : ''}` +
      `${i === p.selected ? ' selected' : ''}${p.matches.has(i) ? ' match' : ''}${i === p.current ? ' current' : ''}`;
    let head = null;
    let tail = null;
    if (section) {
      const folded = p.isFolded(section);
      const inside = bodyLines(section, n);
      const title = segments.length ? segments.map((s) => s.text).join('') : section.name;
      const time = sectionTime(section, p.live, p.now);
      head = (
        <button
          type="button"
          class="fold"
          style={section.depth ? { marginLeft: `${section.depth * 2}ch` } : undefined}
          aria-expanded={!folded}
          aria-label={`${title.trim() || section.name} (section ${section.name})`}
          title={folded ? 'Show this section' : 'Fold this section'}
          tabIndex={pinned ? -1 : undefined}
          onClick={() => p.onToggle(section, pinned)}
          disabled={inside === 0}
        >
          {folded ? '▸' : '▾'}
        </button>
      );
      tail = (
        <span class="sec-meta">
          {folded && inside > 0 ? <span class="sec-lines">{`${inside.toLocaleString()} line${inside === 1 ? '' : 's'}`}</span> : null}
          {time ? (
            <span class={`sec-time${section.finishedAt === null ? ' running' : ''}`} title={time.title}>
              {time.text}
            </span>
          ) : null}
        </span>
      );
    }
    return (
      <div
        key={pinned ? `pin-${i}` : i}
        class={cls}
        style={{ top: `${top}px` }}
        id={i === p.selected && !pinned ? `line-${i + 1}` : undefined}
        aria-hidden={pinned ? 'true' : undefined}
      >
        <a class="ln" href={`#L${i + 1}`} style={{ width: `${digits + 1}ch` }} aria-label={`line ${i + 1}`} tabIndex={pinned ? -1 : undefined}>
          {i + 1}
        </a>
        {p.showTimes ? <span class="ts">{at === null ? '' : clock(at)}</span> : null}
        {head}
        <span class="lt" onClick={section ? () => clickedHeader(section, pinned) : undefined}>
          {section && !segments.length ? <span class="sec-name">{section.name}</span> : <Segments segments={segments} />}
        </span>
        {tail}
      </div>
    );
  };

  const topRow = Math.floor(contentTop / LINE_H);
  const first = Math.max(0, topRow - OVERSCAN);
  const last = Math.min(rowCount, Math.ceil((contentTop + view.height) / LINE_H) + OVERSCAN);
  const rows = [];
  for (let r = first; r < last; r++) rows.push(row(p.rows.lineOf(r), view.top + (r * LINE_H - contentTop)));
  // The headers of the sections the top of the view is in stay pinned there, as GitHub's steps
  // do: deep in a section, a reader sees where they are and can fold it from there.
  const pins: LogSection[] = [];
  while (pins.length < MAX_PINNED && topRow + pins.length < rowCount) {
    const slot = topRow + pins.length;
    const next = p.buffer.sections.around(p.rows.lineOf(slot)).find((s) => !pins.includes(s));
    if (!next || p.rows.rowOf(next.startLine) >= slot) break;
    pins.push(next);
  }
  pins.forEach((s, k) => rows.push(row(s.startLine, view.top + k * LINE_H, true)));

  return (
    <div class="log" ref={scroller} onScroll={onScroll} tabIndex={0} role="log" aria-label="Job log" aria-live="off">
      <div class="log-spacer" style={{ height: `${spacer}px` }}>
        {rows}
      </div>
      {n === 0 ? <div class="log-empty muted">No output yet.</div> : null}
    </div>
  );
}
