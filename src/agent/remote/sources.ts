// The agent's copies of project repositories: one `git clone --mirror` per URL under
// $GANTRY_AGENT_HOME/mirrors, fetched only when a pipeline's commit is missing, and per commit a
// snapshot (a shared clone checked out at the commit) that job workspaces are reset to.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { git, gitMaybe } from '../git.js';
import { makeSnapshot, type SourceSnapshot } from '../workspace.js';

const KEEP_SNAPSHOTS = 8;

export class SourceCache {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly snapshots = new Map<string, Promise<SourceSnapshot>>();

  constructor(private readonly root: string) {}

  private mirrorOf(url: string): string {
    return path.join(this.root, 'mirrors', crypto.createHash('sha256').update(url).digest('hex').slice(0, 16));
  }

  /** Runs `fn` after every earlier operation on the same mirror. */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.chains.set(key, next.catch(() => undefined));
    return next;
  }

  /** The mirror of `url`, with `sha` in it (cloned once, fetched when the commit is missing). */
  async mirror(url: string, sha: string): Promise<string> {
    const dir = this.mirrorOf(url);
    return this.serial(dir, async () => {
      if (!fs.existsSync(path.join(dir, 'HEAD'))) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(path.dirname(dir), { recursive: true });
        await git(path.dirname(dir), ['clone', '--quiet', '--mirror', url, dir]);
      }
      if ((await gitMaybe(dir, ['cat-file', '-e', `${sha}^{commit}`])) === null) {
        await git(dir, ['fetch', '--quiet', '--prune', 'origin']);
      }
      if ((await gitMaybe(dir, ['cat-file', '-e', `${sha}^{commit}`])) === null) {
        throw new Error(`commit ${sha} is not in ${url}`);
      }
      return dir;
    });
  }

  /** A snapshot of `url` at `sha`, shared by the jobs of that commit. */
  snapshot(url: string, sha: string): Promise<SourceSnapshot> {
    const key = `${url}\n${sha}`;
    let s = this.snapshots.get(key);
    if (!s) {
      const dest = path.join(this.root, 'snapshots', crypto.createHash('sha256').update(key).digest('hex').slice(0, 16));
      s = this.mirror(url, sha).then((repoRoot) =>
        makeSnapshot({ repoRoot, gitDir: repoRoot, commonGitDir: repoRoot, sha, includeWorkingTree: false, dest }),
      );
      s.catch(() => this.snapshots.delete(key));
      this.snapshots.set(key, s);
      while (this.snapshots.size > KEEP_SNAPSHOTS) {
        const oldest = this.snapshots.keys().next().value as string;
        this.snapshots.delete(oldest);
      }
    }
    return s;
  }
}
