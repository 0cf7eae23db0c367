// Artifact and cache archives (docs/PROTOCOL.md §11): one gzip-compressed tar per upload, with
// relative paths, symlinks kept as symlinks and permission bits kept; no owner, so an archive made
// on one machine means the same on another.
//
// An archive is never trusted. The same rules (`checkEntries`) run where an archive is made (so
// the agent fails its own bad upload early), where the server receives one, and where an agent
// extracts one: no absolute path, no `..` segment, no hard link, device or FIFO, no symlink that
// leads outside the archive, and nothing below a symlink of the archive (writing `a/x` after
// `a -> /etc` is how archives escape extraction directories).
//
// The writer is ours and small: node-tar's Pack either records owners or, in its portable mode,
// rewrites modes (0664 becomes 0644), and it turns hard-linked files into Link entries, which the
// rules refuse. node-tar parses and extracts.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Header, Parser, Pax, Unpack, type ReadEntry } from 'tar';
import { GantryError } from '../domain/errors.js';

export interface ArchiveInfo {
  /** SHA-256 of the .tar.gz bytes: the blob name. */
  sha256: string;
  /** Bytes of the .tar.gz. */
  size: number;
  /** Regular files and symlinks in it (directories are not counted). */
  files: number;
}

/** What the rules look at in one entry, whether read from disk or from an archive. */
interface EntryFacts {
  path: string;
  type: string;
  linkpath?: string | undefined;
  mode?: number | undefined;
}

interface PlannedEntry extends EntryFacts {
  type: 'File' | 'Directory' | 'SymbolicLink';
  abs: string;
  size: number;
  mode: number;
  mtime: Date;
}

const REGULAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
/** node-tar refuses deeper paths when extracting; refusing them in the check keeps extraction all-or-nothing. */
const MAX_DEPTH = 1024;
/** Linux follows at most 40 symlinks in one lookup; a longer chain in an archive is refused. */
const MAX_SYMLINK_HOPS = 40;
const BLOCK = 512;

/**
 * Archives `files` (paths relative to `root`, as `collectPaths` gives them) into `destFile`, in
 * the order given. A directory in the list becomes a directory entry of its own (so an empty
 * directory survives), without its contents: those are archived only if listed. Sockets, FIFOs
 * and devices are left out. Throws GANTRY_E_ARTIFACT_PATH for what the server would refuse, such
 * as a symlink that points outside the listed tree.
 */
export async function createArchive(root: string, files: readonly string[], destFile: string): Promise<ArchiveInfo> {
  const entries: PlannedEntry[] = [];
  for (const rel of new Set(files)) {
    const name = rel.split(path.sep).join('/').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    const abs = path.join(root, rel);
    const st = await fs.promises.lstat(abs);
    const common = { abs, mode: st.mode & 0o777, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
    if (st.isFile()) entries.push({ ...common, path: name, type: 'File', size: st.size });
    else if (st.isDirectory()) entries.push({ ...common, path: `${name}/`, type: 'Directory', size: 0 });
    else if (st.isSymbolicLink()) {
      const target = (await fs.promises.readlink(abs)).split(path.sep).join('/');
      entries.push({ ...common, path: name, type: 'SymbolicLink', linkpath: target, size: 0 });
    }
  }
  const count = checkEntries(entries);

  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      tarStream(entries),
      createGzip(),
      async function* (gz: AsyncIterable<Buffer>) {
        for await (const chunk of gz) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      fs.createWriteStream(destFile),
    );
  } catch (err) {
    await fs.promises.rm(destFile, { force: true });
    throw err;
  }
  return { sha256: hash.digest('hex'), size, files: count };
}

async function* tarStream(entries: readonly PlannedEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    const size = e.type === 'File' ? e.size : 0;
    // uid/gid 0 and no names: the archive must not depend on the accounts of the machine it came from.
    const header = new Header({
      path: e.path,
      mode: e.mode,
      uid: 0,
      gid: 0,
      size,
      mtime: e.mtime,
      type: e.type,
      linkpath: e.linkpath ?? '',
      uname: '',
      gname: '',
    });
    // A path or link target too long for ustar goes into a pax header before the entry.
    if (header.encode()) yield new Pax({ path: e.path, linkpath: e.linkpath, size, mtime: e.mtime }).encode();
    yield header.block as Buffer;
    if (size > 0) yield* fileBody(e.abs, size);
  }
  yield Buffer.alloc(2 * BLOCK);
}

async function* fileBody(abs: string, size: number): AsyncGenerator<Buffer> {
  let read = 0;
  // O_NOFOLLOW: the file was a regular file when listed; if it was swapped for a symlink since,
  // its target is not what was listed.
  const handle = await fs.promises.open(abs, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  for await (const chunk of handle.createReadStream({ start: 0, end: size - 1 })) {
    read += (chunk as Buffer).length;
    yield chunk as Buffer;
  }
  // The header already promised `size` bytes; a file that shrank would corrupt the archive.
  if (read !== size) throw new Error(`${abs} changed while it was being archived`);
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  if (pad > 0) yield Buffer.alloc(pad);
}

/**
 * Reads the archive without extracting it and applies the rules. Throws GANTRY_E_ARTIFACT_PATH
 * naming the first offending entry, GANTRY_E_INVALID_REQUEST if it is not a readable
 * gzip-compressed tar.
 */
export async function checkArchiveEntries(file: string): Promise<{ files: number }> {
  return { files: checkEntries(await readEntries(file)) };
}

/**
 * Extracts into `dest` (created if missing), replacing files that are there. The whole archive is
 * checked first and refused before anything is written, and so is an archive with an entry that
 * would pass through a symlink already in `dest`. Permission bits are restored exactly (not
 * reduced by the umask); owners are not.
 */
export async function extractArchive(file: string, dest: string): Promise<{ files: number }> {
  const entries = await readEntries(file);
  const files = checkEntries(entries);
  await fs.promises.mkdir(dest, { recursive: true });
  const root = await fs.promises.realpath(dest);
  await refuseSymlinksInDest(root, entries);
  if (entries.length === 0) return { files };

  await new Promise<void>((resolve, reject) => {
    let next = 0;
    const input = fs.createReadStream(file);
    const unpack = new Unpack({
      cwd: root,
      // Every warning (a path it would sanitize, a write through a symlink, a bad block) is an error.
      strict: true,
      preservePaths: false,
      preserveOwner: false,
      maxDecompressionRatio: Infinity,
      // What is extracted must be what was checked: the file could have changed in between.
      filter: (p, entry) => {
        const checked = entries[next++];
        const e = entry as ReadEntry;
        if (!checked || checked.path !== p || checked.type !== e.type || checked.linkpath !== e.linkpath) {
          unpack.abort(changedSinceChecked(file, p));
          return false;
        }
        return true;
      },
    });
    unpack.on('ignoredEntry', (e: ReadEntry) => unpack.abort(changedSinceChecked(file, e.path)));
    const fail = (err: Error) => {
      input.destroy();
      reject(err);
    };
    input.on('error', fail);
    unpack.on('error', fail);
    unpack.on('close', () => resolve());
    input.pipe(unpack as unknown as NodeJS.WritableStream);
  }).catch((err: unknown) => {
    throw asArchiveError(err, file);
  });

  await restoreModes(root, entries);
  return { files };
}

function changedSinceChecked(file: string, entry: string): GantryError {
  return new GantryError('GANTRY_E_ARTIFACT_PATH', `${path.basename(file)} changed after it was checked (at entry ${JSON.stringify(entry)})`);
}

/** Every entry of the archive, in order, bodies skipped. */
async function readEntries(file: string): Promise<EntryFacts[]> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const magic = Buffer.alloc(2);
    await handle.read(magic, 0, 2, 0);
    if (magic[0] !== 0x1f || magic[1] !== 0x8b) {
      throw new GantryError('GANTRY_E_INVALID_REQUEST', `${path.basename(file)} is not a gzip-compressed tar`);
    }
  } finally {
    await handle.close();
  }
  const entries: EntryFacts[] = [];
  let sawEnd = false;
  await new Promise<void>((resolve, reject) => {
    const input = fs.createReadStream(file);
    // gzip cannot compress more than ~1032:1, so node-tar's default ratio limit (1000) would only
    // refuse archives of large all-zero files; the archive's own size is bounded by maxBlobBytes.
    const parser = new Parser({ strict: true, maxDecompressionRatio: Infinity });
    parser.on('entry', (e: ReadEntry) => {
      entries.push({ path: e.path, type: e.type, linkpath: e.linkpath, mode: e.mode });
      e.resume();
    });
    // Entries node-tar would skip when extracting (unknown types, oversized pax headers): the
    // rules refuse them rather than let the two readings of the archive differ.
    parser.on('ignoredEntry', (e: ReadEntry) => {
      entries.push({ path: e.path, type: e.meta ? `oversized ${e.type}` : e.type });
    });
    parser.on('eof', () => (sawEnd = true));
    const fail = (err: Error & { tarCode?: string }) => {
      input.destroy();
      // node-tar calls an archive with no entries unrecognized; one that ends properly (two zero
      // blocks) is simply empty, as an artifact step that matched no file makes.
      if (err.tarCode === 'TAR_BAD_ARCHIVE' && sawEnd && entries.length === 0) resolve();
      else reject(err);
    };
    input.on('error', fail);
    parser.on('error', fail);
    parser.on('close', () => resolve());
    input.pipe(parser as unknown as NodeJS.WritableStream);
  }).catch((err: unknown) => {
    throw asArchiveError(err, file);
  });
  return entries;
}

/** node-tar's errors as Gantry's: what the archive is, not how node-tar noticed. fs errors pass as they are. */
function asArchiveError(err: unknown, file: string): unknown {
  if (err instanceof GantryError) return err;
  const e = err as Error & { code?: string; tarCode?: string; path?: string };
  const name = path.basename(file);
  if (e?.code === 'TAR_SYMLINK_ERROR') {
    return new GantryError('GANTRY_E_ARTIFACT_PATH', `${name}: an entry would be written through the symlink ${JSON.stringify(e.path)}`);
  }
  if (e?.tarCode === 'TAR_BAD_ARCHIVE' || e?.tarCode === 'TAR_ENTRY_INVALID' || e?.tarCode === 'TAR_ABORT') {
    return new GantryError('GANTRY_E_INVALID_REQUEST', `${name} is not a readable gzip-compressed tar: ${e.message}`);
  }
  return err;
}

function refuse(entry: string, why: string): never {
  throw new GantryError('GANTRY_E_ARTIFACT_PATH', `archive entry ${JSON.stringify(entry)} ${why}`);
}

/** Path segments without empty and `.` ones; `\` counts as a separator too, as it does on Windows. */
function segmentsOf(p: string): string[] {
  return p.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
}

function isAbsoluteAnywhere(p: string): boolean {
  return p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:/.test(p);
}

/**
 * Case and Unicode folded, as a case-insensitive filesystem (macOS, Windows) sees names: `A` and
 * `a` are one file there, so a symlink `a` also catches `A/x`.
 */
function fold(p: string): string {
  return p.normalize('NFC').toLowerCase();
}

/**
 * The rules. Returns the number of regular files and symlinks; throws GANTRY_E_ARTIFACT_PATH
 * naming the first entry that breaks one.
 */
function checkEntries(entries: readonly EntryFacts[]): number {
  let files = 0;
  // Symlinks as they stand after extraction (a later entry of the same name replaces one), for
  // resolving targets; exact names for case-sensitive filesystems, folded ones for the others.
  const finalLinks = new Map<string, string>();
  const finalLinksFolded = new Map<string, string>();
  // Every name that is a symlink at some point of the extraction: nothing may go below one.
  const everLinked = new Set<string>();
  const named: { name: string; segments: string[]; entry: EntryFacts }[] = [];

  for (const e of entries) {
    const p = e.path;
    if (e.type === 'Link') refuse(p, `is a hard link (to ${JSON.stringify(e.linkpath ?? '')})`);
    if (e.type === 'CharacterDevice' || e.type === 'BlockDevice') refuse(p, 'is a device');
    if (e.type === 'FIFO') refuse(p, 'is a FIFO');
    const isFile = REGULAR_FILE_TYPES.has(e.type);
    if (!isFile && e.type !== 'Directory' && e.type !== 'SymbolicLink') refuse(p, `has a type Gantry does not extract (${e.type})`);
    if (isAbsoluteAnywhere(p)) refuse(p, 'has an absolute path');
    const segments = segmentsOf(p);
    if (segments.includes('..')) refuse(p, 'has a `..` segment');
    if (segments.length === 0 && e.type !== 'Directory') refuse(p, 'names the archive root itself');
    if (segments.length > MAX_DEPTH) refuse(p, `is nested deeper than ${MAX_DEPTH} levels`);
    const name = segments.join('/');

    if (e.type === 'SymbolicLink') {
      const target = e.linkpath ?? '';
      if (target === '') refuse(p, 'is a symlink without a target');
      if (isAbsoluteAnywhere(target)) refuse(p, `is a symlink to the absolute path ${JSON.stringify(target)}`);
      finalLinks.set(name, target);
      finalLinksFolded.set(fold(name), target);
      everLinked.add(fold(name));
      files++;
    } else {
      finalLinks.delete(name);
      finalLinksFolded.delete(fold(name));
      if (isFile) files++;
    }
    named.push({ name, segments, entry: e });
  }

  for (const { segments, entry } of named) {
    for (let i = 1; i < segments.length; i++) {
      const prefix = segments.slice(0, i).join('/');
      if (everLinked.has(fold(prefix))) refuse(entry.path, `lies below ${JSON.stringify(prefix)}, a symlink of the same archive`);
    }
    if (entry.type === 'SymbolicLink') {
      const dir = segments.slice(0, -1);
      const target = entry.linkpath ?? '';
      for (const [links, key] of [
        [finalLinks, (s: string) => s],
        [finalLinksFolded, fold],
      ] as const) {
        const verdict = resolveWithin(links, key, dir, target);
        if (verdict === 'outside') refuse(entry.path, `is a symlink to ${JSON.stringify(target)}, which leads outside the archive`);
        if (verdict === 'loop') refuse(entry.path, `is a symlink to ${JSON.stringify(target)}, which does not resolve (a loop or a chain of over ${MAX_SYMLINK_HOPS} links)`);
      }
    }
  }
  return files;
}

/**
 * Resolves `target` from the directory `dir` (segments below the archive root) the way the
 * operating system will once the archive is extracted: following the archive's own symlinks, so
 * that `l -> d/s/..` with `d/s -> ..` is seen to leave the root although it reads as `d`.
 */
function resolveWithin(
  links: ReadonlyMap<string, string>,
  key: (name: string) => string,
  dir: readonly string[],
  target: string,
): 'inside' | 'outside' | 'loop' {
  const at = [...dir];
  let todo = target.split(/[\\/]+/);
  let hops = 0;
  while (todo.length > 0) {
    const seg = todo.shift() as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (at.length === 0) return 'outside';
      at.pop();
      continue;
    }
    at.push(seg);
    const link = links.get(key(at.join('/')));
    if (link === undefined) continue;
    if (++hops > MAX_SYMLINK_HOPS) return 'loop';
    if (isAbsoluteAnywhere(link)) return 'outside';
    at.pop();
    todo = [...link.split(/[\\/]+/), ...todo];
  }
  return 'inside';
}

/**
 * node-tar refuses to write through a symlink, but only when it gets there, with half the archive
 * written. Looking first makes that refusal all-or-nothing too.
 */
async function refuseSymlinksInDest(root: string, entries: readonly EntryFacts[]): Promise<void> {
  const seen = new Map<string, 'dir' | 'symlink' | 'other' | 'absent'>();
  for (const e of entries) {
    const segments = segmentsOf(e.path);
    for (let i = 1; i < segments.length; i++) {
      const prefix = segments.slice(0, i).join('/');
      let kind = seen.get(prefix);
      if (kind === undefined) {
        try {
          const st = await fs.promises.lstat(path.join(root, prefix));
          kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'other';
        } catch {
          kind = 'absent';
        }
        seen.set(prefix, kind);
      }
      if (kind === 'symlink') refuse(e.path, `would be written through ${JSON.stringify(prefix)}, a symlink already in the destination`);
      if (kind !== 'dir') break;
    }
  }
}

/**
 * node-tar creates files with the archive's mode less the umask, and leaves the mode of a file it
 * overwrites as it was; the archive's permission bits are restored here. Directories last and
 * deepest first, so that a read-only directory does not stop the files inside it.
 */
async function restoreModes(root: string, entries: readonly EntryFacts[]): Promise<void> {
  const last = new Map<string, EntryFacts>();
  for (const e of entries) last.set(segmentsOf(e.path).join('/'), e);
  const files: [string, number][] = [];
  const dirs: [string, number][] = [];
  for (const [name, e] of last) {
    if (name === '' || e.mode === undefined) continue;
    if (REGULAR_FILE_TYPES.has(e.type)) files.push([name, e.mode & 0o777]);
    else if (e.type === 'Directory') dirs.push([name, e.mode & 0o777]);
  }
  dirs.sort((a, b) => b[0].split('/').length - a[0].split('/').length);
  for (const [name, mode] of [...files, ...dirs]) {
    const abs = path.join(root, name);
    // lstat first: chmod follows symlinks, and only what the archive made a file or a directory is touched.
    const st = await fs.promises.lstat(abs);
    if ((st.isFile() || st.isDirectory()) && (st.mode & 0o777) !== mode) await fs.promises.chmod(abs, mode);
  }
}
