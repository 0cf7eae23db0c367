// Reads a job's `artifacts:reports:dotenv` files on the agent, after the job, by GitLab's rules
// (src/domain/dotenv.ts). The files are the job's, so hostile: only regular files inside the
// workspace, never through a symlink, and never more bytes than the limit allows.
//
// A path that matches no file is a warning and no report (GitLab's runner uploads nothing, and
// the job's status stands). Files past the size or count limits, or not in GitLab's format, are an
// error: GitLab refuses the upload and its runner fails the job, and so does Gantry.

import fs from 'node:fs';
import path from 'node:path';
import { collectPaths } from './collect-paths.js';
import { DOTENV_MAX_BYTES, parseDotenv, type DotenvVariable } from '../domain/dotenv.js';

export interface ReadDotenv {
  /** Null when no file was found (there is no report); the variables otherwise, possibly none. */
  variables: DotenvVariable[] | null;
  /** One line each, for the job's log: a path that matches nothing, a file that cannot be read. */
  warnings: string[];
  /** Why the report is refused (the job fails), or null. */
  error: string | null;
}

export async function readDotenvReports(root: string, patterns: readonly string[]): Promise<ReadDotenv> {
  const warnings: string[] = [];
  // In the order written: a later file's value wins. A glob's matches in name order.
  const files: string[] = [];
  for (const p of patterns) {
    let found: string[];
    try {
      found = collectPaths(root, [p]).sort();
    } catch (e) {
      warnings.push(`WARNING: artifacts:reports:dotenv ${JSON.stringify(p)}: ${(e as Error).message}`);
      continue;
    }
    if (found.length === 0) warnings.push(`WARNING: artifacts:reports:dotenv ${JSON.stringify(p)}: no file matches, so no variables are passed from it`);
    for (const f of found) if (!files.includes(f)) files.push(f);
  }
  const realRoot = fs.realpathSync(root);
  const texts: { name: string; text: string }[] = [];
  let total = 0;
  for (const rel of files) {
    const abs = path.join(realRoot, rel);
    let fh: fs.promises.FileHandle;
    try {
      // The file's directory must be the workspace's (collectPaths checked the pattern, not every
      // match of a glob), and the file itself no symlink (O_NOFOLLOW).
      const dir = fs.realpathSync(path.dirname(abs));
      if (dir !== realRoot && !dir.startsWith(realRoot + path.sep)) throw new Error('it is outside the project directory');
      fh = await fs.promises.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symlink' : (e as Error).message;
      warnings.push(`WARNING: ${rel}: not read as a dotenv report: ${why}`);
      continue;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        warnings.push(`WARNING: ${rel}: not read as a dotenv report: not a regular file`);
        continue;
      }
      // Read one byte past what is left of the limit: a file that grew since its stat still cannot pass.
      const room = DOTENV_MAX_BYTES - total;
      const buf = Buffer.alloc(Math.max(0, Math.min(st.size, room) + 1));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      total += Math.max(st.size, bytesRead);
      if (total > DOTENV_MAX_BYTES) {
        return { variables: null, warnings, error: `the dotenv files are more than ${DOTENV_MAX_BYTES} bytes together (${rel} is ${st.size})` };
      }
      texts.push({ name: rel, text: buf.subarray(0, bytesRead).toString('utf8') });
    } finally {
      await fh.close();
    }
  }
  if (texts.length === 0) return { variables: null, warnings, error: null };
  const parsed = parseDotenv(texts);
  if (!parsed.ok) return { variables: null, warnings, error: parsed.error };
  return { variables: parsed.variables, warnings, error: null };
}
