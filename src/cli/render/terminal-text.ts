// Turns job output into terminal text: GitLab section markers become plain titles, and without
// colour every escape sequence goes, so logs piped to a file read cleanly.

const SECTION_MARKER = /\x1b\[0Ksection_(?:start|end):\d+:[^\r\n]*?\r\x1b\[0K/g;
const ANSI = /\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

/** One complete output line (without its newline) as it should be shown. */
export function displayLine(line: string, color: boolean): string {
  let s = line.replace(SECTION_MARKER, '');
  // A progress bar redraws with \r: show where it ended, not every frame.
  const cr = s.lastIndexOf('\r');
  if (cr !== -1 && cr < s.length - 1) s = s.slice(cr + 1);
  else if (cr === s.length - 1) s = s.slice(0, -1);
  return color ? s : s.replace(ANSI, '');
}

/** Splits a byte stream into lines, keeping an unfinished last line until more arrives. */
export class LineSplitter {
  private partial = '';
  private readonly decoder = new TextDecoder('utf-8');

  push(chunk: Buffer): string[] {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines;
  }

  flush(): string[] {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    return rest === '' || rest.replace(SECTION_MARKER, '') === '' ? [] : [rest];
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
