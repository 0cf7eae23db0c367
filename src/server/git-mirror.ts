// The server's cache of project repositories: one `git clone --mirror` per project under
// $GANTRY_HOME/mirrors/<project id>, fetched when a trigger needs a ref it may not have. The
// pipeline file is read from the commit's tree (`git cat-file`), never from a working tree, so
// what is compiled is exactly what the agents will check out.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GantryError } from '../domain/errors.js';
import type { ProjectFiles } from '../pipeline/index.js';
import { PIPELINE_FILES } from '../pipeline/index.js';
import type { Project } from '../store/store.js';
import { GitRunner } from './git-runner/git-runner.js';

export interface CommitFacts {
  sha: string;
  refKind: 'branch' | 'tag';
  commitMessage: string;
  commitAuthor: string;
  commitTimestamp: string | null;
  defaultBranch: string;
}

const GIT_TIMEOUT_MS = 5 * 60_000;
// YAML files are read ahead (includes are YAML), up to this many bytes in all; anything else the
// compiler asks for is read on demand.
const PRELOAD_BYTES = 16 * 1024 * 1024;
const PRELOAD_FILE_MAX = 1024 * 1024;

/** A user:password in a URL must never reach a client or a log. */
function redact(s: string): string {
  return s.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@');
}

interface MirrorState {
  /** Serializes clone and fetch of one mirror. */
  chain: Promise<unknown>;
  /** A fetch queued behind the running one; every caller arriving meanwhile shares it. */
  queued: Promise<void> | null;
}

export class GitMirrors {
  private readonly states = new Map<number, MirrorState>();
  // git runs in a helper process: each fork from the server would block its event loop.
  private readonly runner: GitRunner;

  /** `env` is the environment git runs with (from Config; git must never prompt for a password). */
  constructor(
    private readonly root: string,
    env: Record<string, string>,
  ) {
    this.runner = new GitRunner({ ...env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C' });
  }

  /** Ends the git runner process once the commands already asked have answered. */
  close(): void {
    this.runner.close();
  }

  dirOf(project: Project): string {
    return path.join(this.root, String(project.id));
  }

  /** git's stdout as text; the error says why, without credentials. */
  private async git(cwd: string, args: string[], input?: string): Promise<string> {
    return (await this.gitBytes(cwd, args, input)).toString('utf8');
  }

  private async gitBytes(cwd: string, args: string[], input?: string): Promise<Buffer> {
    try {
      return await this.runner.run(cwd, args, { timeoutMs: GIT_TIMEOUT_MS, ...(input === undefined ? {} : { input }) });
    } catch (e) {
      throw Object.assign(new Error(redact((e as Error).message)), { gitArgs: args });
    }
  }

  private async gitMaybe(cwd: string, args: string[]): Promise<string | null> {
    try {
      return (await this.git(cwd, args)).trim();
    } catch {
      return null;
    }
  }

  private state(project: Project): MirrorState {
    let s = this.states.get(project.id);
    if (!s) this.states.set(project.id, (s = { chain: Promise.resolve(), queued: null }));
    return s;
  }

  /** Clones the mirror if it does not exist yet; returns its directory. */
  private async ensureCloned(project: Project): Promise<string> {
    const dir = this.dirOf(project);
    if (fs.existsSync(path.join(dir, 'HEAD'))) return dir;
    const s = this.state(project);
    const run = s.chain.then(async () => {
      if (fs.existsSync(path.join(dir, 'HEAD'))) return;
      fs.mkdirSync(this.root, { recursive: true });
      // Cloned beside and renamed into place: a crash mid-clone leaves no half mirror behind.
      const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
      try {
        await this.git(this.root, ['clone', '--mirror', '--quiet', '--', project.gitUrl, tmp]);
        fs.renameSync(tmp, dir);
      } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw new GantryError('GANTRY_E_GIT', `cannot clone the repository of project ${project.name}: ${(e as Error).message}`);
      }
    });
    s.chain = run.catch(() => undefined);
    await run;
    return dir;
  }

  /**
   * Fetches the mirror so that it reflects the remote at some moment after this call began.
   * Calls that arrive while a fetch runs share one fetch queued behind it (the running one may
   * have started before their push landed): at most one running and one waiting per mirror.
   */
  async fetch(project: Project): Promise<void> {
    const dir = await this.ensureCloned(project);
    const s = this.state(project);
    if (s.queued) return s.queued;
    const run = s.chain.then(async () => {
      s.queued = null;
      try {
        await this.git(dir, ['fetch', '--prune', '--quiet', 'origin']);
      } catch (e) {
        throw new GantryError('GANTRY_E_GIT', `cannot fetch the repository of project ${project.name}: ${(e as Error).message}`);
      }
    });
    s.queued = run;
    s.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * The commit a trigger names. With a sha, the mirror is fetched only when it lacks the commit
   * (a commit never changes). With a ref alone, a branch may have moved since the last fetch, so
   * the mirror is always fetched first (shared with concurrent triggers, see fetch()).
   */
  async resolve(project: Project, ref: string, sha?: string): Promise<CommitFacts> {
    const dir = await this.ensureCloned(project);
    const refs = [`refs/heads/${ref}^{commit}`, `refs/tags/${ref}^{commit}`];
    let full: string | null = null;
    let branchSha: string | null;
    let tagSha: string | null;
    if (sha !== undefined) {
      // One git process answers all three.
      [full = null, branchSha = null, tagSha = null] = await this.peel(dir, [`${sha}^{commit}`, ...refs]);
      if (full === null) {
        await this.fetch(project);
        [full = null, branchSha = null, tagSha = null] = await this.peel(dir, [`${sha}^{commit}`, ...refs]);
      }
      if (full === null) throw new GantryError('GANTRY_E_REF_NOT_FOUND', `commit ${sha} is not in the repository of project ${project.name}`);
    } else {
      await this.fetch(project);
      [branchSha = null, tagSha = null] = await this.peel(dir, refs);
    }
    if (full === null) full = branchSha ?? tagSha;
    if (full === null) throw new GantryError('GANTRY_E_REF_NOT_FOUND', `no branch or tag ${JSON.stringify(ref)} in the repository of project ${project.name}`);
    const [log, head] = await Promise.all([
      this.git(dir, ['log', '-1', '--format=%H%x00%an <%ae>%x00%cI%x00%B', full, '--']),
      this.gitMaybe(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']),
    ]);
    const [, author, timestamp, ...message] = log.split('\0');
    return {
      sha: full,
      refKind: branchSha === null && tagSha !== null ? 'tag' : 'branch',
      commitMessage: message.join('\0').trim(),
      commitAuthor: author ?? '',
      commitTimestamp: timestamp || null,
      defaultBranch: head || 'main',
    };
  }

  /** The branch the repository's HEAD names (what GitLab calls the default branch), after a fetch. */
  async defaultBranch(project: Project): Promise<string> {
    const dir = await this.ensureCloned(project);
    await this.fetch(project);
    return (await this.gitMaybe(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD'])) || 'main';
  }

  /**
   * The paths that differ between commits `base` and `head` (`rules: changes`), renames as a
   * deletion and an addition so that a rule on either path matches; null when `base` is not in
   * the mirror (a force push over history the mirror never had): then every rule matches.
   */
  async changedFiles(project: Project, base: string, head: string): Promise<string[] | null> {
    // One git process: a `base` the mirror lacks makes the diff fail, which is the null case.
    try {
      const out = await this.git(this.dirOf(project), ['diff', '--name-only', '--no-renames', '-z', `${base}^{commit}`, `${head}^{commit}`, '--']);
      return out.split('\0').filter(Boolean);
    } catch {
      return null;
    }
  }

  /** The merge base of branch `target` and commit `head`, or null when there is none. */
  async mergeBase(project: Project, target: string, head: string): Promise<string | null> {
    return this.gitMaybe(this.dirOf(project), ['merge-base', '--end-of-options', `refs/heads/${target}`, head]);
  }

  /** The object each revision names (`x^{commit}` peels to a commit), or null where there is none. */
  private async peel(dir: string, revisions: string[]): Promise<Array<string | null>> {
    // Revisions come from the API's ref schema or a forge's payload: no newline can be in one,
    // and batch input is never read as an option.
    if (revisions.some((r) => /[\s]/.test(r))) return revisions.map(() => null);
    const out = await this.git(dir, ['cat-file', '--batch-check=%(objectname)'], `${revisions.join('\n')}\n`);
    const lines = out.split('\n');
    return revisions.map((_, i) => {
      const line = lines[i] ?? '';
      return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(line) ? line : null;
    });
  }

  /** The files of commit `sha` as the compiler reads them: listed from the tree, YAML read ahead. */
  async files(project: Project, sha: string): Promise<ProjectFiles> {
    const dir = this.dirOf(project);
    const tree = await this.git(dir, ['ls-tree', '-r', '-z', '--full-tree', '--long', sha]);
    const entries: Array<{ object: string; size: number; file: string }> = [];
    for (const rec of tree.split('\0')) {
      const m = /^\d+ blob ([0-9a-f]+)\s+(\d+)\t(.*)$/s.exec(rec);
      if (m) entries.push({ object: m[1]!, size: Number(m[2]), file: m[3]! });
    }
    const names = entries.map((e) => e.file).sort();
    const objectOf = new Map(entries.map((e) => [e.file, e.object]));
    const wanted: typeof entries = [];
    let budget = PRELOAD_BYTES;
    const first = entries.filter((e) => (PIPELINE_FILES as readonly string[]).includes(e.file));
    for (const e of [...first, ...entries.filter((x) => /\.ya?ml$/i.test(x.file) && !first.includes(x))]) {
      if (e.size > PRELOAD_FILE_MAX || e.size > budget) continue;
      budget -= e.size;
      wanted.push(e);
    }
    const contents = await this.catBlobs(dir, wanted.map((e) => e.object));
    const text = new Map<string, string>();
    wanted.forEach((e, i) => text.set(e.file, contents[i]!));
    return {
      read: (p: string) => {
        const rel = p.replace(/^\.\//, '').replace(/^\/+/, '');
        const known = text.get(rel);
        if (known !== undefined) return known;
        const object = objectOf.get(rel);
        if (object === undefined) return null;
        // Rare (a non-YAML file, or past the read-ahead budget): one blocking read.
        return execFileSync('git', ['cat-file', 'blob', object], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      },
      list: () => names,
    };
  }

  /** Blob contents in the order asked, through one `git cat-file --batch`. */
  private async catBlobs(dir: string, objects: string[]): Promise<string[]> {
    if (objects.length === 0) return [];
    let all: Buffer;
    try {
      all = await this.runner.run(dir, ['cat-file', '--batch'], { input: `${objects.join('\n')}\n`, timeoutMs: GIT_TIMEOUT_MS });
    } catch (e) {
      throw new GantryError('GANTRY_E_GIT', `git cat-file failed: ${redact((e as Error).message)}`);
    }
    const out: string[] = [];
    let pos = 0;
    for (let i = 0; i < objects.length; i++) {
      const nl = all.indexOf(0x0a, pos);
      const header = all.subarray(pos, nl).toString('utf8').split(' ');
      const size = Number(header[2]);
      out.push(all.subarray(nl + 1, nl + 1 + size).toString('utf8'));
      pos = nl + 1 + size + 1;
    }
    return out;
  }
}
