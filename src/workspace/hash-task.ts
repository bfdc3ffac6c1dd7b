import { createHash } from 'node:crypto';
import { chmodSync, closeSync, constants, copyFileSync, existsSync, fstatSync, futimesSync, openSync, renameSync, rmSync, statSync, utimesSync, write, writeSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { CHUNK_SIZE, readFullSync, updateHash, type FileDigest } from '../data/hash.js';
import { tempName, tempPathFor } from '../fsutil.js';
import { makeDirsSync } from '../make-dirs.js';

/** One file to hash; with `cacheRoot` its bytes are also stored as `files/md5/XX/REST` in one read pass. */
export interface HashTask {
  abs: string;
  legacy: boolean;
  cacheRoot?: string;
  /** Size from the walk; picks the copy strategy (the bytes actually read decide the result). */
  size?: number;
  /** `abs` is a cache object to restore (copy mode) at `restore.dest`: see runRestoreTask. */
  restore?: RestoreSpec;
}

/** Where and how a copy-mode checkout writes one cache object (a DVC 3 file object). */
export interface RestoreSpec {
  /** The work-tree path, from the confinement layer (safe-fs.ts): its directory is checked already. */
  dest: string;
  /** The object's md5: bytes that hash otherwise never take `dest`'s name. */
  expect: string;
  mode: number;
  /** This process hashed the object moments ago (a pull's download): a big one may be copied by the kernel. */
  kernelCopy: boolean;
}

/** The stat of a file as written, for the stat cache. */
export interface WrittenStat {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  mode: number;
}

/** With `restore`: `written` is set once the file is in place (an md5 other than `expect` means the object is corrupt; nothing was written). */
export type HashOutcome = { md5: string; size: number; stored: boolean; written?: WrittenStat } | { error: string; code?: string };

export function objectPathIn(cacheRoot: string, oid: string, legacy = false): string {
  // Concatenation, not path.join: join normalises, which costs more than a link at 20k objects.
  // The oid is checked hex by every reader of pointers and manifests, so there is nothing to normalise.
  const root = cacheRoot.endsWith('/') ? cacheRoot.slice(0, -1) : cacheRoot;
  return `${root}${legacy ? '' : '/files/md5'}/${oid.slice(0, 2)}/${oid.slice(2)}`;
}

/**
 * Objects reg publishes (or has verified) get an mtime that is a whole multiple of 1024 s (the
 * publish time rounded down). Any later rewrite of the bytes sets the mtime to "now", which has a
 * sub-second part (or, on coarse filesystems, is a multiple of 1024 s only by a 1-in-1024
 * chance): so a cheap stat tells whether an object still holds what was hashed when it entered
 * the cache, and link-type checkouts re-hash only objects that fail this test.
 */
const STAMP_QUANTUM_S = 1024;

export function verifiedMtimeS(nowMs = Date.now()): number {
  return Math.floor(nowMs / 1000 / STAMP_QUANTUM_S) * STAMP_QUANTUM_S;
}

export function hasVerifiedMtime(mtimeMs: number): boolean {
  return mtimeMs % (STAMP_QUANTUM_S * 1000) === 0;
}

/** Marks an open object file as verified (best effort: a cache shared with another user may refuse). */
export function stampVerifiedFd(fd: number): void {
  try {
    futimesSync(fd, Date.now() / 1000, verifiedMtimeS());
  } catch {
    // not ours: it is simply verified again next time
  }
}

/** stampVerifiedFd by path; false when the stamp could not be set. */
export function stampVerifiedPath(path: string): boolean {
  try {
    utimesSync(path, Date.now() / 1000, verifiedMtimeS());
    return true;
  } catch {
    return false;
  }
}

/** Renames, creating the `XX/` prefix directory only when it is missing. */
function renameIntoPlace(tmp: string, target: string): void {
  try {
    renameSync(tmp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    makeDirsSync(dirname(target));
    renameSync(tmp, target);
  }
}

/** Moves a finished temp file to its object path; false (temp removed) when the object exists already. */
function publishObject(tmp: string, cacheRoot: string, md5: string): boolean {
  const target = objectPathIn(cacheRoot, md5);
  if (existsSync(target)) {
    rmSync(tmp, { force: true });
    return false;
  }
  renameIntoPlace(tmp, target);
  return true;
}

/** Asked between chunks: true when the run was interrupted (Ctrl-C), so the task stops and cleans up. */
export type StopCheck = () => boolean;

function checkStop(stop: StopCheck | undefined): void {
  if (stop?.()) throw Object.assign(new Error('interrupted'), { code: 'ABORT_ERR' });
}

/** A task's cleanup: closes what it opened and removes a temp file it did not publish. */
function release(fd: number, out: number, tmp: string | undefined): void {
  if (fd !== -1) closeSync(fd);
  if (out !== -1) closeSync(out);
  if (tmp !== undefined) rmSync(tmp, { force: true });
}

function failure(task: HashTask, err: unknown): HashOutcome {
  const e = err as NodeJS.ErrnoException;
  return { error: `${task.abs}: ${e.message}`, code: e.code };
}

/**
 * Hashes a file and, when asked, copies it into the cache while hashing: the object's bytes are by
 * construction the bytes that were hashed, even if the file changes underneath us.
 */
export function runHashTask(task: HashTask, buffer: Buffer, onBytes?: (n: number) => void, stop?: StopCheck): HashOutcome {
  let fd = -1;
  let out = -1;
  let tmp: string | undefined;
  try {
    fd = openSync(task.abs, 'r');
    if (task.cacheRoot !== undefined) {
      tmp = join(task.cacheRoot, tempName());
      // Created read-only (0444, what DVC expects of cache objects); the open fd can still write.
      out = openSync(tmp, 'wx', 0o444);
    }
    const { md5, size } = copyHashingSync(fd, out, buffer, task.legacy, onBytes, stop);
    let stored = false;
    if (out !== -1 && tmp !== undefined) {
      // No fsync per object (git does not either by default): the rename keeps the cache
      // consistent for every reader; `reg` verifies objects before they leave the machine.
      stampVerifiedFd(out);
      closeSync(out);
      out = -1;
      stored = publishObject(tmp, task.cacheRoot!, md5);
      tmp = undefined;
    }
    return { md5, size, stored };
  } catch (err) {
    return failure(task, err);
  } finally {
    release(fd, out, tmp);
  }
}

/**
 * Reads `fd` to its end in whole buffers, hashing each (legacy: the dos2unix rule per 1 MiB
 * chunk, so `buffer` must be CHUNK_SIZE long) and, unless `out` is -1, writing it to `out`:
 * what is written is by construction what was hashed. With `expectedSize` below the buffer's
 * length, reads that many bytes in one read and stops there (no second read to see the end):
 * for a cache object whose hash is checked afterwards, the bytes hashed are the bytes written,
 * whatever the file did meanwhile.
 */
export function copyHashingSync(fd: number, out: number, buffer: Buffer, legacy: boolean, onBytes?: (n: number) => void, stop?: StopCheck, expectedSize?: number): FileDigest {
  const hash = createHash('md5');
  let size = 0;
  const once = expectedSize !== undefined && expectedSize < buffer.length;
  if (once) buffer = buffer.subarray(0, expectedSize);
  for (;;) {
    checkStop(stop);
    const filled = readFullSync(fd, buffer);
    if (filled === 0) break;
    const chunk = buffer.subarray(0, filled);
    updateHash(hash, chunk, legacy);
    if (out !== -1) {
      let written = 0;
      while (written < filled) written += writeSync(out, chunk, written, filled - written);
    }
    size += filled;
    onBytes?.(filled);
    if (once || filled < buffer.length) break;
  }
  return { md5: hash.digest('hex'), size };
}

/** Files at least this big are copied with the pipelined variant below. */
export const PIPELINE_MIN_BYTES = 32 * CHUNK_SIZE;
const PIPELINE_BUFFERS = 3;
const PIPELINE_BUFFER_SIZE = 4 * CHUNK_SIZE;

function writeAt(fd: number, buffer: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number) =>
      write(fd, buffer, offset, buffer.length - offset, position + offset, (err, n) => {
        if (err) reject(err);
        else if (offset + n < buffer.length) step(offset + n);
        else resolve();
      });
    step(0);
  });
}

/**
 * copyHashingSync for big files (plain md5 only): the writes run on libuv's threads while this
 * thread reads and hashes the next chunk, so a copy costs about max(hash, write) instead of
 * hash + write. Still by construction: every chunk written is the chunk that was hashed.
 */
export async function copyHashingPipelined(fd: number, out: number, onBytes?: (n: number) => void, stop?: StopCheck): Promise<FileDigest> {
  const inFlight: Array<Promise<void>> = new Array(PIPELINE_BUFFERS).fill(Promise.resolve());
  try {
    const buffers = Array.from({ length: PIPELINE_BUFFERS }, () => Buffer.allocUnsafe(PIPELINE_BUFFER_SIZE));
    const hash = createHash('md5');
    let size = 0;
    for (let k = 0; ; k++) {
      const slot = k % PIPELINE_BUFFERS;
      await inFlight[slot]; // the buffer is free again once its write is done
      checkStop(stop);
      const buffer = buffers[slot]!;
      const filled = readFullSync(fd, buffer);
      if (filled === 0) break;
      const chunk = buffer.subarray(0, filled);
      hash.update(chunk);
      inFlight[slot] = writeAt(out, chunk, size);
      size += filled;
      onBytes?.(filled);
      if (filled < buffer.length) break;
    }
    await Promise.all(inFlight);
    return { md5: hash.digest('hex'), size };
  } catch (err) {
    await Promise.allSettled(inFlight);
    throw err;
  }
}

/** runHashTask for big files going into the cache, with the pipelined copy. */
export async function runHashTaskPipelined(task: HashTask & { cacheRoot: string }, onBytes?: (n: number) => void, stop?: StopCheck): Promise<HashOutcome> {
  let fd = -1;
  let out = -1;
  let tmp: string | undefined;
  try {
    fd = openSync(task.abs, 'r');
    tmp = join(task.cacheRoot, tempName());
    out = openSync(tmp, 'wx', 0o444);
    const { md5, size } = await copyHashingPipelined(fd, out, onBytes, stop);
    stampVerifiedFd(out);
    closeSync(out);
    out = -1;
    const stored = publishObject(tmp, task.cacheRoot, md5);
    tmp = undefined;
    return { md5, size, stored };
  } catch (err) {
    return failure(task, err);
  } finally {
    release(fd, out, tmp);
  }
}

/**
 * Objects at least this big that this process has just hashed (a pull's downloads) are copied by
 * the kernel (copyInKernel), everything else by the hashing copy: for small files the two
 * measured the same (file creation dominates; docs/benchmarks.md, checkout-speed).
 */
export const KERNEL_COPY_MIN_BYTES = CHUNK_SIZE;

/**
 * Copies an object this process has hashed already to `tmp` in the kernel (a clone where the
 * filesystem can, copy_file_range otherwise): its bytes do not pass through this process again.
 * The object's stat is taken again afterwards: if anything wrote to it meanwhile (its ctime
 * moves), the copy is dropped and false returned, so the caller copies it the hashing way.
 */
export function copyInKernel(object: string, before: Stats, tmp: string, mode: number): boolean {
  copyFileSync(object, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  // The copy takes the object's mode (0444).
  chmodSync(tmp, mode);
  const after = statSync(object);
  if (after.ino === before.ino && after.size === before.size && after.mtimeMs === before.mtimeMs && after.ctimeMs === before.ctimeMs) return true;
  rmSync(tmp, { force: true });
  return false;
}

function writtenStat(st: Stats): WrittenStat {
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode };
}

/**
 * Copy-mode checkout of one cache object, all synchronous (on a hashing worker, or inline for a
 * few files): the object is hashed in the copy's read pass into a temp name beside `dest`, and
 * only bytes whose md5 is `expect` are renamed to `dest` (a mismatch removes the temp and
 * returns the md5 found, without `written`). An object whose stamp was gone is stamped once its
 * bytes are verified. The stat of the file written is taken from the still open output after
 * the rename (the rename moves its ctime): no path walk. Interrupted (`stop`) between chunks,
 * the temp file is removed. `moveIntoPlace` renames the temp file to `dest`: synchronous on the
 * workers; the main thread passes the asynchronous rename, so the next file's copy overlaps it.
 */
export async function runRestoreTask(
  task: HashTask & { restore: RestoreSpec },
  buffer: Buffer,
  onBytes?: (n: number) => void,
  stop?: StopCheck,
  moveIntoPlace: (tmp: string, dest: string) => void | Promise<void> = renameSync,
): Promise<HashOutcome> {
  const { dest, expect, mode, kernelCopy } = task.restore;
  let fd = -1;
  let out = -1;
  let tmp: string | undefined;
  try {
    checkStop(stop);
    fd = openSync(task.abs, 'r');
    const object = fstatSync(fd);
    tmp = tempPathFor(dest);
    if (kernelCopy && object.size >= KERNEL_COPY_MIN_BYTES && copyInKernel(task.abs, object, tmp, mode)) {
      await moveIntoPlace(tmp, dest);
      tmp = undefined;
      return { md5: expect, size: object.size, stored: false, written: writtenStat(statSync(dest)) };
    }
    out = openSync(tmp, 'wx', mode);
    const { md5, size } = object.size >= PIPELINE_MIN_BYTES && !task.legacy
      ? await copyHashingPipelined(fd, out, onBytes, stop)
      : copyHashingSync(fd, out, buffer, task.legacy, onBytes, stop, object.size);
    if (md5 !== expect) return { md5, size, stored: false };
    if (!hasVerifiedMtime(object.mtimeMs)) stampVerifiedFd(fd);
    await moveIntoPlace(tmp, dest);
    tmp = undefined;
    return { md5, size, stored: false, written: writtenStat(fstatSync(out)) };
  } catch (err) {
    return failure(task, err);
  } finally {
    release(fd, out, tmp);
  }
}

/**
 * A batch of restore tasks as columns: one worker message of a few arrays instead of an object
 * per file (structured cloning 20k nested task objects cost the main thread more than the copies'
 * bookkeeping).
 */
export interface PackedRestores {
  abs: string[];
  dest: string[];
  expect: string[];
  legacy: Uint8Array;
  mode: Uint32Array;
  kernelCopy: Uint8Array;
}

/** The batch as PackedRestores when every task in it is a restore, else undefined. */
export function packRestores(tasks: readonly HashTask[]): PackedRestores | undefined {
  const n = tasks.length;
  const packed: PackedRestores = { abs: new Array(n), dest: new Array(n), expect: new Array(n), legacy: new Uint8Array(n), mode: new Uint32Array(n), kernelCopy: new Uint8Array(n) };
  for (let i = 0; i < n; i++) {
    const t = tasks[i]!;
    if (t.restore === undefined) return undefined;
    packed.abs[i] = t.abs;
    packed.dest[i] = t.restore.dest;
    packed.expect[i] = t.restore.expect;
    packed.legacy[i] = t.legacy ? 1 : 0;
    packed.mode[i] = t.restore.mode;
    packed.kernelCopy[i] = t.restore.kernelCopy ? 1 : 0;
  }
  return packed;
}

export function unpackRestores(p: PackedRestores): Array<HashTask & { restore: RestoreSpec }> {
  return p.abs.map((abs, i) => ({ abs, legacy: p.legacy[i] === 1, restore: { dest: p.dest[i]!, expect: p.expect[i]!, mode: p.mode[i]!, kernelCopy: p.kernelCopy[i] === 1 } }));
}

/** Restore outcomes as columns: per file the written stat (5 numbers; NaN where nothing was written); mismatches and errors by index. */
export interface PackedRestoreOutcomes {
  written: Float64Array;
  mismatches: Array<[index: number, md5: string, size: number]>;
  errors: Array<[index: number, error: string, code: string | undefined]>;
}

const STAT_FIELDS = 5;

export function packRestoreOutcomes(outcomes: readonly HashOutcome[]): PackedRestoreOutcomes {
  const packed: PackedRestoreOutcomes = { written: new Float64Array(outcomes.length * STAT_FIELDS).fill(NaN), mismatches: [], errors: [] };
  outcomes.forEach((r, i) => {
    if ('error' in r) packed.errors.push([i, r.error, r.code]);
    else if (r.written === undefined) packed.mismatches.push([i, r.md5, r.size]);
    else packed.written.set([r.written.ino, r.written.size, r.written.mtimeMs, r.written.ctimeMs, r.written.mode], i * STAT_FIELDS);
  });
  return packed;
}

/** The outcomes packRestoreOutcomes packed; `expectAt(i)` is the md5 file `i` was restored under. */
export function unpackRestoreOutcomes(p: PackedRestoreOutcomes, expectAt: (i: number) => string): HashOutcome[] {
  const w = p.written;
  const out: HashOutcome[] = new Array(w.length / STAT_FIELDS);
  for (let i = 0, o = 0; i < out.length; i++, o += STAT_FIELDS) {
    if (!Number.isNaN(w[o]!)) out[i] = { md5: expectAt(i), size: w[o + 1]!, stored: false, written: { ino: w[o]!, size: w[o + 1]!, mtimeMs: w[o + 2]!, ctimeMs: w[o + 3]!, mode: w[o + 4]! } };
  }
  for (const [i, md5, size] of p.mismatches) out[i] = { md5, size, stored: false };
  for (const [i, error, code] of p.errors) out[i] = { error, code };
  return out;
}

/** Picks the restore for copy-mode checkouts, the pipelined copy for big files going into the cache, the plain pass otherwise. */
export async function runAnyHashTask(task: HashTask, buffer: Buffer, onBytes?: (n: number) => void, stop?: StopCheck): Promise<HashOutcome> {
  if (task.restore !== undefined) return runRestoreTask(task as HashTask & { restore: RestoreSpec }, buffer, onBytes, stop);
  if (task.cacheRoot !== undefined && !task.legacy && (task.size ?? 0) >= PIPELINE_MIN_BYTES) {
    return runHashTaskPipelined({ ...task, cacheRoot: task.cacheRoot }, onBytes, stop);
  }
  return runHashTask(task, buffer, onBytes, stop);
}
