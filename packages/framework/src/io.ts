/**
 * Output files. Every write is atomic: the bytes go to a temporary file in the same folder, are fsynced, and the file
 * is renamed over the target (then the folder is fsynced), so a crash leaves the old complete file or the new one.
 * Run folders are created with a non-recursive mkdir, which fails if the folder exists: a run never writes into
 * another run's folder.
 */
import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readSync, realpathSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { outputError } from './errors.js';

/**
 * Crash testing: with WEIGHTSHARE_CRASH_AT_WRITE=N in the environment, the process kills itself with SIGKILL in the
 * middle of its N-th atomic write (half the bytes in the temporary file, nothing renamed) — a real crash at the worst
 * moment, used by the resume tests. Unset, it costs one comparison.
 */
const crashAt = Number(process.env.WEIGHTSHARE_CRASH_AT_WRITE ?? 0);
let writes = 0;

/** A path that exists but is not a regular file weightshare may read; `kind` says what it is instead. */
export class NotARegularFile extends Error {
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path} is ${kind}, not a regular file`);
  }
}

function kindOf(st: Stats): string | undefined {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return st.isFile() ? undefined : 'not a file';
}

/** Kernel pseudo-files: they report size 0 and may hold anything (the environment, memory maps). */
const PSEUDO_FS = /^\/(proc|sys)(\/|$)/;

/**
 * Reads a regular file completely, and nothing else: a folder, a device (`/dev/zero`), a FIFO (opened without
 * blocking) or a `/proc` / `/sys` pseudo-file is refused with {@link NotARegularFile} before a byte is read, and
 * no more than the size the file had when opened is read. Other failures are the `fs` error (ENOENT, EACCES).
 */
export function readRegularFile(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    const kind = kindOf(st);
    if (kind) throw new NotARegularFile(path, kind);
    if (PSEUDO_FS.test(realpathSync(path))) throw new NotARegularFile(path, 'a /proc or /sys pseudo-file');
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` atomically. @throws WeightshareError OUTPUT_ERROR */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  let fd: number | undefined;
  try {
    // a leftover (or planted) file or symlink at the temporary name is removed, never written through
    try {
      unlinkSync(tmp);
    } catch {
      /* none */
    }
    fd = openSync(tmp, 'wx');
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    fsyncDir(dir);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw outputError(path, e);
  }
}

/** Writes all of `data` at the file's start; the crash test's kill point (see WEIGHTSHARE_CRASH_AT_WRITE). */
function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (crashAt > 0 && ++writes === crashAt) {
    writeSync(fd, buf, 0, buf.length >> 1);
    fsyncSync(fd);
    process.kill(process.pid, 'SIGKILL');
  }
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/**
 * Writes `data` as a new file `path` without waiting for the disk: whatever was at that name (a file of an earlier
 * attempt, a planted symbolic link) is removed first, never written through. For files nobody reads until a later
 * commit point makes them part of something (a checkpoint's matrices before its checkpoint.json), which fsyncs them
 * first: with `keepOpen` the file stays open and its descriptor is returned for that (the caller closes it).
 * `inNewFolder`: the folder was just created by this process, so the name is free (nothing is removed first).
 * @throws WeightshareError OUTPUT_ERROR
 */
export function writeFileUnsynced(path: string, data: string | Uint8Array, keepOpen = false, inNewFolder = false): number | undefined {
  let fd: number | undefined;
  try {
    // (in a folder this process just made there is nothing to remove; 'wx' still refuses anything found)
    if (!inNewFolder)
      try {
        unlinkSync(path);
      } catch {
        /* none */
      }
    fd = openSync(path, 'wx');
    writeAll(fd, data);
    if (keepOpen) return fd;
    closeSync(fd);
    return undefined;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    throw outputError(path, e);
  }
}

/**
 * Makes `path` a second name (a hard link) of the complete file `existing`, atomically: the link is made under a
 * temporary name and renamed over `path`. Identical bytes are then stored once. Returns false, touching nothing,
 * where links are not possible (another filesystem, a filesystem without them): the caller then writes the bytes.
 * Counts as a write for WEIGHTSHARE_CRASH_AT_WRITE (killed with the link made, nothing renamed).
 */
export function linkFileAtomic(existing: string, path: string): boolean {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  try {
    unlinkSync(tmp);
  } catch {
    /* none */
  }
  try {
    linkSync(existing, tmp);
  } catch {
    return false;
  }
  if (crashAt > 0 && ++writes === crashAt) process.kill(process.pid, 'SIGKILL');
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw outputError(path, e);
  }
  // rename(2) does nothing when both names already link the same file (a resumed run): the temporary name stays
  try {
    unlinkSync(tmp);
  } catch {
    /* renamed, as usual */
  }
  fsyncDir(dir);
  return true;
}

/** Makes folder `dir`'s entries durable, where the filesystem allows fsync on folders. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some filesystems do not allow fsync on folders */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Creates a new, empty run folder `<root>/<name>-<n>` with the first free n (1, 2, …).
 * @throws WeightshareError OUTPUT_ERROR
 */
export function createRunDir(root: string, name: string): string {
  try {
    mkdirSync(root, { recursive: true });
  } catch (e) {
    throw outputError(root, e);
  }
  for (let n = 1; n < 1_000_000; n++) {
    const dir = join(root, `${name}-${n}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw outputError(dir, e);
    }
  }
  throw outputError(root, new Error('too many runs with this name'));
}
