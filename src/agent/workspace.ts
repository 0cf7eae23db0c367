// Fresh workspaces. A pipeline's sources are laid out once in a snapshot directory (the working
// tree's files with a minimal .git, or with --commit a shared clone at the commit); each job slot's
// workspace is made identical to that snapshot before each of its jobs (materialize), so no job
// sees another's leftovers.

import fs from 'node:fs';
import path from 'node:path';
import { git, gitMaybe } from './git.js';
import { GantryError } from '../domain/errors.js';
import type { Owner } from './isolation.js';

export const NO_COMMIT_SHA = '0000000000000000000000000000000000000000';

interface Entry {
  rel: string;
  kind: 'dir' | 'file' | 'symlink';
}

/** What a workspace file looked like right after it was laid down; any write changes ctime. */
interface Laid {
  kind: Entry['kind'];
  ino: number;
  ctimeMs: number;
  size: number;
}

export interface SourceSnapshot {
  readonly dir: string;
  /**
   * Makes `dest` an exact copy of the snapshot. The first time, by copying; after that (a job
   * slot's next job), by undoing what the last job changed: files it added go, files it changed
   * or removed come back. The result is the same as a fresh copy, without creating every
   * directory and file again (on a slow disk each creation costs half a millisecond).
   */
  materialize(dest: string, owner?: Owner | null): void;
  /**
   * The object directory the snapshot's .git borrows (its `alternates`), or null: a sandboxed job
   * is shown it read-only, or git in the job would find no commits.
   */
  readonly borrowedObjects: string | null;
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

function kindOf(st: fs.Stats): Entry['kind'] | null {
  return st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : null;
}

class Snapshot implements SourceSnapshot {
  private readonly entries: Entry[];
  private readonly byRel: Map<string, Entry>;
  /** Per materialized workspace: what each entry looked like when it was laid down. */
  private readonly laid = new Map<string, Map<string, Laid>>();

  readonly borrowedObjects: string | null;
  /** Who the workspace being materialized belongs to (a sandboxed job's user), for lay. */
  private owner: Owner | null = null;

  constructor(readonly dir: string) {
    this.entries = listTree(dir);
    this.byRel = new Map(this.entries.map((e) => [e.rel, e]));
    let borrowed: string | null = null;
    try {
      borrowed = fs.readFileSync(path.join(dir, '.git', 'objects', 'info', 'alternates'), 'utf8').split('\n')[0]!.trim() || null;
    } catch {
      // nothing borrowed
    }
    this.borrowedObjects = borrowed;
  }

  materialize(dest: string, owner: Owner | null = null): void {
    this.owner = owner;
    const known = this.laid.get(dest);
    if (known && fs.existsSync(dest)) this.reset(dest, known);
    else this.copyAll(dest);
  }

  private lay(dest: string, e: Entry, record: Map<string, Laid>): void {
    const from = path.join(this.dir, e.rel);
    const to = path.join(dest, e.rel);
    if (e.kind === 'dir') fs.mkdirSync(to);
    else if (e.kind === 'file') fs.copyFileSync(from, to);
    else fs.symlinkSync(fs.readlinkSync(from), to);
    // Owned before it is recorded: a chown changes ctime, which reset would take for the job's change.
    if (this.owner) fs.lchownSync(to, this.owner.uid, this.owner.gid);
    if (e.kind !== 'dir') {
      const st = fs.lstatSync(to);
      record.set(e.rel, { kind: e.kind, ino: st.ino, ctimeMs: st.ctimeMs, size: st.size });
    } else record.set(e.rel, { kind: 'dir', ino: 0, ctimeMs: 0, size: 0 });
  }

  private copyAll(dest: string): void {
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(dest, { recursive: true });
    if (this.owner) fs.chownSync(dest, this.owner.uid, this.owner.gid);
    const record = new Map<string, Laid>();
    for (const e of this.entries) this.lay(dest, e, record);
    this.laid.set(dest, record);
  }

  private reset(dest: string, record: Map<string, Laid>): void {
    const seen = new Set<string>();
    const walk = (rel: string) => {
      for (const name of fs.readdirSync(path.join(dest, rel))) {
        const r = rel ? `${rel}/${name}` : name;
        const abs = path.join(dest, r);
        const want = this.byRel.get(r);
        const st = fs.lstatSync(abs);
        const was = record.get(r);
        const kind = kindOf(st);
        if (!want || kind !== want.kind) {
          fs.rmSync(abs, { recursive: true, force: true });
          record.delete(r);
          continue; // laid again below if the snapshot has it
        }
        seen.add(r);
        if (kind === 'dir') {
          walk(r);
          continue;
        }
        if (!was || was.ino !== st.ino || was.ctimeMs !== st.ctimeMs || was.size !== st.size) {
          fs.rmSync(abs, { force: true });
          seen.delete(r);
        }
      }
    };
    walk('');
    for (const e of this.entries) if (!seen.has(e.rel)) this.lay(dest, e, record);
  }
}

export interface SnapshotOptions {
  repoRoot: string;
  /** The repository's git directory (its index) and common git directory (its objects). */
  gitDir: string;
  commonGitDir: string;
  /** The commit to check out, or null for a repository without commits. */
  sha: string | null;
  /** The working tree as it is (uncommitted and untracked, not ignored, files included) instead of the commit alone. */
  includeWorkingTree: boolean;
  dest: string;
}

export async function makeSnapshot(opts: SnapshotOptions): Promise<SourceSnapshot> {
  const { repoRoot, sha, dest } = opts;
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  try {
    if (!opts.includeWorkingTree && sha) {
      // --shared borrows the repository's objects: cloning costs a few files, not the history.
      await git(repoRoot, ['clone', '--quiet', '--shared', '--no-checkout', '--template=', repoRoot, dest]);
      await git(dest, ['checkout', '--quiet', '--detach', sha]);
      slimGitDir(path.join(dest, '.git'));
    } else {
      fs.mkdirSync(dest);
      if (sha) writeGitDir(path.join(dest, '.git'), opts);
      await copyWorkingTree(repoRoot, dest);
    }
  } catch (err) {
    throw new GantryError('GANTRY_E_WORKSPACE', `could not prepare the sources: ${(err as Error).message.split('\n')[0]}`);
  }
  return new Snapshot(dest);
}

/**
 * Every job copies the snapshot, .git included, and on a slow disk each directory costs a
 * fraction of a millisecond: keep only what git needs (HEAD, config, index, packed refs, the
 * alternates link to the repository's objects) and drop reflogs, remote-tracking refs and the
 * local branch (jobs run on a detached HEAD, as GitLab's do).
 */
function slimGitDir(gitDir: string): void {
  for (const p of ['logs', 'refs/remotes', 'refs/heads', 'refs/tags', 'objects/pack', 'description', 'info', 'hooks', 'branches']) {
    fs.rmSync(path.join(gitDir, p), { recursive: true, force: true });
  }
}

/**
 * The same minimal git directory, written directly instead of cloned (two git processes fewer):
 * a detached HEAD at the commit, the repository's objects borrowed through `alternates`, and a
 * copy of its index, so `git status` in a job shows the same changes as in the working tree.
 */
function writeGitDir(dir: string, opts: SnapshotOptions): void {
  fs.mkdirSync(path.join(dir, 'objects', 'info'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'refs'));
  fs.writeFileSync(path.join(dir, 'HEAD'), `${opts.sha}\n`);
  fs.writeFileSync(path.join(dir, 'config'), '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n');
  fs.writeFileSync(path.join(dir, 'objects', 'info', 'alternates'), `${path.join(opts.commonGitDir, 'objects')}\n`);
  try {
    fs.copyFileSync(path.join(opts.gitDir, 'index'), path.join(dir, 'index'));
  } catch {
    // no index yet: git treats that as an empty one
  }
}

async function copyWorkingTree(repoRoot: string, dest: string): Promise<void> {
  // Tracked files (as they are now) and untracked ones that are not ignored; a tracked file
  // deleted in the working tree is listed but missing, and stays missing.
  const listed = (await gitMaybe(repoRoot, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])) ?? '';
  const made = new Set<string>();
  for (const rel of new Set(listed.split('\0'))) {
    if (!rel) continue;
    const from = path.join(repoRoot, rel);
    const to = path.join(dest, rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(from);
    } catch {
      continue;
    }
    if (st.isDirectory()) continue; // a submodule: not supported
    const parent = path.dirname(to);
    if (!made.has(parent)) {
      fs.mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else fs.copyFileSync(from, to);
  }
}
