// Artifacts and caches for `gantry run`: plain directories under $GANTRY_HOME. Jobs on one
// machine share them; the server's blob store (next issue) takes this place for remote agents.

import fs from 'node:fs';
import path from 'node:path';
import { copyFiles } from '../agent/collect-paths.js';
import type { ArtifactTransport, CacheTransport } from '../agent/transports.js';

interface ArtifactMeta {
  expiresAt: number | null;
  files: string[];
}

function copyDirInto(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, force: true, verbatimSymlinks: true });
}

/** Replaces `dest` with a fresh directory made by `fill`, so readers never see half a copy. */
function replaceDir(dest: string, fill: (tmp: string) => void): void {
  const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp, { recursive: true });
  fill(tmp);
  const old = `${dest}.old-${process.pid}-${Date.now()}`;
  if (fs.existsSync(dest)) fs.renameSync(dest, old);
  fs.renameSync(tmp, dest);
  fs.rmSync(old, { recursive: true, force: true });
}

export class DirArtifacts implements ArtifactTransport {
  constructor(
    private readonly root: string,
    private readonly now: () => number = Date.now,
  ) {}

  private dirOf(jobId: number) {
    return path.join(this.root, String(jobId));
  }

  async fetch(jobId: number, dir: string): Promise<boolean> {
    const base = this.dirOf(jobId);
    let meta: ArtifactMeta;
    try {
      meta = JSON.parse(fs.readFileSync(path.join(base, 'meta.json'), 'utf8')) as ArtifactMeta;
    } catch {
      return false;
    }
    if (meta.expiresAt !== null && meta.expiresAt <= this.now()) return false;
    copyDirInto(path.join(base, 'files'), dir);
    return true;
  }

  async store(jobId: number, root: string, files: readonly string[], expireInSeconds: number | null): Promise<void> {
    replaceDir(this.dirOf(jobId), (tmp) => {
      const filesDir = path.join(tmp, 'files');
      fs.mkdirSync(filesDir);
      copyFiles(root, filesDir, files);
      const meta: ArtifactMeta = { expiresAt: expireInSeconds === null ? null : this.now() + expireInSeconds * 1000, files: [...files] };
      fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(meta));
    });
  }

  /** Deletes artifacts past their expire_in; returns how many jobs' artifacts went. */
  purgeExpired(): number {
    let purged = 0;
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return 0;
    }
    for (const name of names) {
      const base = path.join(this.root, name);
      try {
        const meta = JSON.parse(fs.readFileSync(path.join(base, 'meta.json'), 'utf8')) as ArtifactMeta;
        if (meta.expiresAt !== null && meta.expiresAt <= this.now()) {
          fs.rmSync(base, { recursive: true, force: true });
          purged++;
        }
      } catch {
        // not an artifact directory (or one being written): leave it
      }
    }
    return purged;
  }
}

export class DirCache implements CacheTransport {
  constructor(private readonly root: string) {}

  async restore(key: string, dir: string): Promise<boolean> {
    const src = path.join(this.root, key);
    if (!fs.existsSync(src)) return false;
    copyDirInto(src, dir);
    return true;
  }

  async save(key: string, root: string, files: readonly string[]): Promise<void> {
    fs.mkdirSync(this.root, { recursive: true });
    replaceDir(path.join(this.root, key), (tmp) => copyFiles(root, tmp, files));
  }
}
