// Turns job output into terminal text: GitLab section markers become plain titles, and without
// colour every escape sequence goes, so logs piped to a file read cleanly.

const SECTION_MARKER = /\x1b\[0Ksection_(?:start|end):\d+:[^\r\n]*?\r\x1b\[0K/g;
const ANSI = /\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

/** One complete output line (without its newline) as it should be shown. */
export function displayLine(line: string, color: boolean): string {
  let s = line.replace(SECTION_MARKER, '');
  // A progress bar redraws with \r: show where it ended (its last frame), not every frame.
  s = s.replace(/\r+$/, '');
  const cr = s.lastIndexOf('\r');
  if (cr !== -1) s = s.slice(cr + 1);
  return color ? s : s.replace(ANSI, '');
}

/** How much of an unfinished line is kept before its finished progress-bar frames are dropped. */
const PARTIAL_COMPACT_AT = 64 << 10;

/**
 * Splits a byte stream into lines, keeping an unfinished last line until more arrives. The
 * unfinished line is kept in pieces and only its new text is searched, so a job that prints
 * megabytes without a newline (a progress bar redrawn with \r) costs linear time, not quadratic;
 * and since only what follows the last \r is shown (displayLine), earlier frames are dropped.
 */
export class LineSplitter {
  private pieces: string[] = [];
  private size = 0;
  private readonly decoder = new TextDecoder('utf-8');

  push(chunk: Buffer): string[] {
    const text = this.decoder.decode(chunk, { stream: true });
    const nl = text.lastIndexOf('\n');
    if (nl === -1) {
      this.keep(text);
      return [];
    }
    const lines = (this.take() + text.slice(0, nl)).split('\n');
    this.keep(text.slice(nl + 1));
    return lines;
  }

  flush(): string[] {
    const rest = this.take() + this.decoder.decode();
    return rest === '' || rest.replace(SECTION_MARKER, '') === '' ? [] : [rest];
  }

  private take(): string {
    const s = this.pieces.length === 1 ? this.pieces[0]! : this.pieces.join('');
    this.pieces = [];
    this.size = 0;
    return s;
  }

  private keep(text: string): void {
    if (text === '') return;
    this.pieces.push(text);
    this.size += text.length;
    if (this.size < PARTIAL_COMPACT_AT || !text.includes('\r')) return;
    const s = this.take();
    // Keep the last \r that has text after it: the line will show from there on.
    let cr = s.lastIndexOf('\r');
    if (cr === s.length - 1) cr = s.lastIndexOf('\r', cr - 1);
    this.pieces = [cr > 0 ? s.slice(cr) : s];
    this.size = this.pieces[0]!.length;
  }
}

export function formatDuration(ms: number | null): string {
  if (ms === null || ms < 0) return '';
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
