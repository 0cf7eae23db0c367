// What `gantry run` learns about the repository it runs in: its root, commit, ref and author.

import path from 'node:path';
import { gitMaybe } from '../agent/git.js';
import { GantryError } from '../domain/errors.js';

export interface RepoFacts {
  root: string;
  name: string;
  sha: string | null;
  ref: string;
  refKind: 'branch' | 'tag';
  commitMessage: string;
  commitAuthor: string;
  commitTimestamp: string | null;
  defaultBranch: string;
}

export async function readRepoFacts(cwd: string): Promise<RepoFacts> {
  const root = await gitMaybe(cwd, ['rev-parse', '--show-toplevel']);
  if (!root) throw new GantryError('GANTRY_E_NOT_A_REPOSITORY', `${cwd} is not inside a git repository (run \`git init\` first)`);
  // One git call for most facts: the commit and the symbolic ref (which fails when detached).
  const [log, branch, originHead] = await Promise.all([
    gitMaybe(root, ['log', '-1', '--format=%H%x00%an <%ae>%x00%cI%x00%B']),
    gitMaybe(root, ['symbolic-ref', '--quiet', '--short', 'HEAD']),
    gitMaybe(root, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']),
  ]);
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
  let refKind: 'branch' | 'tag' = 'branch';
  if (!branch && sha) {
    const tag = await gitMaybe(root, ['describe', '--tags', '--exact-match', 'HEAD']);
    if (tag) {
      ref = tag;
      refKind = 'tag';
    } else ref = sha;
  }
  const defaultBranch = originHead ? originHead.replace(/^origin\//, '') : branch && ['main', 'master'].includes(branch) ? branch : 'main';
  return {
    root,
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
