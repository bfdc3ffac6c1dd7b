import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, readdirSync, readSync, renameSync, rmSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { dirname, sep } from 'node:path';
import { configError, errnoCode, withPath } from './errors.js';
import { makeDirsSync } from './make-dirs.js';

/**
 * Every temp file reg creates (cache inserts, downloads, remote objects, workspace files, config
 * and pointer writes) is named `.regtmp-<process token>-<counter>` and lives next to its target,
 * so the final rename stays on one filesystem. The token is drawn once per process (and per
 * worker thread), the counter makes each name unique: no randomness per file.
 */
export const TEMP_PREFIX = '.regtmp-';
const TOKEN = `${process.pid.toString(36)}${randomBytes(4).toString('hex')}`;
let counter = 0;

/** Temp names written by reg before the `.regtmp-` marker: `.<name>.<12 hex>.tmp` and `.<16 hex>.tmp`. */
const OLD_TEMP = /^\.(?:.*\.)?(?:[0-9a-f]{12}|[0-9a-f]{16})\.tmp$/;

/** A stale temp file is one older than this; newer ones may belong to a run still going. */
export const STALE_TEMP_MS = 60 * 60 * 1000;

export function tempName(): string {
  return `${TEMP_PREFIX}${TOKEN}-${(counter++).toString(36)}`;
}

/** A fresh temp path in the directory of `target`. */
export function tempPathFor(target: string): string {
  const cut = target.lastIndexOf('/');
  return cut === -1 ? tempName() : `${target.slice(0, cut)}/${tempName()}`;
}

/** True for names reg uses for temp files (so walks never record them and cleanups may remove them). */
export function isTempName(name: string): boolean {
  return name.charCodeAt(0) === 46 /* . */ && (name.startsWith(TEMP_PREFIX) || OLD_TEMP.test(name));
}

/**
 * Removes temp files older than `maxAgeMs` directly in `dir` (left by killed runs), and temp
 * folders (an import's copy) when nothing in them is newer: a copy still running keeps writing
 * into its tree. Best effort: a missing directory or a file that vanished meanwhile is not an
 * error. Returns how many went.
 */
export function removeStaleTemps(dir: string, maxAgeMs = STALE_TEMP_MS, now = Date.now()): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!isTempName(name)) continue;
    const abs = `${dir}/${name}`;
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined || now - st.mtimeMs < maxAgeMs) continue;
    try {
      if (!st.isDirectory()) unlinkSync(abs);
      else if (name.startsWith(TEMP_PREFIX) && !touchedSince(abs, now - maxAgeMs)) rmSync(abs, { recursive: true });
      else continue;
      removed++;
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/** True when anything in the folder `abs` (not following links) was modified at or after `since`. */
function touchedSince(abs: string, since: number): boolean {
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const path = `${abs}/${entry.name}`;
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.mtimeMs >= since || (st.isDirectory() && touchedSince(path, since))) return true;
  }
  return false;
}

/**
 * Writes `target` through a temp file in its directory (which must exist), fsynced, then renamed.
 * `durable: false` skips the fsync, for files reg regenerates and checks byte for byte on the next
 * run (the catalog's site: one fsync per file was most of a 3,000-file build). `beforeRename`
 * may throw to keep what was written from ever taking the target's name (a hash check).
 */
export function writeFileInPlaceSync(target: string, data: string | Buffer | Iterable<string | Buffer>, mode = 0o666, durable = true, beforeRename?: () => void): void {
  writeThenNameSync(tempPathFor(target), data, {
    mode,
    durable,
    shownAs: target,
    targetOf: () => {
      beforeRename?.();
      return target;
    },
  });
}

export interface WriteThenName {
  mode: number;
  durable: boolean;
  shownAs: string;
  targetOf: () => string | undefined;
}

/**
 * Writes `data` to the new temp file `tmp` (fsynced unless `durable` is false), then renames it
 * to the path `targetOf()` answers once every byte is written: content named after its own bytes
 * (a content address) has its name only then. `targetOf` may throw (a failed hash check), or
 * answer undefined (the content is there already), to keep the bytes from taking any name: the
 * temp is removed. The target must be on the temp's filesystem, its directory existing. Errors
 * name `shownAs` (the file being written) until the target is known.
 */
export function writeThenNameSync(tmp: string, data: string | Buffer | Iterable<string | Buffer>, how: WriteThenName): string | undefined {
  const { mode, durable, shownAs, targetOf } = how;
  let target: string | undefined;
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      // writeSync may write only part (a disk filling up writes what fits, and only the next write fails with ENOSPC): every byte is written, or the write throws.
      if (typeof data === 'string' || Buffer.isBuffer(data)) writeAllSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      // In parts: a file built from a million rows need never exist whole in memory, as text and again as bytes.
      // A Buffer part is written before the next is asked for, so a producer may refill one buffer.
      else for (const part of data) writeAllSync(fd, typeof part === 'string' ? Buffer.from(part, 'utf8') : part);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    target = targetOf();
    if (target === undefined) rmSync(tmp, { force: true });
    else renameSync(tmp, target);
    return target;
  } catch (err) {
    rmSync(tmp, { force: true });
    // Writes through the descriptor carry no path: name the file being written (ENOSPC, EIO ...).
    throw withPath(err, target ?? shownAs);
  }
}

function writeAllSync(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}

/**
 * Atomic write for reg's own files (config, stash records, state under `.reg/`), creating the
 * directory. Work-tree files go through `src/workspace/safe-fs.ts` instead.
 */
export function writeFileAtomicSync(target: string, data: string | Buffer | Iterable<string | Buffer>, mode = 0o666, durable = true, beforeRename?: () => void): void {
  makeDirsSync(dirname(target));
  writeFileInPlaceSync(target, data, mode, durable, beforeRename);
}

/**
 * Opens `abs` read-only without following a symlink (ELOOP when it is one) or blocking on a FIFO,
 * and gives `use` the descriptor and what fstat says it is: what is checked is what is read, with
 * no window for a swap between the two. Closes it after.
 */
export function withFileNoFollowSync<T>(abs: string, use: (fd: number, st: Stats) => T): T {
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    return use(fd, fstatSync(fd));
  } finally {
    closeSync(fd);
  }
}

/**
 * The bytes of the regular file at `abs` when it holds at most `maxBytes`, else undefined: nothing
 * there, a symlink (followed only with `followLinks`, and then only to a regular file), a FIFO,
 * device or directory, a bigger file, or any read error. Opened without blocking on a FIFO, and
 * what fstat saw is what is read: for files a commit or a hand may have planted (reg's own memos
 * and state, hooks), where a link to `/dev/zero` would read forever and a FIFO would hang.
 */
export function readRegularFileSync(abs: string, options: { maxBytes: number; followLinks?: boolean }): Buffer | undefined {
  const { maxBytes, followLinks = false } = options;
  const refused = new Error('not a regular file, or too large');
  try {
    return readRegularFileOrThrowSync(abs, { maxBytes, tooBig: () => refused }, { followLinks, notAFile: () => refused });
  } catch {
    return undefined;
  }
}

/**
 * The bytes of the regular file at `abs`, at most `limit.maxBytes` of them (else `limit.tooBig()`):
 * opened without blocking on a FIFO (and, unless `followLinks`, without following a symlink:
 * ELOOP), and `notAFile()` thrown for anything fstat does not call a regular file. What fstat saw
 * is what is read.
 */
export function readRegularFileOrThrowSync(abs: string, limit: ReadLimit, how: { followLinks: boolean; notAFile: () => Error }): Buffer {
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NONBLOCK | (how.followLinks ? 0 : constants.O_NOFOLLOW));
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw how.notAFile();
    return readFdUpTo(fd, limit, st.size);
  } finally {
    closeSync(fd);
  }
}

/** How much of a file reg reads, and the error for a bigger one (see readFdUpTo). */
export interface ReadLimit {
  maxBytes: number;
  tooBig: () => Error;
}

/**
 * The bytes of the open file `fd` from where it stands, at most `limit.maxBytes` of them: for a
 * bigger file `limit.tooBig()` is thrown, before anything is read when fstat already says so, else
 * (a file growing while it is read) as soon as one byte too many arrives. `knownSize`: what the
 * caller's own fstat of `fd` said, so it is not asked twice. A tracked file costs
 * git little to store and much to read: four GiB of zeros are four MiB in a commit, and read
 * whole they took reg 40 s and 4 GiB of memory to end in a V8 error.
 */
export function readFdUpTo(fd: number, limit: ReadLimit, knownSize?: number): Buffer {
  const { maxBytes, tooBig } = limit;
  const size = knownSize ?? fstatSync(fd).size;
  if (size > maxBytes) throw tooBig();
  let buf = Buffer.allocUnsafe(size + 1);
  let length = 0;
  for (;;) {
    if (length === buf.length) {
      if (length > maxBytes) throw tooBig();
      const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2 + 4096));
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
    const n = readSync(fd, buf, length, buf.length - length, null);
    if (n === 0) return buf.subarray(0, length);
    length += n;
  }
}

/** `path` is `dir` itself or below it (both absolute and already resolved, e.g. by realpath). */
export function isAtOrBelow(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** What withRegularFileIfAny found at a path instead of a regular file. */
export type NotARegularFile = 'symlink' | 'not-a-file';

/**
 * `use` of the regular file at `abs`, or undefined when nothing is there (ENOENT/ENOTDIR). A
 * symlink is never followed and nothing else (directory, FIFO, device) is opened for reading:
 * `refuse` makes the error thrown for them.
 */
export function withRegularFileIfAny<T>(abs: string, refuse: (kind: NotARegularFile) => Error, use: (fd: number, st: Stats) => T): T | undefined {
  try {
    return withFileNoFollowSync(abs, (fd, st) => {
      if (!st.isFile()) throw refuse('not-a-file');
      return use(fd, st);
    });
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw refuse('symlink');
    throw err;
  }
}

/**
 * The text of the regular file at `abs`, or undefined when nothing is there or it is something
 * else (a directory, FIFO or device: never opened for reading). A symlink is never followed:
 * `refuseLink` makes the error thrown for it (see refuseNonRegularFile); a file over the limit is
 * refused with the limit's error, unread.
 */
export function readTextRefusingLinks(abs: string, refuseLink: (kind: NotARegularFile) => Error, limit: ReadLimit): string | undefined {
  const notAFile = new Error('not a regular file');
  try {
    return withRegularFileIfAny(abs, (kind) => (kind === 'symlink' ? refuseLink(kind) : notAFile), (fd, st) => readFdUpTo(fd, limit, st.size).toString('utf8'));
  } catch (err) {
    if (err === notAFile) return undefined;
    throw err;
  }
}

/**
 * A `refuse` for withRegularFileIfAny: a config error (exit 3) `code` saying "<shownPath> is a
 * symbolic link" (or "is not a regular file") ": reg never <regNever>", with `hint` and
 * `{ path: detailsPath }` as details (shownPath unless given).
 */
export function refuseNonRegularFile(code: string, shownPath: string, regNever: string, hint: string, detailsPath = shownPath): (kind: NotARegularFile) => Error {
  return (kind) =>
    configError(code, `${shownPath} is ${kind === 'symlink' ? 'a symbolic link' : 'not a regular file'}: reg never ${regNever}`, {
      hint,
      details: { path: detailsPath },
    });
}

function refuseGitignore(abs: string, shownRel: string): (kind: NotARegularFile) => Error {
  return refuseNonRegularFile(
    'gitignore.not-a-file',
    shownRel,
    'reads or writes a .gitignore through it',
    `replace it with a regular file (git rm ${shownRel} if it was committed), then run the command again`,
    abs,
  );
}

/** Git reads no ignore file larger than this (it warns and skips it); reg refuses one (exit 3). */
export const MAX_IGNORE_FILE_BYTES = 100 * 1024 * 1024;

/** The ReadLimit of an ignore file (`.gitignore`, `.dvcignore`) shown as `shownRel`. */
export function ignoreFileLimit(code: string, shownRel: string, abs: string): ReadLimit {
  return {
    maxBytes: MAX_IGNORE_FILE_BYTES,
    tooBig: () =>
      configError(code, `${shownRel} is larger than 100 MiB: reg reads no ignore file that large (nor does git)`, {
        hint: `shorten it, or restore it with git checkout -- ${shownRel} if a commit made it so`,
        details: { path: abs },
      }),
  };
}

/**
 * A `.gitignore`'s text ('' when there is none). A symlink or anything but a regular file there is
 * refused (exit 3), never read: its target's bytes would end up in a tracked file. Git does not
 * follow a symlinked .gitignore either. Nor is one over 100 MiB read (exit 3).
 */
export function readGitignoreText(abs: string, shownRel: string): string {
  const limit = ignoreFileLimit('gitignore.too-large', shownRel, abs);
  return withRegularFileIfAny(abs, refuseGitignore(abs, shownRel), (fd, st) => readFdUpTo(fd, limit, st.size).toString('utf8')) ?? '';
}

/** Throws readGitignoreText's error when `abs` is a symlink or not a regular file; nothing there passes. */
export function assertGitignoreFile(abs: string, shownRel: string): void {
  withRegularFileIfAny(abs, refuseGitignore(abs, shownRel), () => undefined);
}

/**
 * Lets the event loop run (signal handlers, timers) in a long run of synchronous work such as
 * unlinkSync calls, which otherwise never yields: Ctrl-C would only be seen after the last one.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure after in-flight work settles. */
/**
 * Promise.all that lets every promise settle before it rejects with the first failure: a command
 * that fails on one download returns only once its others have ended (none is still writing a temp
 * file into the cache after it).
 */
export async function allSettledOrThrow<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined) {
      const i = next++;
      if (i >= items.length) return;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure;
  return results;
}
