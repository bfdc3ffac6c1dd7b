import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, constants, copyFileSync, existsSync, linkSync, lstatSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { rename } from 'node:fs/promises';
import { CHUNK_SIZE, hashFile } from '../data/hash.js';
import { buildManifest, manifestSlices, md5Hex, parseManifestForm, type ManifestEntry } from '../data/manifest.js';
import { RegError, diskError, errnoCode, integrityError, isRegError } from '../errors.js';
import { readRegularFileOrThrowSync, tempPathFor, writeFileAtomicSync, writeThenNameSync } from '../fsutil.js';
import { MAX_MANIFEST_BYTES } from './object-store.js';
import { hasVerifiedMtime, objectPathIn, runRestoreTask, stampVerifiedPath, type WrittenStat } from '../workspace/hash-task.js';
import { hashEachOf } from '../workspace/hasher.js';
import { makeDirsSync } from '../make-dirs.js';

export type LinkType = 'reflink' | 'hardlink' | 'symlink' | 'copy';
export const LINK_TYPES: readonly LinkType[] = ['reflink', 'hardlink', 'symlink', 'copy'];

export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/** An object found in the cache, with the stat that decides whether it must be re-hashed before use. */
interface CacheObject {
  path: string;
  /** Hashed with the legacy md5-dos2unix rule (a DVC 2 file object in the legacy layout). */
  legacyHash: boolean;
  stat: Stats;
}

/** copyMany: how long its workers get to stop after Ctrl-C. */
const COPY_STOP_GRACE_MS = 3000;

/** The copy pass of materialize is synchronous for all but big files: one shared buffer serves them all. */
const COPY_BUFFER = Buffer.allocUnsafe(CHUNK_SIZE);

/**
 * The local content-addressed cache (`.reg/cache`): `files/md5/XX/REST` for DVC 3 objects and
 * `XX/REST` for DVC 2 (legacy) ones. Objects are read-only (0444) and published by rename with a
 * "verified" mtime stamp (see hash-task.ts): restoring by copy hashes the bytes in the copy's read
 * pass (an object of 1 MiB or more that this process hashed moments ago, as a pull does while
 * downloading, is copied by the kernel instead; a stamp alone never skips the copy's hash);
 * linking (reflink, hardlink, symlink) re-hashes an object first only when its stamp is gone. An object whose bytes do not match its name is moved to `quarantine/` and reported.
 */
export class Cache {
  /** Link types that failed as unsupported once; not tried again for this cache (same filesystem). */
  private readonly unsupported = new Set<LinkType>();
  /** Object paths verified by this process (even where the stamp could not be set). */
  private readonly verified = new Set<string>();
  /**
   * Work-tree copies of big objects written while they downloaded (ObjectStore.download), by
   * object path, with their stat as adopted; undefined unless a pull asked for them (wantEarlyCopies).
   */
  private earlyCopies: Map<string, { path: string; stat: Stats }> | undefined;

  constructor(readonly root: string) {}

  objectPath(oid: string, legacy = false): string {
    return objectPathIn(this.root, oid, legacy);
  }

  /** Where the object for this oid lives, looking in the legacy layout too for legacy entries. */
  locate(oid: string, legacy = false): string | undefined {
    const primary = this.objectPath(oid, legacy);
    if (existsSync(primary)) return primary;
    if (legacy) {
      const modern = this.objectPath(oid, false);
      if (existsSync(modern)) return modern;
    }
    return undefined;
  }

  has(oid: string, legacy = false): boolean {
    return this.locate(oid, legacy) !== undefined;
  }

  /** locate() with the stat (one syscall either way). */
  private find(oid: string, legacy: boolean): CacheObject | undefined {
    const primary = this.objectPath(oid, legacy);
    const st = statSync(primary, { throwIfNoEntry: false });
    if (st !== undefined) return { path: primary, legacyHash: legacy && !oid.endsWith('.dir'), stat: st };
    if (!legacy) return undefined;
    const modern = this.objectPath(oid, false);
    const mst = statSync(modern, { throwIfNoEntry: false });
    return mst === undefined ? undefined : { path: modern, legacyHash: false, stat: mst };
  }

  /** Stores bytes under their md5 (plus `.dir` for manifests); verifies the oid first. */
  insertBytes(oid: string, bytes: Buffer, legacy = false): boolean {
    const target = this.objectPath(oid, legacy);
    if (existsSync(target)) return false;
    if (!legacy && md5Hex(bytes) !== oid.replace(/\.dir$/, '')) {
      throw integrityError('cache.oid-mismatch', `refusing to store bytes under ${oid}: their md5 is ${md5Hex(bytes)}`);
    }
    writeFileAtomicSync(target, bytes, 0o444);
    this.stamp(target);
    return true;
  }

  /**
   * Stores the `.dir` object of `entries` and returns its oid, the manifest serialised once (see
   * writeManifest). When the cache has that object already, it is kept and nothing replaces it.
   */
  storeManifestOf(entries: readonly ManifestEntry[]): string {
    return this.writeManifest(entries, (oid) => oid).oid;
  }

  /**
   * Stores the `.dir` object of `entries` under `oid` (see writeManifest): bytes that do not hash
   * to `oid` never take its name (exit 6). False when the cache already has it.
   */
  insertManifestOf(oid: string, entries: readonly ManifestEntry[]): boolean {
    if (existsSync(this.objectPath(oid, false))) return false;
    return this.writeManifest(entries, (got) => {
      if (got !== oid) throw integrityError('cache.oid-mismatch', `refusing to store a manifest under ${oid}: its md5 is ${got}`);
      return got;
    }).stored;
  }

  /**
   * Writes the manifest of `entries` slice by slice (a million-entry manifest never exists whole
   * in memory, as text or as bytes) to a temp file in the cache root, hashing it as it is written,
   * then names it after `accept` of that oid, which may throw to keep the bytes from being stored.
   * Not stored when the cache has the object already.
   */
  private writeManifest(entries: readonly ManifestEntry[], accept: (oid: string) => string): { oid: string; stored: boolean } {
    this.ensureRoot();
    const hash = createHash('md5');
    function* hashed(): Generator<string> {
      for (const text of manifestSlices(entries)) {
        hash.update(text, 'utf8');
        yield text;
      }
    }
    let oid = '';
    const target = writeThenNameSync(tempPathFor(join(this.root, 'manifest')), hashed(), {
      mode: 0o444,
      durable: true,
      shownAs: `${this.root} (writing a directory manifest)`,
      targetOf: () => {
        oid = accept(`${hash.digest('hex')}.dir`);
        const path = this.objectPath(oid, false);
        if (existsSync(path)) return undefined;
        makeDirsSync(dirname(path));
        return path;
      },
    });
    if (target !== undefined) this.stamp(target);
    return { oid, stored: target !== undefined };
  }

  insertManifest(entries: readonly ManifestEntry[]): { oid: string; bytes: Buffer } {
    const built = buildManifest(entries);
    this.insertBytes(built.oid, built.bytes);
    return built;
  }

  /**
   * The entries of a `.dir` object, validated (parseManifest). Bytes that do not hash to the oid
   * (checked unless the object carries its verified stamp) are quarantined: exit 6.
   */
  readManifest(oid: string, legacy = false): ManifestEntry[] {
    return this.readManifestForm(oid, legacy).entries;
  }

  /** readManifest(), and whether the object is canonical (see parseManifestForm): then `oid` is also manifestOidOf(entries). */
  readManifestForm(oid: string, legacy = false): { entries: ManifestEntry[]; canonical: boolean } {
    const found = this.readManifestBytes(oid, legacy);
    if (found === undefined) {
      throw new RegError('cache.missing-manifest', 'failed', `directory manifest ${oid} is not in the cache`, {
        hint: 'fetch it from a remote with `reg fetch`',
      });
    }
    return parseManifestForm(found.bytes, found.path);
  }

  /**
   * The bytes of a `.dir` object, checked against its oid (unless it carries its verified stamp;
   * a mismatch is quarantined: exit 6), or undefined when the cache does not have it. Not
   * validated: the stamp only means "these bytes hash to the oid", so every caller validates
   * the entries it uses (parseManifest, selectManifestEntries).
   */
  readManifestBytes(oid: string, legacy = false): { bytes: Buffer; path: string } | undefined {
    const obj = this.find(oid, legacy);
    if (obj === undefined) return undefined;
    let bytes: Buffer;
    try {
      bytes = readCacheFile(obj.path, MAX_MANIFEST_BYTES);
    } catch (err) {
      // Larger than any manifest reg accepts: corrupt like one of the wrong bytes (quarantined).
      if (isRegError(err) && err.code === 'cache.oversized-object') throw this.corrupt(oid, legacy, obj.path, `more than ${MAX_MANIFEST_BYTES} bytes`, true);
      throw err;
    }
    if (!this.trusted(obj)) {
      const actual = md5Hex(bytes);
      if (actual !== oid.replace(/\.dir$/, '')) throw this.corrupt(oid, legacy, obj.path, actual, true);
      this.stamp(obj.path);
    }
    return { bytes, path: obj.path };
  }

  /** An object this process has just hashed and published into the cache (a verified download). */
  noteVerified(path: string): void {
    this.verified.add(path);
  }

  /**
   * A pull whose checkout will copy objects into the work tree asks for early copies: each big
   * download also writes a second copy, beside the object, from the bytes its hash covered, and
   * the checkout renames that copy into place instead of copying the object again afterwards.
   * Unused copies are removed by discardEarlyCopies().
   */
  wantEarlyCopies(): void {
    this.earlyCopies ??= new Map();
  }

  /** Where a download of the object at `objectPath` should write its early copy (a temp name beside it), if copies are wanted. */
  earlyCopyTarget(objectPath: string): { path: string; mode: number } | undefined {
    return this.earlyCopies === undefined ? undefined : { path: tempPathFor(objectPath), mode: writableMode(false) };
  }

  /** The complete early copy of an object this process has just verified and published at `objectPath`. */
  adoptEarlyCopy(objectPath: string, copyPath: string): void {
    if (this.earlyCopies === undefined || !this.verified.has(objectPath)) {
      rmSync(copyPath, { force: true });
      return;
    }
    const old = this.earlyCopies.get(objectPath);
    if (old !== undefined) rmSync(old.path, { force: true });
    this.earlyCopies.set(objectPath, { path: copyPath, stat: lstatSync(copyPath) });
  }

  /** True while an early copy of the DVC 3 object `oid` waits to be taken (materialize() takes it; copyMany() does not). */
  hasEarlyCopy(oid: string): boolean {
    return this.earlyCopies?.has(this.objectPath(oid)) ?? false;
  }

  /** Removes the early copies no checkout used. */
  discardEarlyCopies(): void {
    for (const { path } of this.earlyCopies?.values() ?? []) rmSync(path, { force: true });
    this.earlyCopies?.clear();
  }

  /**
   * Moves the early copy of `obj` to `dest` (each is used once). False, with the copy removed,
   * when there is none, when anything touched it since it was written (its stat moved), or when
   * the rename fails (another filesystem): the caller copies the object instead.
   */
  private async takeEarlyCopy(obj: CacheObject, dest: string, mode: number): Promise<boolean> {
    const copy = this.earlyCopies?.get(obj.path);
    if (copy === undefined) return false;
    this.earlyCopies!.delete(obj.path);
    try {
      const now = lstatSync(copy.path);
      const was = copy.stat;
      if (now.ino !== was.ino || now.size !== obj.stat.size || now.size !== was.size || now.mtimeMs !== was.mtimeMs || now.ctimeMs !== was.ctimeMs || !now.isFile()) throw new Error('changed');
      if ((now.mode & 0o7777) !== mode) chmodSync(copy.path, mode);
      await rename(copy.path, dest);
      return true;
    } catch {
      rmSync(copy.path, { force: true });
      return false;
    }
  }

  /**
   * Whether materialize() into `dir` copies bytes: copy is the first link type of `linkTypes`
   * that works. A leading reflink is asked of `reflinks` (by default probed with a scratch file,
   * reflinksInto; a caller may answer from a remembered probe).
   */
  copiesInto(dir: string, linkTypes: readonly LinkType[], reflinks: (dir: string) => boolean = (d) => this.reflinksInto(d)): boolean {
    if (this.firstUsable(linkTypes) === 'reflink' && reflinks(dir)) return false;
    return this.copiesFirst(linkTypes);
  }

  /**
   * Makes the cache directory if it is missing. One that cannot be made (a parent that is a file
   * or cannot hold directories, as under /proc) is named with the setting that chose it.
   */
  ensureRoot(): void {
    try {
      makeDirsSync(this.root);
    } catch (err) {
      const disk = diskError(err, this.root);
      if (disk) throw disk;
      throw new RegError('cache.cannot-create', 'failed', `cannot create the cache directory ${this.root}: ${errnoCode(err) ?? (err as Error).message}`, {
        hint: 'point cache.dir (in .reg/config.local.yaml, or .reg/config.yaml for everyone) at a directory that can be created and written, or create this one',
        cause: err,
      });
    }
  }

  /** Probes with a scratch file whether a reflink from the cache into `dir` works. */
  reflinksInto(dir: string): boolean {
    const src = tempPathFor(join(this.root, 'probe'));
    const dest = tempPathFor(join(dir, 'probe'));
    try {
      this.ensureRoot();
      makeDirsSync(dir);
      writeFileSync(src, 'reg reflink probe\n', { flag: 'wx' });
      copyFileSync(src, dest, constants.COPYFILE_FICLONE_FORCE);
      return true;
    } catch (err) {
      if (isUnsupportedLink(err)) this.unsupported.add('reflink');
      return false;
    } finally {
      rmSync(src, { force: true });
      rmSync(dest, { force: true });
    }
  }

  private trusted(obj: CacheObject): boolean {
    return hasVerifiedMtime(obj.stat.mtimeMs) || this.verified.has(obj.path);
  }

  /** Marks an object verified: by its mtime stamp, and for this process also in memory (a shared cache may refuse the stamp). */
  private stamp(path: string): void {
    this.verified.add(path);
    stampVerifiedPath(path);
  }

  /** Hashes an object whose stamp is gone; throws cache.corrupt-object on a mismatch, stamps it otherwise. */
  private async ensureVerified(oid: string, legacy: boolean, obj: CacheObject): Promise<void> {
    if (this.trusted(obj)) return;
    const { md5 } = await hashFile(obj.path, obj.legacyHash);
    if (md5 !== oid.replace(/\.dir$/, '')) throw this.corrupt(oid, legacy, obj.path, md5, false);
    this.stamp(obj.path);
  }

  /**
   * The error for an object whose bytes do not match its oid. Manifests are quarantined at once
   * (one reader); file objects by the caller once every user of the object has been told, via
   * quarantine().
   */
  private corrupt(oid: string, legacy: boolean, path: string, actual: string, quarantineNow: boolean): RegError {
    const moved = quarantineNow ? this.quarantine(oid, legacy) : undefined;
    return integrityError(quarantineNow ? 'cache.corrupt-manifest' : 'cache.corrupt-object', `cache object ${oid} is corrupt: its bytes hash to ${actual}${moved ? ` (moved to ${moved})` : ''}`, {
      hint: 'fetch a good copy from the remote (`reg fetch`, or `reg pull`), then retry',
      details: { oid, legacy, path, actual, ...(moved ? { quarantined: moved } : {}) },
    });
  }

  /**
   * Moves a corrupt object out of the way (to `quarantine/` + its layout path + `.<time>`, e.g.
   * `quarantine/files/md5/ab/cdef….20250101T120000Z`), so a fetch can put good bytes under its name;
   * the bad copy is kept, never deleted. Returns where it went. Completeness marks are dropped
   * (a mark may vouch for a directory that listed this object).
   */
  quarantine(oid: string, legacy: boolean): string {
    const src = this.locate(oid, legacy);
    if (src === undefined) {
      throw new RegError('cache.missing-object', 'failed', `object ${oid} is not in the cache (nothing to quarantine)`, { hint: 'fetch it with `reg fetch`' });
    }
    const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
    const dest = `${objectPathIn(join(this.root, QUARANTINE_DIR), oid, legacy)}.${stamp}.${randomBytes(3).toString('hex')}`;
    makeDirsSync(dirname(dest));
    renameSync(src, dest);
    this.verified.delete(src);
    rmSync(join(this.root, '.complete'), { recursive: true, force: true });
    return dest;
  }

  /**
   * Puts the object's bytes at `dest` (atomically) using the first link type that works; `dest`'s
   * directory must exist (the caller gets `dest` from the work-tree gateway, safe-fs.ts). Copies
   * hash the bytes as they copy them and never publish a mismatch (objects of 1 MiB or more that
   * this process has hashed already are copied by the kernel, see copyInKernel); the link types verify an unstamped object
   * first. Copies and reflinks get a writable mode; hard and symbolic links stay read-only. A
   * hardlink already in place is left alone.
   *
   * Copies and reflinks are written to a temp name and renamed over `dest`. A hard link is made at
   * `dest` directly when nothing is there (link() never replaces: it fails with EEXIST, and the
   * temp + rename path takes over), so a fresh checkout costs one link per file. Links are made
   * synchronously: one short syscall is cheaper on the main thread than a round trip through
   * libuv's pool (docs/benchmarks.md, checkout).
   */
  async materialize(oid: string, legacy: boolean, dest: string, linkTypes: readonly LinkType[], executable = false): Promise<LinkType> {
    return (await this.place(oid, legacy, dest, linkTypes, executable, false)).type;
  }

  /**
   * materialize(), also returning the stat of `dest` as written (stat, not lstat: a symlink's
   * identity is its target's, as in the walk), for the stat cache. A fresh hard link costs one
   * link and one stat: the link is made first and its stat carries the verify stamp (the link
   * shares the object's inode); an unstamped object's link is taken back right after that stat
   * and the object verified before it is linked again, so unverified bytes hold a data file's
   * name for one stat call at most (a kill in between leaves a link that status hashes: no row).
   */
  async materializeStat(oid: string, legacy: boolean, dest: string, linkTypes: readonly LinkType[], executable = false): Promise<{ type: LinkType; stat: WrittenStat }> {
    const placed = await this.place(oid, legacy, dest, linkTypes, executable, true);
    return { type: placed.type, stat: placed.stat ?? statSync(dest) };
  }

  private async place(oid: string, legacy: boolean, dest: string, linkTypes: readonly LinkType[], executable: boolean, wantStat: boolean): Promise<{ type: LinkType; stat?: WrittenStat }> {
    let linkTried = false;
    if (wantStat && linkTypes[0] === 'hardlink' && !legacy && oid !== EMPTY_MD5 && !this.unsupported.has('hardlink')) {
      const linked = this.linkStamped(this.objectPath(oid), dest);
      if (linked.stat !== undefined) return { type: 'hardlink', stat: linked.stat };
      linkTried = linked.exists;
    }
    if (oid === EMPTY_MD5) {
      const tmp = tempPathFor(dest);
      try {
        writeFileSync(tmp, '', { mode: executable ? 0o777 : 0o666, flag: 'wx' });
        renameSync(tmp, dest);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw diskError(err, dest) ?? err;
      }
      return { type: 'copy' };
    }
    const obj = this.find(oid, legacy);
    if (obj === undefined) throw missingObject(oid);
    for (const type of linkTypes) {
      if (this.unsupported.has(type) && type !== linkTypes[linkTypes.length - 1]) continue;
      let tmp: string | undefined;
      try {
        switch (type) {
          case 'copy':
            if (await this.takeEarlyCopy(obj, dest, writableMode(executable))) return { type };
            return { type, stat: await this.copyVerified(oid, legacy, obj, dest, writableMode(executable)) };
          case 'reflink': {
            await this.ensureVerified(oid, legacy, obj);
            tmp = tempPathFor(dest);
            copyFileSync(obj.path, tmp, constants.COPYFILE_FICLONE_FORCE);
            const mode = writableMode(executable);
            // The clone takes the object's mode (0444): make it writable unless it already is.
            if ((obj.stat.mode & 0o7777) !== mode) chmodSync(tmp, mode);
            break;
          }
          case 'hardlink': {
            await this.ensureVerified(oid, legacy, obj);
            if (!linkTried && this.linkIfAbsent(obj.path, dest)) return { type: 'hardlink' };
            // rename() between two links to one inode does nothing (and would leave the temp link).
            const there = lstatSync(dest, { throwIfNoEntry: false });
            if (there !== undefined && there.ino === obj.stat.ino && there.dev === obj.stat.dev) return { type: 'hardlink' };
            tmp = tempPathFor(dest);
            linkSync(obj.path, tmp);
            break;
          }
          case 'symlink':
            await this.ensureVerified(oid, legacy, obj);
            tmp = tempPathFor(dest);
            symlinkSync(obj.path, tmp);
            break;
        }
        renameSync(tmp!, dest);
        return { type };
      } catch (err) {
        if (tmp !== undefined) rmSync(tmp, { force: true });
        if (!isUnsupportedLink(err)) throw diskError(err, dest) ?? err;
        this.unsupported.add(type);
      }
    }
    throw new RegError('cache.link-failed', 'config', `none of the cache link types ${linkTypes.join(',')} works for ${dest}`, {
      hint: 'add "copy" to cache.type in .reg/config.yaml',
    });
  }

  /** The link type place() would use first: the first of `linkTypes` not found unsupported (the last is always tried). */
  private firstUsable(linkTypes: readonly LinkType[]): LinkType | undefined {
    return linkTypes.find((t, i) => !this.unsupported.has(t) || i === linkTypes.length - 1);
  }

  /** True when materialize() would copy (cache.type copy, or reflink found unsupported here): copyMany() applies. */
  copiesFirst(linkTypes: readonly LinkType[]): boolean {
    return this.firstUsable(linkTypes) === 'copy';
  }

  /**
   * materializeStat() in copy mode for many DVC 3 file objects at once, on the hashing pool's
   * worker threads (inline for a few): each worker takes batches of files and copies them with
   * synchronous syscalls (runRestoreTask: hashed in the copy's read pass, temp name + rename,
   * the stat from the open output), so no promise, thread-pool round trip or path walk is
   * spent per file and both cores copy. `onResult` gets each file's stat as written, or the
   * error for that file (cache.corrupt-object for bytes that do not match their name: nothing
   * was written; the caller decides, as with materializeStat's throw); an error it throws stops
   * the run. `dest`s come from the confinement layer (safe-fs.ts prepareWrite). Interrupted
   * (`signal`), each worker stops before its next file, removes its temp file, and this rejects
   * with the signal's reason.
   *
   * `jobs.at(i)` is asked once per file, in order, as the workers' batches are cut (hashEachOf):
   * only the jobs in flight exist at once, not a million of them and their paths. An error it
   * throws stops the run as one thrown by `onResult` does.
   */
  async copyMany(
    jobs: { count: number; at(index: number): { oid: string; dest: string; executable: boolean } },
    onResult: (index: number, outcome: { stat: WrittenStat } | { error: unknown }) => void,
    options: { signal?: AbortSignal; cores?: number; onFiles?: (n: number) => void } = {},
  ): Promise<void> {
    await hashEachOf(
      {
        count: jobs.count,
        totalBytes: 0,
        at: (i) => {
          const j = jobs.at(i);
          const abs = this.objectPath(j.oid);
          return { abs, size: 0, restore: { dest: j.dest, expect: j.oid, mode: writableMode(j.executable), kernelCopy: this.verified.has(abs) } };
        },
      },
      // The task is the one made from jobs.at(i): its object, and where it was to be restored.
      (r, i, task) => {
        const { expect: oid, dest } = task.restore!;
        if ('error' in r) {
          const err = Object.assign(new Error(r.error), { code: r.code });
          onResult(i, { error: r.code === 'ENOENT' && !existsSync(task.abs) ? missingObject(oid) : (diskError(err, dest) ?? err) });
        } else if (r.written === undefined) onResult(i, { error: this.corrupt(oid, false, task.abs, r.md5, false) });
        else onResult(i, { stat: r.written });
      },
      // A worker stops within one small file; one descheduled on a busy machine gets longer before
      // it is terminated (a worker terminated mid-file would leave its temp file in the work tree).
      { signal: options.signal, jobs: options.cores, shared: { legacy: false }, stopGraceMs: COPY_STOP_GRACE_MS, batchesInFlight: 2, onProgress: (files) => (files > 0 ? options.onFiles?.(files) : undefined) },
    );
  }

  /**
   * The hard-link fast path: links `object` at `dest` and stats the link. Kept only when the stat
   * shows the verify stamp (or this process verified the object); otherwise the link is removed
   * again at once and `stat` is undefined. `exists`: `dest` was there already (nothing changed).
   * Any other failure (missing object, unsupported link) is left to the careful path to report.
   */
  private linkStamped(object: string, dest: string): { stat?: Stats; exists: boolean } {
    try {
      linkSync(object, dest);
    } catch (err) {
      return { exists: errnoCode(err) === 'EEXIST' };
    }
    try {
      const st = statSync(dest);
      if (this.trusted({ path: object, legacyHash: false, stat: st })) return { stat: st, exists: false };
    } catch {
      // fall through: the link goes, and the careful path reports what is wrong
    }
    try {
      unlinkSync(dest);
    } catch (err) {
      throw diskError(err, dest) ?? err;
    }
    return { exists: false };
  }

  /** Hard-links `object` at `dest` when nothing is there: true if linked, false if `dest` exists (nothing changed). */
  private linkIfAbsent(object: string, dest: string): boolean {
    try {
      linkSync(object, dest);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return false;
      throw err;
    }
  }

  /**
   * Copies the object to `dest` on this thread with the copy-mode workers' code (runRestoreTask:
   * hashed in the copy's read pass into a temp name beside `dest`, renamed only on a match, an
   * object hashed moments ago copied by the kernel) and returns the stat of the file written. A
   * mismatch is never kept: cache.corrupt-object. The rename goes to libuv's pool, so the next
   * file's copy (`reg get` of a directory copies several at once) overlaps it.
   */
  private async copyVerified(oid: string, legacy: boolean, obj: CacheObject, dest: string, mode: number): Promise<WrittenStat> {
    const restore = { dest, expect: oid.replace(/\.dir$/, ''), mode, kernelCopy: this.verified.has(obj.path) };
    const r = await runRestoreTask({ abs: obj.path, legacy: obj.legacyHash, restore }, COPY_BUFFER, undefined, undefined, rename);
    if ('error' in r) throw Object.assign(new Error(r.error), { code: r.code });
    if (r.written === undefined) throw this.corrupt(oid, legacy, obj.path, r.md5, false);
    this.verified.add(obj.path);
    return r.written;
  }

  /**
   * A directory whose manifest and every member object were seen in the cache gets a mark, so the
   * next status need not read the manifest again. Marks live inside the cache: deleting the cache
   * deletes them too.
   */
  markComplete(oid: string): void {
    const mark = join(this.root, '.complete', oid);
    if (!existsSync(mark)) writeFileAtomicSync(mark, '');
  }

  isMarkedComplete(oid: string, legacy = false): boolean {
    return existsSync(join(this.root, '.complete', oid)) && this.has(oid, legacy);
  }
}

function missingObject(oid: string): RegError {
  return new RegError('cache.missing-object', 'failed', `object ${oid} is not in the cache`, { hint: 'fetch it with `reg fetch`' });
}

/** Where `Cache.quarantine` keeps corrupt objects, relative to the cache root. */
export const QUARANTINE_DIR = 'quarantine';

const UMASK = process.umask();
function writableMode(executable: boolean): number {
  return (executable ? 0o777 : 0o666) & ~UMASK;
}

function isUnsupportedLink(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'ENOSYS' || code === 'EINVAL';
}

export function parseLinkTypes(value: string | undefined, source = 'cache.type'): LinkType[] {
  const raw = (value ?? 'reflink,copy').split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of raw) {
    if (!LINK_TYPES.includes(t as LinkType)) {
      throw new RegError('config.cache-type', 'config', `${source}: unknown link type "${t}"`, { hint: `use a comma-separated list of ${LINK_TYPES.join(', ')}` });
    }
  }
  return raw as LinkType[];
}

/**
 * The bytes of the cache object at `path`, at most `maxBytes` of them (manifests:
 * MAX_MANIFEST_BYTES, the most a download accepts; small files: the size their manifest lists).
 * A bigger file is no object reg stored (a commit can plant one under `.reg/cache` with `git add
 * -f`, gigabytes of zeros in a few MiB): exit 6 `cache.oversized-object` naming it, unread.
 */
export function readCacheFile(path: string, maxBytes: number): Buffer {
  const tooBig = () =>
    integrityError('cache.oversized-object', `cache object ${path} is larger than the ${maxBytes} bytes it may hold: corrupt, or not reg's`, {
      hint: 'remove it (reg fetch or reg pull brings a good copy), then run the command again',
      details: { path, maxBytes },
    });
  const notAFile = () =>
    integrityError('cache.not-a-file', `cache object ${path} is not a regular file: not reg's`, { hint: 'remove it (reg fetch or reg pull brings a good copy), then run the command again', details: { path, maxBytes } });
  return readRegularFileOrThrowSync(path, { maxBytes, tooBig }, { followLinks: true, notAFile });
}
