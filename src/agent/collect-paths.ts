// Resolves `artifacts:paths` / `cache:paths` against a workspace: plain paths and globs, relative to
// the workspace, never outside it (GitLab refuses those too).

import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { GantryError } from '../domain/errors.js';

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  // `..hidden` is a file in the workspace; only `..` as a whole first segment leaves it.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Every file (and symlink) below `dir`, relative to `root`, `.git` left out. */
function filesBelow(root: string, dir: string, out: string[]): void {
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, d.name);
    if (d.isDirectory()) {
      if (d.name === '.git' && dir === root) continue;
      filesBelow(root, abs, out);
    } else out.push(path.relative(root, abs));
  }
}

/**
 * The files the patterns name, relative to `root`. A pattern naming a directory takes all of it.
 * Throws GANTRY_E_ARTIFACT_PATH for a pattern that points outside the workspace.
 */
export function collectPaths(root: string, patterns: readonly string[], excludes: readonly string[] = []): string[] {
  const realRoot = fs.realpathSync(root);
  const picked = new Set<string>();
  let all: string[] | null = null;
  for (const raw of patterns) {
    const pattern = raw.replace(/^\.\//, '').replace(/\/$/, '');
    const abs = path.resolve(realRoot, pattern);
    if (path.isAbsolute(pattern) || !isInside(realRoot, abs)) {
      throw new GantryError('GANTRY_E_ARTIFACT_PATH', `path ${JSON.stringify(raw)} is outside the project directory`);
    }
    if (!picomatch.scan(pattern).isGlob) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(abs);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        const real = fs.realpathSync(abs);
        if (!isInside(realRoot, real)) throw new GantryError('GANTRY_E_ARTIFACT_PATH', `path ${JSON.stringify(raw)} leads outside the project directory`);
        const found: string[] = [];
        filesBelow(realRoot, real, found);
        for (const f of found) picked.add(f);
      } else {
        // A symlinked directory on the way (`link/secret` with link -> /etc) must not carry the
        // copy outside: the file's own directory has to be in the workspace, as it is.
        const realParent = fs.realpathSync(path.dirname(abs));
        if (!isInside(realRoot, realParent)) throw new GantryError('GANTRY_E_ARTIFACT_PATH', `path ${JSON.stringify(raw)} leads outside the project directory`);
        picked.add(path.relative(realRoot, abs));
      }
      continue;
    }
    if (all === null) {
      all = [];
      filesBelow(realRoot, realRoot, all);
    }
    const isMatch = picomatch(pattern, { dot: true });
    // A glob that matches a directory takes the files below it, as GitLab does.
    const isDirMatch = picomatch(`${pattern}/**`, { dot: true });
    for (const f of all) if (isMatch(f) || isDirMatch(f)) picked.add(f);
  }
  if (excludes.length === 0) return [...picked].sort();
  const excluded = picomatch(excludes.map((e) => e.replace(/^\.\//, '')), { dot: true });
  return [...picked].filter((f) => !excluded(f)).sort();
}

/** Copies `files` (relative to `from`) into `to`, keeping their relative paths. */
export function copyFiles(from: string, to: string, files: readonly string[]): void {
  for (const rel of files) {
    const src = path.join(from, rel);
    const dest = path.join(to, rel);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const st = fs.lstatSync(src);
    fs.rmSync(dest, { force: true });
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dest);
    else fs.copyFileSync(src, dest);
  }
}
