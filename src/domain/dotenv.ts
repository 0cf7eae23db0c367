// `artifacts:reports:dotenv` (docs/PIPELINE.md, "Passing variables to later jobs"): the rules of
// GitLab's parser (app/services/ci/parse_dotenv_artifact_service.rb, with the key rule of
// app/models/concerns/ci/has_variable.rb), shared by the runner that reads the files and the
// server that checks what an agent sends.
//
// GitLab's format is deliberately narrow: one `KEY=VALUE` a line, the key and the value stripped
// of surrounding whitespace, the value taken as written (no unquoting, no expansion in the file,
// no multi-line values). A line without `=` (an empty line, a comment) makes the whole report
// invalid; so does a key of anything but letters, digits and `_` (`export A=1`, `# a=b`). A key
// written twice keeps its first place and its last value. Past the limits (GitLab's defaults of
// `dotenv_size` and `dotenv_variables`) the report is refused whole, and the job fails, as
// GitLab's runner fails a job whose upload is refused.

export interface DotenvVariable {
  key: string;
  value: string;
}

/** GitLab's default `dotenv_size`: 5 KiB. Here counted over the files' bytes together, uncompressed. */
export const DOTENV_MAX_BYTES = 5 * 1024;
/** GitLab's default `dotenv_variables`. */
export const DOTENV_MAX_VARIABLES = 20;
/** GitLab's key rule (HasVariable): letters, digits and `_`, at most 255 of them. */
const KEY = /^[A-Za-z0-9_]+$/;
const MAX_KEY_LENGTH = 255;

export type DotenvResult = { ok: true; variables: DotenvVariable[] } | { ok: false; error: string };

// Ruby's String#strip: whitespace and NUL at either end.
const strip = (s: string) => s.replace(/^[\0\t\n\v\f\r ]+|[\0\t\n\v\f\r ]+$/g, '');

/** Why a key is refused, or null. */
function keyProblem(key: string): string | null {
  if (key === '') return "the key is empty";
  if (key.length > MAX_KEY_LENGTH) return `the key is longer than ${MAX_KEY_LENGTH} characters`;
  if (!KEY.test(key)) return `key ${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)} may contain only letters, digits and _`;
  return null;
}

/**
 * The variables of a job's dotenv files, in order: later files and later lines win for a key
 * written twice. `text` is each file decoded as UTF-8 (a byte order mark is dropped, as GitLab
 * does). Sizes are the caller's to check (it has the bytes): see DOTENV_MAX_BYTES.
 */
export function parseDotenv(files: readonly { name: string; text: string }[]): DotenvResult {
  const found = new Map<string, string>();
  for (const { name, text } of files) {
    const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
    if (body === '') continue;
    // Ruby's each_line: the last line may lack its newline; a final newline makes no extra line.
    const lines = body.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const at = `${name}:${i + 1}`;
      const eq = line.indexOf('=');
      if (eq < 0) return { ok: false, error: `${at}: not a KEY=VALUE line (GitLab's dotenv has no empty lines or comments)` };
      const key = strip(line.slice(0, eq));
      const value = strip(line.slice(eq + 1));
      const problem = keyProblem(key);
      if (problem) return { ok: false, error: `${at}: ${problem}` };
      // A NUL cannot be passed in a process's environment, nor stored in PostgreSQL's text.
      if (value.includes('\0')) return { ok: false, error: `${at}: the value of ${key} contains a NUL byte` };
      found.set(key, value);
    }
  }
  if (found.size > DOTENV_MAX_VARIABLES) return { ok: false, error: `the dotenv files define ${found.size} variables; at most ${DOTENV_MAX_VARIABLES} are allowed` };
  return { ok: true, variables: [...found].map(([key, value]) => ({ key, value })) };
}

/** The bytes the variables take as KEY=VALUE lines: never more than the files they were read from. */
export function dotenvBytes(variables: readonly DotenvVariable[]): number {
  let n = 0;
  for (const v of variables) n += Buffer.byteLength(v.key) + Buffer.byteLength(v.value) + 2;
  return n;
}

/**
 * What an agent sent (PROTOCOL.md, the completion's `dotenv`), checked as the parser would have
 * left it: at most 20 variables, distinct keys of GitLab's form, values of one line without NUL,
 * within the size limit. Null when it is acceptable, else why not.
 */
export function dotenvProblem(variables: readonly DotenvVariable[]): string | null {
  if (variables.length > DOTENV_MAX_VARIABLES) return `${variables.length} variables; at most ${DOTENV_MAX_VARIABLES} are allowed`;
  const keys = new Set<string>();
  for (const [i, v] of variables.entries()) {
    const problem = keyProblem(v.key);
    if (problem) return `variable ${i}: ${problem}`;
    if (keys.has(v.key)) return `variable ${i}: key ${v.key} is given twice`;
    keys.add(v.key);
    if (/[\0\n\r]/.test(v.value)) return `variable ${i}: the value of ${v.key} contains a line break or a NUL byte`;
  }
  const bytes = dotenvBytes(variables);
  if (bytes > DOTENV_MAX_BYTES) return `${bytes} bytes; at most ${DOTENV_MAX_BYTES} are allowed`;
  return null;
}

/**
 * The variables a job receives from the dotenv reports of the jobs it takes artifacts from, in the
 * order of those jobs: a key given by two of them has the later one's value.
 */
export function mergeDotenv(reports: readonly (readonly DotenvVariable[])[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of reports) for (const v of r) out[v.key] = v.value;
  return out;
}
