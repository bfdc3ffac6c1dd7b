import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { makeDirsSync } from './make-dirs.js';
import { VERSION } from './package-info.js';

/**
 * reg's files in the user's cache directory (the CLI's V8 code caches, parsed configs): never in a
 * work tree, so no commit can plant one. A file there is read only when it is a regular file owned
 * by this user, writable by no one else and of bounded size (another user on a shared machine, or a
 * link, gets no say); it is written by temp + rename with mode 0600 in 0700 directories. Losing any
 * of them costs time, never behaviour.
 */

/** `$XDG_CACHE_HOME/reg/<sub>`, else `~/.cache/reg/<sub>` (a relative XDG_CACHE_HOME is ignored, as the XDG spec says). */
export function userCacheDir(env: NodeJS.ProcessEnv, sub: string): string | undefined {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'reg', sub);
  const home = env.HOME || homedir();
  return home && isAbsolute(home) ? join(home, '.cache', 'reg', sub) : undefined;
}

/**
 * `absent`: no file (or no directory); `untrusted`: not a regular file of ours, writable by others,
 * larger than allowed or unreadable, and not read; `read`: its bytes.
 */
export type OwnFile = { status: 'absent' | 'untrusted'; data?: undefined } | { status: 'read'; data: Buffer };

/** The bytes of the user-cache file at `path`, if it is one reg may trust (see above). */
export function readOwnCacheFile(path: string, maxBytes: number): OwnFile {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO in its place cannot hold the open (it is then refused as not a regular file).
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { status: code === 'ENOENT' || code === 'ENOTDIR' ? 'absent' : 'untrusted' };
  }
  try {
    const st = fstatSync(fd);
    const ownUid = process.getuid?.();
    if (!st.isFile() || (ownUid !== undefined && st.uid !== ownUid) || (st.mode & 0o022) !== 0 || st.size > maxBytes) return { status: 'untrusted' };
    return { status: 'read', data: readFileSync(fd) };
  } catch {
    return { status: 'untrusted' };
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the user-cache file at `path` (temp + rename: a concurrent reader sees the old file or
 * the whole new one); any failure leaves no file and no temp file, and returns false. The data are
 * made only once the temp file is open, so an unwritable cache directory costs no serialisation.
 */
export function writeOwnCacheFile(path: string, data: () => Buffer | string): boolean {
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    makeDirsSync(dirname(path), 0o700);
    fd = openSync(temp, 'wx', 0o600);
    writeFileSync(fd, data());
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
    return true;
  } catch {
    try {
      if (fd !== undefined) closeSync(fd);
      rmSync(temp, { force: true });
    } catch {
      // Nothing was written, or the directory is not ours to clean.
    }
    return false;
  }
}

/** Where rememberedForText keeps its answers. */
export const TEXT_MEMO_DIR = 'parsed';
/** Answers kept; past this many the oldest go (a config is edited a few times a week). */
const MAX_TEXT_MEMOS = 256;
/** A remembered answer larger than this is not read (a config itself is at most 1 MiB). */
const MAX_TEXT_MEMO_BYTES = 4 * 1024 * 1024;
const NAME_PREFIX = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * `compute()`, a pure function of `text` (the parse of a config, its secret scan), remembered in the
 * user's cache under the SHA-256 of `kind`, reg's version and the text: the next command given the
 * same text reads the answer as JSON instead of computing it. A YAML parse costs ~8 ms in a fresh
 * process (the parser's code runs cold), JSON ~0.05 ms. An edited text has another name, so nothing
 * is ever stale; a new reg version computes again. `accept` checks the shape of what is read (a
 * file that fails it, or is not JSON, is computed again and replaced). Only an answer that JSON
 * keeps exactly is remembered (`.inf` in YAML is Infinity, which JSON would make null), and nothing
 * is when `compute` throws. `env` finds the cache directory (XDG_CACHE_HOME, HOME).
 */
export function rememberedForText<T>(env: NodeJS.ProcessEnv, kind: string, text: string, compute: () => T, accept: (value: unknown) => value is T): T {
  const dir = userCacheDir(env, TEXT_MEMO_DIR);
  if (dir === undefined || !NAME_PREFIX.test(kind)) return compute();
  const digest = createHash('sha256').update(`${kind}\0${VERSION}\0`).update(text).digest('hex');
  const path = join(dir, `${kind}-${digest}.json`);
  const file = readOwnCacheFile(path, MAX_TEXT_MEMO_BYTES);
  if (file.status === 'read') {
    try {
      const known = JSON.parse(file.data.toString('utf8')) as unknown;
      if (accept(known)) return known;
    } catch {
      // torn or foreign: computed again below
    }
  }
  const value = compute();
  const json = JSON.stringify(value);
  if (json !== undefined && isDeepStrictEqual(JSON.parse(json), value) && writeOwnCacheFile(path, () => json)) pruneTextMemos(dir);
  return value;
}

/** Keeps the newest MAX_TEXT_MEMOS answers (by the time they were written) and removes temp files an hour old. */
function pruneTextMemos(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const hourAgo = Date.now() - 60 * 60 * 1000;
  const memos: { name: string; mtimeMs: number }[] = [];
  for (const name of names) {
    const st = lstatSync(join(dir, name), { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (name.endsWith('.tmp')) {
      if (st.mtimeMs < hourAgo) removeQuietly(join(dir, name));
    } else if (name.endsWith('.json')) memos.push({ name, mtimeMs: st.mtimeMs });
  }
  if (memos.length <= MAX_TEXT_MEMOS) return;
  memos.sort((a, b) => a.mtimeMs - b.mtimeMs);
  for (const m of memos.slice(0, memos.length - MAX_TEXT_MEMOS)) removeQuietly(join(dir, m.name));
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // removed by another run meanwhile, or not ours to remove
  }
}
