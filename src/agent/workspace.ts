// Fresh workspaces. A pipeline's sources are laid out once in a snapshot directory (a shared clone
// at the pipeline's commit, optionally with the working tree's uncommitted changes on top); each
// job then gets its own copy of that snapshot, so no job sees another's leftovers.

import fs from 'node:fs';
import path from 'node:path';
import { git, gitMaybe } from './git.js';
import { GantryError } from '../domain/errors.js';

export const NO_COMMIT_SHA = '0000000000000000000000000000000000000000';

interface Entry {
  rel: string;
  kind: 'dir' | 'file' | 'symlink';
}

export interface SourceSnapshot {
  readonly dir: string;
  /** Copies the snapshot into `dest` (which must not exist yet). */
  populate(dest: string): void;
}

function listTree(root: string): Entry[] {
  const out: Entry[] = [];
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        out.push({ rel: r, kind: 'dir' });
        walk(r);
      } else if (d.isSymbolicLink()) out.push({ rel: r, kind: 'symlink' });
      else if (d.isFile()) out.push({ rel: r, kind: 'file' });
    }
  };
  walk('');
  return out;
}

/** Copies a listed tree; the list is made once per snapshot so each job pays only for the copies. */
function copyTree(src: string, dest: string, entries: readonly Entry[]): void {
  fs.mkdirSync(dest, { recursive: true });
  for (const e of entries) {
    const from = path.join(src, e.rel);
    const to = path.join(dest, e.rel);
    if (e.kind === 'dir') fs.mkdirSync(to);
    else if (e.kind === 'file') fs.copyFileSync(from, to);
    else fs.symlinkSync(fs.readlinkSync(from), to);
  }
}

export interface SnapshotOptions {
  repoRoot: string;
  /** The commit to check out, or null for a repository without commits. */
  sha: string | null;
  /** Put the working tree's uncommitted and untracked (not ignored) files on top of the commit. */
  includeWorkingTree: boolean;
  dest: string;
}

export async function makeSnapshot(opts: SnapshotOptions): Promise<SourceSnapshot> {
  const { repoRoot, sha, dest } = opts;
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  try {
    if (sha) {
      // --shared borrows the repository's objects: cloning costs a few files, not the history.
      await git(repoRoot, ['clone', '--quiet', '--shared', '--no-checkout', '--template=', repoRoot, dest]);
      await git(dest, ['checkout', '--quiet', '--detach', sha]);
    } else {
      fs.mkdirSync(dest);
    }
    if (opts.includeWorkingTree) await overlayWorkingTree(repoRoot, dest);
  } catch (err) {
    throw new GantryError('GANTRY_E_WORKSPACE', `could not prepare the sources: ${(err as Error).message.split('\n')[0]}`);
  }
  const entries = listTree(dest);
  return {
    dir: dest,
    populate: (to) => copyTree(dest, to, entries),
  };
}

async function overlayWorkingTree(repoRoot: string, dest: string): Promise<void> {
  const present = (await gitMaybe(repoRoot, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])) ?? '';
  const deleted = (await gitMaybe(repoRoot, ['ls-files', '-z', '--deleted'])) ?? '';
  const gone = new Set(deleted.split('\0').filter(Boolean));
  for (const rel of gone) fs.rmSync(path.join(dest, rel), { force: true });
  for (const rel of present.split('\0')) {
    if (!rel || gone.has(rel)) continue;
    const from = path.join(repoRoot, rel);
    const to = path.join(dest, rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(from);
    } catch {
      continue;
    }
    if (st.isDirectory()) continue; // a submodule: not supported, left as the commit has it
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.rmSync(to, { force: true });
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else fs.copyFileSync(from, to);
  }
}
