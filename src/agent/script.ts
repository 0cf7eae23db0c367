// Turns a job's script lines into the bash program GitLab's shell executor would run: every line
// echoed as `$ line` in bold green, then executed, in one shell with `set -eo pipefail`, so the
// first failing line ends the step with its exit code.

const GREEN = '\x1b[32;1m';
const RESET = '\x1b[0;m';

/** Quotes any text as a bash ANSI-C string ($'...'), safe for every byte but NUL. */
export function bashQuote(text: string): string {
  return `$'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\x1b/g, '\\E')}'`;
}

function echoOf(line: string): string {
  // GitLab shows only the first line of a multi-line command.
  const nl = line.indexOf('\n');
  const shown = nl === -1 || nl === line.length - 1 ? line.replace(/\n$/, '') : `${line.slice(0, nl)} # collapsed multi-line command`;
  return `printf '%s\\n' ${bashQuote(`${GREEN}$ ${shown}${RESET}`)}`;
}

/** A step script: `lines` run in order, the first failure ends it. */
export function stepScript(lines: readonly string[]): string {
  const out = ['set -eo pipefail', 'set +o noclobber'];
  for (const line of lines) {
    out.push(echoOf(line));
    out.push(line);
  }
  out.push('');
  return out.join('\n');
}

/** A line the agent itself writes into the log (not the script's output). */
export function agentLine(text: string, color: 'plain' | 'green' | 'red' | 'yellow' | 'cyan' = 'plain'): Buffer {
  const codes = { plain: '', green: '\x1b[32;1m', red: '\x1b[31;1m', yellow: '\x1b[0;33m', cyan: '\x1b[36;1m' };
  return Buffer.from(color === 'plain' ? `${text}\n` : `${codes[color]}${text}${RESET}\n`);
}

/** GitLab's collapsible section markers, so viewers can fold each part of the job and time it. */
export function sectionStart(name: string, title: string, at = Date.now()): Buffer {
  return Buffer.from(`\x1b[0Ksection_start:${Math.floor(at / 1000)}:${name}\r\x1b[0K${title}\n`);
}
export function sectionEnd(name: string, at = Date.now()): Buffer {
  return Buffer.from(`\x1b[0Ksection_end:${Math.floor(at / 1000)}:${name}\r\x1b[0K`);
}
