// What `gantry run` learns about the repository it runs in: its root, commit, ref and author.

import path from 'node:path';
import { gitMaybe } from '../agent/git.js';
import { GantryError } from '../domain/errors.js';

export interface RepoFacts {
  root: string;
  /** The repository's git directory (a worktree's own) and the one holding its objects. */
  gitDir: string;
  commonGitDir: string;
  name: string;
  sha: string | null;
  ref: string;
  /** `detached`: HEAD is neither a branch nor a tag; the ref is then the commit's sha. */
  refKind: 'branch' | 'tag' | 'detached';
  commitMessage: string;
  commitAuthor: string;
  commitTimestamp: string | null;
  defaultBranch: string;
}

export async function readRepoFacts(cwd: string): Promise<RepoFacts> {
  // Every question at once: each git process costs milliseconds, and they are independent.
  const [dirs, log, branch, originHead] = await Promise.all([
    gitMaybe(cwd, ['rev-parse', '--path-format=absolute', '--show-toplevel', '--git-dir', '--git-common-dir']),
    gitMaybe(cwd, ['log', '-1', '--format=%H%x00%an <%ae>%x00%cI%x00%B']),
    gitMaybe(cwd, ['symbolic-ref', '--quiet', '--short', 'HEAD']),
    gitMaybe(cwd, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']),
  ]);
  const [root, gitDir, commonGitDir] = (dirs ?? '').split('\n');
  if (!root || !gitDir || !commonGitDir) {
    throw new GantryError('GANTRY_E_NOT_A_REPOSITORY', `${cwd} is not inside a git repository (run \`git init\` first)`);
  }
  let sha: string | null = null;
  let author = '';
  let timestamp: string | null = null;
  let message = '';
  if (log) {
    const [h, a, t, ...m] = log.split('\0');
    sha = h ?? null;
    author = a ?? '';
    timestamp = t ?? null;
    message = m.join('\0').trim();
  }
  let ref = branch ?? '';
  let refKind: RepoFacts['refKind'] = 'branch';
  if (!branch && sha) {
    const tag = await gitMaybe(root, ['describe', '--tags', '--exact-match', 'HEAD']);
    if (tag) {
      ref = tag;
      refKind = 'tag';
    } else {
      ref = sha;
      refKind = 'detached';
    }
  }
  const defaultBranch = originHead ? originHead.replace(/^origin\//, '') : branch && ['main', 'master'].includes(branch) ? branch : 'main';
  return {
    root,
    gitDir,
    commonGitDir,
    name: path.basename(root),
    sha,
    ref: ref || 'main',
    refKind,
    commitMessage: message,
    commitAuthor: author,
    commitTimestamp: timestamp,
    defaultBranch,
  };
}
