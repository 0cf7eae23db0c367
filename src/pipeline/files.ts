// Project files as the compiler sees them: read by path, listed for globs. The fs-backed version
// walks lazily because most pipelines never use `exists` or include globs.

import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type PicomatchModule from 'picomatch';
import type { ProjectFiles } from './types.js';

export const PIPELINE_FILES = ['.gantry.yml', '.gitlab-ci.yml'] as const;

export function findPipelineFile(files: ProjectFiles): string | null {
  for (const f of PIPELINE_FILES) if (files.read(f) !== null) return f;
  return null;
}

export function dirProjectFiles(rootDir: string): ProjectFiles {
  const root = path.resolve(rootDir);
  let listing: string[] | null = null;
  return {
    read(rel: string): string | null {
      const abs = path.resolve(root, rel);
      // The pipeline cannot read outside its project, even through `include: local: ../x`.
      if (abs !== root && !abs.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return null;
      try {
        return readFileSync(abs, 'utf8');
      } catch {
        return null;
      }
    },
    list(): string[] {
      if (listing === null) listing = walk(root);
      return listing;
    },
  };
}

function walk(root: string): string[] {
  const out: string[] = [];
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    let dirents;
    try {
      dirents = readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const d of dirents) {
      if (d.name === '.git') continue;
      const p = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) stack.push(p);
      else if (d.isFile()) out.push(p);
    }
  }
  return out.sort();
}

/** An in-memory ProjectFiles, for tests and for callers that already hold the files. */
export function memoryProjectFiles(files: Record<string, string>): ProjectFiles {
  const names = Object.keys(files).sort();
  return { read: (p) => files[normalizePath(p)] ?? null, list: () => names };
}

export function normalizePath(p: string): string {
  return p.replace(/^\.\//, '').replace(/^\/+/, '');
}

// Loaded on first glob: most pipelines have none, and `gantry run` starts cold.
let picomatchModule: typeof PicomatchModule | null = null;
function picomatch(): typeof PicomatchModule {
  picomatchModule ??= createRequire(import.meta.url)('picomatch') as typeof PicomatchModule;
  return picomatchModule;
}

const matchers = new Map<string, (s: string) => boolean>();

/** GitLab matches with File.fnmatch(PATHNAME | DOTMATCH | EXTGLOB): `**` crosses directories, dots match. */
export function globMatcher(glob: string): (s: string) => boolean {
  let m = matchers.get(glob);
  if (!m) {
    m = picomatch()(normalizePath(glob), { dot: true });
    matchers.set(glob, m);
  }
  return m;
}

export function isGlob(p: string): boolean {
  return picomatch().scan(p).isGlob;
}
