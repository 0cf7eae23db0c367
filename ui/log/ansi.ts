// ANSI SGR colours for job logs, read by the `anser` library. What is Gantry's own here is only
// what a virtualized log needs around it:
// - A colour set on one line may carry over to the next (a tool that colours a whole block), and
//   lines are drawn one at a time, out of order. So each line is parsed from the state its
//   previous line ended in: that state is replayed to anser as one SGR escape in front of the
//   line (anser parses text before its first escape as plain, so setting its fields would not
//   do), and the state a line ends in is the one anser gives its last piece. The log buffer
//   (log-buffer.ts) keeps that state for each line that starts coloured.
// - anser reads CSI sequences only: an OSC title would show as text, and a non-SGR CSI (erase
//   line) makes the text after it lose its colour. So those are dropped before anser sees the
//   line, and SGR's colon form (`38:5:208`) is rewritten to the semicolon form anser reads.
// - After a carriage return only what a terminal would show remains (progress bars).

import Anser from 'anser';

export interface Sgr {
  /**
   * The colours to draw: 'p0'..'p15' (the theme's palette, see styles.css) or a CSS colour
   * (256-colour and truecolour). Under `inverse` anser has already swapped them (a missing one
   * becomes white text or a black background).
   */
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

// Escapes anser must not see: OSC (ESC ] ... BEL or ST), two-byte escapes, and every CSI
// sequence; an SGR one (final byte `m`) is put back, with colons as semicolons.
const ESCAPES = /\x1b\[([0-9;:?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
const keepSgr = (_m: string, params: string | undefined, final: string | undefined) =>
  final === 'm' && !params?.includes('?') ? `\x1b[${params!.replaceAll(':', ';')}m` : '';

// anser's class names for the 16 system colours, in palette order (use_classes: true), so that
// those follow the theme (styles.css `.fg-pN`); anser's own RGB palette gives colours 16..255.
const NAMES = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];
const CLASS_TO_PALETTE = new Map<string, string>(
  NAMES.flatMap((n, i) => [[`ansi-${n}`, `p${i}`], [`ansi-bright-${n}`, `p${i + 8}`]] as [string, string][]),
);
const RGB_PALETTE: string[] = (() => {
  const a = new Anser() as Anser & { PALETTE_COLORS: string[] };
  a.setupPalette();
  return a.PALETTE_COLORS.map((c) => `rgb(${c.replaceAll(' ', '')})`);
})();

function colour(name: string | null, truecolor: string | null): string | null {
  if (!name) return null;
  if (name === 'ansi-truecolor') return truecolor ? `rgb(${truecolor.replaceAll(' ', '')})` : null;
  const palette = CLASS_TO_PALETTE.get(name);
  if (palette) return palette;
  const n = /^ansi-palette-(\d+)$/.exec(name);
  return n ? (RGB_PALETTE[Number(n[1])] ?? null) : null;
}

function toSgr(e: Anser.AnserJsonEntry): Sgr | null {
  if (!e.was_processed) return null;
  const d = e.decorations;
  const s: Sgr = {
    fg: colour(e.fg, e.fg_truecolor),
    bg: colour(e.bg, e.bg_truecolor),
    bold: d.includes('bold'),
    dim: d.includes('dim'),
    italic: d.includes('italic'),
    underline: d.includes('underline'),
    // Set by anser (not in its typings) when it swapped the colours for `7`.
    inverse: (e as { isInverted?: boolean }).isInverted === true,
  };
  return s.fg || s.bg || s.bold || s.dim || s.italic || s.underline || s.inverse ? s : null;
}

function colourCodes(c: string, base: number): string {
  if (c.startsWith('p')) {
    const n = Number(c.slice(1));
    return String(n < 8 ? base + n : base + 60 + n - 8);
  }
  const rgb = /^rgb\((\d+),(\d+),(\d+)\)$/.exec(c);
  return rgb ? `${base + 8};2;${rgb[1]};${rgb[2]};${rgb[3]}` : '';
}

/** One SGR escape that puts a fresh anser into `s`. */
function replay(s: Sgr | null): string {
  if (!s) return '';
  const codes: string[] = [];
  if (s.bold) codes.push('1');
  if (s.dim) codes.push('2');
  if (s.italic) codes.push('3');
  if (s.underline) codes.push('4');
  if (s.inverse) codes.push('7');
  // Under inverse the colours were swapped for drawing: swap them back. A default one anser
  // filled in comes back explicit (a later `27` then leaves white on black: rare enough).
  const [fg, bg] = s.inverse ? [s.bg, s.fg] : [s.fg, s.bg];
  if (fg) codes.push(colourCodes(fg, 30));
  if (bg) codes.push(colourCodes(bg, 40));
  return `\x1b[${codes.filter(Boolean).join(';')}m`;
}

function entries(text: string, start: Sgr | null): Anser.AnserJsonEntry[] {
  return new Anser().ansiToJson(replay(start) + text.replace(ESCAPES, keepSgr), { use_classes: true });
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
  const state = visible.length === line.length ? start : endState(line.slice(0, line.length - visible.length), start);
  if (visible.indexOf('\x1b') < 0) return { segments: visible ? [{ text: visible, sgr: state }] : [], end };
  const segments = entries(visible, state)
    .filter((e) => e.content !== '')
    .map((e) => ({ text: e.content, sgr: toSgr(e) }));
  return { segments, end };
}

/** The SGR state after `line`, cheaply when it has no escape at all. */
export function endState(line: string, start: Sgr | null): Sgr | null {
  if (line.indexOf('\x1b') < 0) return start;
  const all = entries(line, start);
  return toSgr(all[all.length - 1]!);
}

/** The text a person reads: escapes dropped, carriage returns resolved. */
export function plainText(line: string): string {
  const visible = afterLastCr(line);
  return visible.indexOf('\x1b') < 0 ? visible : visible.replace(ESCAPES, '');
}
