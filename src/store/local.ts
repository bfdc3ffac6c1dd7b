import { closeSync, constants, createReadStream, createWriteStream, fstatSync, lstatSync, openSync, realpathSync, statSync, type Stats } from 'node:fs';
import { chmod, link, lstat, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RegError, configError, errnoCode, withPath } from '../errors.js';
import { isAtOrBelow, isTempName, readFdUpTo, removeStaleTemps, tempPathFor } from '../fsutil.js';
import { HashingTap } from './hashing-tap.js';
import { NotFoundError, PreconditionFailedError, checkPutBytes, type Backend, type GetOptions, type ListOptions, type ObjectInfo, type PutOptions, type ReadSmallOptions, type VersionedObject } from './backend.js';
import { md5Hex } from '../data/manifest.js';
import { makeDirs } from '../make-dirs.js';

const PAGE = 1000;
/** Files up to this size are copied through memory (one read, one write). */
const SMALL_FILE = 1 << 20;

/**
 * A directory remote (local disk, NAS mount): objects are plain files, published by writing a
 * temp file in the target directory and renaming it, then made read-only (0444) like DVC does.
 *
 * Whoever can write to a shared directory remote can plant a symbolic link in it that leads
 * anywhere on the machine of the next user (`processed_datasets/x -> /home/you/.ssh`): reg reads,
 * lists, writes and deletes only where a path resolves inside the remote's own directory (a link
 * that stays inside it, or a root that is itself a link, is fine). Directories are checked once
 * per run; a file is resolved only when it is a link (lstat first), so plain files cost nothing more.
 */
export class LocalBackend implements Backend {
  readonly traversePrefixLen = 2;
  readonly remote = false;
  readonly description: string;
  private readonly madeDirs = new Set<string>();
  /** Directories (as joined, links not resolved) found to resolve inside the remote's directory. */
  private readonly insideDirs = new Set<string>();
  private realRoot: string | undefined;

  constructor(readonly root: string) {
    this.description = root;
  }

  private pathOf(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  localPath(key: string): string {
    return this.pathOf(key);
  }

  /** Where `abs` (an existing path) resolves, and whether that is inside the remote's directory. */
  private resolve(abs: string): { real: string; inside: boolean } {
    this.realRoot ??= realpathSync(this.root);
    const real = realpathSync(abs);
    return { real, inside: isAtOrBelow(real, this.realRoot) };
  }

  /** Throws unless `abs` (an existing path, on the way to `key`) resolves inside the remote's directory. */
  private assertResolvesInside(abs: string, key: string): void {
    const { real, inside } = this.resolve(abs);
    if (inside) return;
    const shown = relative(join(this.root, '.'), abs).split(sep).join('/');
    throw configError('remote.link-outside', `${this.description}: ${shown} leads outside the remote's directory, to ${real} (a symbolic link on the remote)`, {
      hint: `remove the link on the remote (${abs}); reg never reads, writes or deletes through a link that leaves the remote's directory`,
      details: { remote: this.description, key, path: abs, resolved: real },
    });
  }

  /** Checks the deepest existing directory at or above `dir` (before anything is created below it). */
  private assertDirInside(dir: string, key: string): void {
    if (this.insideDirs.has(dir)) return;
    const top = join(this.root, '.');
    let probe = dir;
    for (;;) {
      try {
        this.assertResolvesInside(probe, key);
        break;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
        // Nothing of the remote's directory exists yet: there is no link to follow.
        if (probe === top || dirname(probe) === probe) return;
        probe = dirname(probe);
      }
    }
    if (probe === dir) this.insideDirs.add(dir);
  }

  /** `st`, an lstat of a key's file: its directory checked; a link is followed only when it resolves inside the remote. */
  private checkedStats(key: string, path: string, st: Stats): Stats {
    this.assertDirInside(dirname(path), key);
    if (!st.isSymbolicLink()) return st;
    this.assertResolvesInside(path, key);
    return statSync(path);
  }

  /**
   * checkedStats for a read: only a regular file is opened. A FIFO at a key (anyone who can write
   * to a shared directory can make one) would block the open forever, a device never end.
   */
  private readableStats(key: string, path: string, st: Stats): Stats {
    const s = this.checkedStats(key, path, st);
    if (s.isFile()) return s;
    throw this.notAFile(key, path);
  }

  private notAFile(key: string, path: string) {
    const shown = relative(join(this.root, '.'), path).split(sep).join('/');
    return configError('remote.not-a-file', `${this.description}: ${shown} is not a regular file`, {
      hint: `remove it from the remote (${path}); reg reads only regular files there`,
      details: { remote: this.description, key, path },
    });
  }

  /**
   * Opens the file readableStats approves, with no window between the check and the open: a path
   * that was no link is opened with O_NOFOLLOW (a link swapped in fails), nothing blocks on a FIFO
   * swapped in (O_NONBLOCK), and what is open must be a regular file. A regular file that replaced
   * it meanwhile is fine (sync manifests and locks are replaced by rename while others read them);
   * through a link, only the file the check resolved inside the remote is. The caller closes the fd.
   */
  private openChecked(key: string, path: string, lst: Stats): { fd: number; size: number } {
    const checked = this.readableStats(key, path, lst);
    const viaLink = lst.isSymbolicLink();
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (viaLink ? 0 : constants.O_NOFOLLOW));
    try {
      const st = fstatSync(fd);
      if (st.isFile() && (!viaLink || (st.ino === checked.ino && st.dev === checked.dev))) return { fd, size: st.size };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    closeSync(fd);
    throw this.notAFile(key, path);
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const path = this.pathOf(key);
      const st = await lstat(path);
      // A link leading out is no object of this remote (listings skip links too): absent, and a put
      // replaces the link rather than writing through it. Reads of it are refused (checkedStats).
      if (st.isSymbolicLink()) {
        this.assertDirInside(dirname(path), key);
        if (!this.resolve(path).inside) return undefined;
      }
      const s = this.checkedStats(key, path, st);
      return s.isFile() ? { key, size: s.size, modified: s.mtimeMs } : undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo[]> {
    // `prefix` is a string prefix: split it into the directory to read and a name prefix.
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut === -1 ? '' : prefix.slice(0, cut);
    const namePrefix = cut === -1 ? prefix : prefix.slice(cut + 1);
    let count = 0;
    let page: ObjectInfo[] = [];
    const limit = options.limit ?? Infinity;
    // Depth-first walk, names sorted so listings are deterministic.
    const stack: Array<{ key: string; filter: string }> = [{ key: dirKey, filter: namePrefix }];
    while (stack.length > 0) {
      options.signal?.throwIfAborted();
      const { key, filter } = stack.pop()!;
      let entries;
      try {
        if (key !== '') this.assertDirInside(this.pathOf(key), key);
        entries = await readdir(key === '' ? this.root : this.pathOf(key), { withFileTypes: true });
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') continue;
        if (errnoCode(err) === 'ENAMETOOLONG') throw this.nestedTooDeep(key);
        throw err;
      }
      entries.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
      const files: ObjectInfo[] = [];
      for (const e of entries) {
        // reg's temp files and compare-and-swap locks (`.<name>.cas.tmp`) are not objects.
        if (!e.name.startsWith(filter) || isTempName(e.name) || (e.name.startsWith('.') && e.name.endsWith('.tmp'))) continue;
        const childKey = key === '' ? e.name : `${key}/${e.name}`;
        if (e.isDirectory()) {
          // A real directory (a link is neither a file nor a directory here) below one found inside is inside.
          this.insideDirs.add(this.pathOf(childKey));
          stack.push({ key: childKey, filter: '' });
        }
        else if (e.isFile()) files.push({ key: childKey });
      }
      for (const f of files.reverse()) {
        page.push(f);
        count++;
        if (page.length >= PAGE) {
          yield page;
          page = [];
        }
        if (count >= limit) {
          if (page.length > 0) yield page;
          return;
        }
      }
    }
    if (page.length > 0) yield page;
  }

  /** A directory the walk cannot name (past PATH_MAX): nothing reg writes nests that deep, so it was planted or made by another tool. */
  private nestedTooDeep(key: string): RegError {
    const shown = key.length > 160 ? `${key.slice(0, 160)}... (${key.length} characters)` : key;
    return new RegError('remote.bad-listing', 'transfer', `${this.description}: ${shown} nests deeper than a path may be long (ENAMETOOLONG), so the remote cannot be listed; no directory reg writes is that deep`, {
      hint: `remove that directory from ${this.root} (it was planted or made by another tool), then run the command again`,
    });
  }

  /**
   * An object that is missing because the whole remote directory is missing (an unmounted share,
   * a wrong path) is not "never pushed": the root's own ENOENT says so.
   */
  private assertRoot(): void {
    statSync(this.root);
  }

  async get(key: string, options: GetOptions = {}) {
    const path = this.pathOf(key);
    let opened: { fd: number; size: number };
    try {
      opened = this.openChecked(key, path, await lstat(path));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        this.assertRoot();
        throw new NotFoundError(key, this.description);
      }
      throw err;
    }
    return { body: createReadStream(path, { fd: opened.fd, highWaterMark: 1 << 20, signal: options.signal }), size: opened.size };
  }

  async readSmall(key: string, max: number): Promise<Buffer | undefined> {
    // Synchronous on purpose: for thousands of small local files, one FileHandle per object costs
    // more (open/stat/close promises, finalisers) than the reads themselves.
    const path = this.pathOf(key);
    let opened: { fd: number; size: number };
    try {
      opened = this.openChecked(key, path, lstatSync(path));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        this.assertRoot();
        throw new NotFoundError(key, this.description);
      }
      throw err;
    }
    try {
      if (opened.size > max) return undefined;
      const over = new Error('grew');
      try {
        return readFdUpTo(opened.fd, { maxBytes: max, tooBig: () => over }, opened.size);
      } catch (err) {
        if (err === over) return undefined;
        throw err;
      }
    } finally {
      closeSync(opened.fd);
    }
  }

  async putFile(key: string, path: string, size: number, options: PutOptions = {}): Promise<void> {
    if (size <= SMALL_FILE) {
      await this.putBytes(key, await readFile(path), options);
      return;
    }
    // Hashed on the way when asked to: a mismatch fails the pipeline, so the temp file is
    // removed and never renamed to the object's name.
    const tap = new HashingTap({
      legacy: options.legacy ?? false,
      onBytes: options.onBytes,
      ...(options.expectMd5 !== undefined ? { expect: { md5: options.expectMd5, key, where: this.description } } : {}),
    });
    await this.publish(key, async (tmp) => {
      await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), tap, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), { signal: options.signal });
    });
  }

  async putBytes(key: string, bytes: Buffer, options: PutOptions = {}): Promise<void> {
    checkPutBytes(key, this.description, bytes, options);
    await this.publish(key, async (tmp) => {
      const h = await open(tmp, 'wx', 0o644);
      try {
        await h.writeFile(bytes);
      } finally {
        await h.close();
      }
      options.onBytes?.(bytes.length);
    });
  }

  private async publish(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const target = this.pathOf(key);
    const dir = dirname(target);
    if (!this.madeDirs.has(dir)) {
      this.assertDirInside(dir, key);
      await makeDirs(dir);
      // Temp files of killed pushes, once per directory and run.
      removeStaleTemps(dir);
      this.madeDirs.add(dir);
    }
    const tmp = tempPathFor(target);
    try {
      await write(tmp);
      // No fsync per object (DVC does none either; it costs ~1 ms per file on a NAS): the
      // rename makes the object appear whole or not at all, and fetch verifies every object.
      await chmod(tmp, 0o444).catch(() => undefined);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw withPath(err, tmp);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      this.assertDirInside(dirname(path), key);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
      throw err;
    }
    await rm(path, { force: true });
  }

  async readVersioned(key: string, options: ReadSmallOptions): Promise<VersionedObject | undefined> {
    let bytes: Buffer;
    try {
      const path = this.pathOf(key);
      const { fd, size } = this.openChecked(key, path, await lstat(path));
      try {
        bytes = readFdUpTo(fd, options.limit, size);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
      throw err;
    }
    return { bytes, version: md5Hex(bytes) };
  }

  /**
   * Compare-and-swap on a directory: creating uses link(2), which fails if the name exists;
   * replacing holds a lock file (created with O_EXCL) while it compares the current bytes with
   * the expected version and renames the new file over them.
   */
  async putIfVersion(key: string, bytes: Buffer, expected: string | undefined, options: PutOptions = {}): Promise<string> {
    const target = this.pathOf(key);
    this.assertDirInside(dirname(target), key);
    await makeDirs(dirname(target));
    const tmp = tempPathFor(target);
    const lock = join(dirname(target), `.${basename(target)}.cas.tmp`);
    let locked = false;
    try {
      await writeFile(tmp, bytes, { flag: 'wx', mode: 0o644 });
      if (expected === undefined) {
        await link(tmp, target).catch((err: unknown) => {
          throw errnoCode(err) === 'EEXIST' ? new PreconditionFailedError(key, this.description) : err;
        });
      } else {
        locked = await takeCasLock(lock, options.signal);
        if (!locked) throw new PreconditionFailedError(key, this.description); // another writer is at it
        // No version a caller holds was read from an object this big (their limits are smaller).
        const current = await this.readVersioned(key, { limit: { maxBytes: 1 << 30, tooBig: () => new PreconditionFailedError(key, this.description) } });
        if (current?.version !== expected) throw new PreconditionFailedError(key, this.description);
        await rename(tmp, target);
      }
      options.onBytes?.(bytes.length);
      return md5Hex(bytes);
    } catch (err) {
      throw withPath(err, tmp);
    } finally {
      await rm(tmp, { force: true });
      if (locked) await rm(lock, { force: true });
    }
  }

  close(): void {}
}

/** A writer holding the lock longer than this has died: its lock is taken over. */
const CAS_LOCK_STALE_MS = 30_000;

/** Creates `lock` exclusively, waiting briefly while another writer holds it; false when it stays held. */
async function takeCasLock(lock: string, signal?: AbortSignal): Promise<boolean> {
  for (let waited = 0; ; waited += 20) {
    signal?.throwIfAborted();
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > CAS_LOCK_STALE_MS) await rm(lock, { force: true });
      else if (waited > 5_000) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
