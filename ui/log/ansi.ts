// ANSI SGR colours for job logs. A colour set on one line may carry over to the next (a tool that
// colours a whole block), so a line is parsed from the state its previous line ended in; the log
// buffer (log-buffer.ts) keeps that state for each line that starts coloured. Other escape
// sequences (cursor moves, erase line, OSC titles) are dropped, as a browser cannot replay them.

export interface Sgr {
  /** 'p0'..'p15' (the theme's palette, see styles.css) or a CSS colour (256-colour and truecolour). */
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
}

export interface Segment {
  text: string;
  sgr: Sgr | null;
}

const PLAIN: Sgr = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };

// CSI sequences (ESC [ params final), OSC (ESC ] ... BEL or ST), and two-byte escapes.
const ESCAPES = /\x1b\[([0-9;:?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;

function color256(n: number): string {
  if (n < 16) return `p${n}`;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const c = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${c(Math.floor(i / 36))},${c(Math.floor(i / 6) % 6)},${c(i % 6)})`;
}

function isPlain(s: Sgr): boolean {
  return !s.fg && !s.bg && !s.bold && !s.dim && !s.italic && !s.underline && !s.inverse;
}

/** Applies one SGR parameter list (`1;31`, `38;5;208`, `` = reset) to a state. */
function applySgr(state: Sgr | null, params: string): Sgr | null {
  const s: Sgr = { ...(state ?? PLAIN) };
  const codes = params === '' ? [0] : params.split(/[;:]/).map((x) => (x === '' ? 0 : Number(x)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) Object.assign(s, PLAIN);
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) s.bold = s.dim = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c === 27) s.inverse = false;
    else if (c >= 30 && c <= 37) s.fg = `p${c - 30}`;
    else if (c === 39) s.fg = null;
    else if (c >= 40 && c <= 47) s.bg = `p${c - 40}`;
    else if (c === 49) s.bg = null;
    else if (c >= 90 && c <= 97) s.fg = `p${c - 90 + 8}`;
    else if (c >= 100 && c <= 107) s.bg = `p${c - 100 + 8}`;
    else if (c === 38 || c === 48) {
      let value: string | null = null;
      if (codes[i + 1] === 5 && codes[i + 2] !== undefined) {
        value = color256(codes[i + 2]!);
        i += 2;
      } else if (codes[i + 1] === 2 && codes[i + 4] !== undefined) {
        value = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
        i += 4;
      }
      if (c === 38) s.fg = value;
      else s.bg = value;
    }
  }
  return isPlain(s) ? null : s;
}

/**
 * What a terminal would leave of a line with carriage returns: the text after the last `\r`
 * (progress bars redraw themselves that way). A trailing `\r` (CRLF output) is not one.
 */
function afterLastCr(line: string): string {
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
  const cr = trimmed.lastIndexOf('\r');
  return cr < 0 ? trimmed : trimmed.slice(cr + 1);
}

/** The segments of one line, starting from `start`, and the state the line ends in. */
export function parseAnsiLine(line: string, start: Sgr | null): { segments: Segment[]; end: Sgr | null } {
  const end = endState(line, start);
  const visible = afterLastCr(line);
  // Colours set before the last \r still hold after it.
  let state = visible.length === line.length ? start : endState(line.slice(0, line.length - visible.length), start);
  if (visible.indexOf('\x1b') < 0) return { segments: visible ? [{ text: visible, sgr: state }] : [], end };
  const segments: Segment[] = [];
  let last = 0;
  ESCAPES.lastIndex = 0;
  for (let m = ESCAPES.exec(visible); m; m = ESCAPES.exec(visible)) {
    if (m.index > last) segments.push({ text: visible.slice(last, m.index), sgr: state });
    if (m[2] === 'm') state = applySgr(state, m[1] ?? '');
    last = ESCAPES.lastIndex;
  }
  if (last < visible.length) segments.push({ text: visible.slice(last), sgr: state });
  return { segments, end };
}

/** The SGR state after `line`, cheaply when it has no escape at all. */
export function endState(line: string, start: Sgr | null): Sgr | null {
  if (line.indexOf('\x1b') < 0) return start;
  let state = start;
  ESCAPES.lastIndex = 0;
  for (let m = ESCAPES.exec(line); m; m = ESCAPES.exec(line)) if (m[2] === 'm') state = applySgr(state, m[1] ?? '');
  return state;
}

/** The text a person reads: escapes dropped, carriage returns resolved. */
export function plainText(line: string): string {
  const visible = afterLastCr(line);
  return visible.indexOf('\x1b') < 0 ? visible : visible.replace(ESCAPES, '');
}
