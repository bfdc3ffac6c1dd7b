import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { makeDirsSync } from './make-dirs.js';

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
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
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

