import { existsSync, lstatSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '../../context.js';
import { manifestOidOf } from '../../data/manifest.js';
import { RegError, diskError, errnoCode, usageError } from '../../errors.js';
import { changedInIndexFile } from '../../git/read.js';
import { STALE_TEMP_MS, isAtOrBelow } from '../../fsutil.js';
import type { Repo } from '../../repo.js';
import type { HashOutcome } from '../../workspace/hash-task.js';
import { hashEach } from '../../workspace/hasher.js';
import { StatCache } from '../../workspace/stat-cache.js';
import { dvcIgnoreFor } from '../../workspace/dvcignore.js';
import { DirLister } from '../../workspace/dir-lister.js';
import { regState } from '../../workspace/safe-fs.js';
import { MIRROR_MIN_ENTRIES } from '../../workspace/mirror-index.js';
import { fileFromStats, walkTree, walkedPath, type DirStats, type ListedStats, type WalkedFile } from '../../workspace/walk.js';
import { NSEC_GIT_MARKER, type EarlyGitChecks } from './early-git-checks.js';

/**
 * The stat cache only saves hashing next time: a scan that stores nothing (status, diff, the hooks)
 * still answers when it cannot be written (a full or read-only disk), with a warning naming why.
 */
function saveStatCache(statCache: StatCache, ctx: Context, storing: boolean): void {
  try {
    statCache.save();
  } catch (err) {
    const disk = diskError(err);
    if (storing || disk === undefined) throw err;
    ctx.progress({ type: 'log', level: 'warn', message: `the stat cache was not saved (${disk.message}): the next run hashes these files again; ${disk.hint}` });
  }
}

/** What is in the workspace at an output's path, hashed. */
export interface WorkspaceState {
  exists: boolean;
  isDir: boolean;
  /** Files with their md5, in walk order. */
  files: Array<WalkedFile & { md5: string }>;
  /** The oid the output would get if added now (dir oid for directories); undefined when it does not exist, or with oidOnlyIfUnedited for an edited tree. */
  oid?: string;
  size: number;
  nfiles: number;
  hashedFiles: number;
  hashedBytes: number;
  /** Files not lstat'ed: git found them unchanged since the last scan (see StatCache.trustedStats). */
  filesCheckedByGit: number;
  /** The stat cache's rows stood for the walk: no directory was read (ScanOptions.elideWalk). */
  walkElided: boolean;
  storedObjects: number;
  isexec: boolean;
  /**
   * Directories: a tree oid this workspace was found at by an earlier scan (the pointer's, or
   * what add recorded) and the files whose bytes changed since (the same files otherwise), when
   * the stat cache can tell; status lists the changes from it without reading a manifest.
   */
  changedSince?: { oid: string; modified: string[] };
  /** The oid the workspace last matched a pointer at, as remembered before this scan (see StatCache.baseOid). */
  base?: string;
  /** Symlinks to directories inside the output (relpaths; '' when the output path itself is one): never followed. */
  symlinkedDirs: string[];
  /** Symlinks to files whose target lies outside the repository (relpaths, '' for the output itself; targets resolved): their content counts, as in DVC. */
  filesLinkedOutside: Array<{ relpath: string; target: string }>;
  /** reg temp files older than an hour left inside the output by killed runs (relpaths). */
  staleTemps: string[];
}

export interface ScanOptions {
  legacy: boolean;
  /** Also copy newly hashed files, and a directory's manifest, into the cache (add): the scanned oid becomes the base. */
  store: boolean;
  label: string;
  /** The oid the output's pointer names: when the scan finds exactly it, it becomes the base. */
  pointerOid?: string;
  /**
   * Status: a tree whose base is the pointer's version and of which only some files' bytes changed
   * since (changedSince) is answered by those changes ("modified", which files), so its new oid is
   * left undefined rather than computed: serialising a 100k-entry manifest to name it was most of
   * what a status after one edit added to a no-change one.
   */
  oidOnlyIfUnedited?: boolean;
  /**
   * Status: when git vouches for the files of the last scan's mirror index and every remembered
   * directory listing still holds, the stored rows stand for the walk (StatCache.rowsAsWalk): only
   * the files git could not vouch for are lstat'ed, and `files` is made from the rows only when
   * read. A walk of 100k files cost most of a no-change status.
   */
  elideWalk?: boolean;
  /** Git runs on the stored mirror indexes started before the outputs were known (startGitChecks): the one for this output is used, not started again. */
  gitChecks?: EarlyGitChecks;
}

/**
 * Outputs whose stat cache file is at least this large (~50k files at ~115 bytes a row) are walked
 * with a second thread listing directories (below that, the thread starts too late to help).
 */
const PARALLEL_WALK_MIN_STORED_BYTES = 5_000_000;

/**
 * Hashes an output's files, reusing the stat cache so unchanged files are never read again.
 * With `store`, new bytes are copied into the cache in the same read pass.
 */
export async function scanWorkspace(repo: Repo, ctx: Context, dataAbs: string, dataRel: string, opts: ScanOptions): Promise<WorkspaceState> {
  let checkedAt = Date.now();
  let rootStat: Stats;
  let rootIsLink = false;
  try {
    rootStat = lstatSync(dataAbs);
    // A symlink to a file counts with its target's content (as in DVC); one to a directory is
    // never followed: there is nothing of the output's own in it.
    rootIsLink = rootStat.isSymbolicLink();
    if (rootIsLink) rootStat = statSync(dataAbs);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return emptyState(false);
    throw err;
  }
  const isDir = rootStat.isDirectory();
  if (!isDir && !rootStat.isFile()) {
    throw new RegError('scan.special-file', 'usage', `${dataRel} is neither a regular file nor a directory`, { hint: 'reg tracks files and directories only' });
  }
  const symlinkedDirs: string[] = [];
  const filesLinkedOutside: WorkspaceState['filesLinkedOutside'] = [];
  const linkTargetOutside = linkTargetOutsideOf(repo.root);
  const noteLinkedFile = (relpath: string, abs: string) => {
    const target = linkTargetOutside(abs);
    if (target === undefined) return;
    refuseKernelFile(abs, target);
    filesLinkedOutside.push({ relpath, target });
  };
  const staleTemps: string[] = [];
  // The last scan's size says whether a second thread pays for itself; started first, it is
  // listing the output's top directory while the stat cache loads.
  // Git checks the files of the last scan's mirror index meanwhile (then the second thread would only lstat them again).
  const gitAskable = isDir && !rootIsLink && !existsSync(join(repo.statDir, NSEC_GIT_MARKER));
  const oracle = gitAskable ? askGitWhatChanged(repo, dataRel, opts.legacy, opts.gitChecks) : undefined;
  // Git started before this scan: what it vouched for, it saw then (an earlier check time is the cautious one everywhere).
  if (oracle?.startedAt !== undefined) checkedAt = Math.min(checkedAt, oracle.startedAt);
  const walkIsLarge = oracle === undefined && isDir && !rootIsLink && StatCache.storedBytes(repo.statDir, dataRel, opts.legacy) >= PARALLEL_WALK_MIN_STORED_BYTES;
  const lister = walkIsLarge ? new DirLister() : undefined;
  lister?.post([dataAbs]);
  let statCache: StatCache;
  let walked: WalkedFile[] = [];
  let trusted: Trusted | undefined;
  let elided: ElidedWalk | undefined;
  try {
    statCache = StatCache.load(repo.statDir, dataRel, opts.legacy);
    if (oracle) {
      const reported = await oracle.reported;
      trusted = reported ? trustedFrom(statCache, oracle.gen, reported, dataRel) : undefined;
      if (trusted === undefined) ctx.progress({ type: 'log', level: 'debug', message: `${dataRel}: git could not check the mirror index; every file is lstat'ed` });
    }
    const ignored = isDir && !rootIsLink ? dvcIgnoreFor(repo.root, dataRel).ignored : undefined;
    // Git reporting most of the mirror is left to the walk, which tells whether git compares nanoseconds (noteNsecGit).
    if (opts.elideWalk && trusted !== undefined && ignored === undefined && trusted.reported.size <= trusted.mirrored / 2) {
      elided = elideWalk(statCache, oracle!.gen, trusted.reported, dataAbs, rootStat);
    }
    if (elided) {
      trusted!.used = statCache.rows() - elided.length;
    } else if (!isDir) {
      walked = [fileFromStats('', rootStat)];
      if (rootIsLink) noteLinkedFile('', dataAbs);
    }
    else if (rootIsLink) {
      walked = [];
      symlinkedDirs.push('');
    } else {
      walked = walkTree(dataAbs, {
        ignored,
        onSymlinkedDir: (rel) => symlinkedDirs.push(rel),
        onSymlinkedFile: noteLinkedFile,
        onTemp: (rel, mtimeMs) => {
          if (checkedAt - mtimeMs > STALE_TEMP_MS) staleTemps.push(rel);
        },
        ...(lister ? { lister } : {}),
        // Directories unchanged since the last scan are not read again (their entries are still lstat'ed).
        listings: statCache.dirListings(checkedAt),
        rootStats: rootStat,
        ...(trusted ? { trusted: countedTrust(trusted) } : {}),
      });
    }
  } finally {
    lister?.close();
  }
  const count = elided ? statCache.rows() : walked.length;
  if (trusted) ctx.progress({ type: 'log', level: 'debug', message: `${dataRel}: git found ${trusted.used} of ${count} files unchanged (not lstat'ed)${elided ? '; the directory listings were unchanged (not walked)' : ''}` });
  // The walked records serve as hash tasks (relpath below dataAbs, size): no per-file task object.
  const todo: WalkedFile[] = [];
  // Git reported most of the mirror: count the files it reported whose stat had not changed (see noteNsecGit).
  const doubted = trusted !== undefined && trusted.reported.size > trusted.mirrored / 2 ? trusted.reported : undefined;
  let reportedUnchanged = 0;
  // Rows kept out of the mirror only because they were checked in their files' second (as after a checkout) are checked again now.
  const refreshAt = gitAskable && count >= MIRROR_MIN_ENTRIES ? checkedAt : undefined;
  // A stat cache with no mirror index (from a reg before it, or the mirror deleted) gets one at this save.
  if (refreshAt !== undefined && oracle === undefined) statCache.rewriteForMirror();
  // A file whose stat the stat cache still knows gets its md5 from it; any other is hashed. One
  // function for the walked files and an elided walk's rows to check (made once, not per file).
  const settle = (f: WalkedFile, known: string | undefined): void => {
    if (known !== undefined && doubted?.has(f.relpath)) reportedUnchanged++;
    if (known !== undefined && (!opts.store || repo.cache.has(known, opts.legacy))) f.md5 = known;
    else todo.push(f);
  };
  // An elided walk looks up only the files git could not vouch for, each at its row (walked is empty then).
  if (elided) for (const { i, file } of elided) settle(file, statCache.lookupAt(i, file, refreshAt));
  for (const f of walked) settle(f, statCache.lookup(f, refreshAt));
  if (doubted !== undefined && trusted!.mirrored >= MIRROR_MIN_ENTRIES && reportedUnchanged > 0.9 * doubted.size) noteNsecGit(repo, ctx);
  const phase = 'hash';
  const totalBytes = todo.reduce((s, t) => s + t.size, 0);
  let storedObjects = 0;
  if (todo.length > 0) {
    if (opts.store) repo.cache.ensureRoot();
    ctx.progress({ type: 'start', phase, label: `${opts.store ? 'adding' : 'hashing'} ${dataRel}`, total: todo.length, totalBytes });
    try {
      const onResult = (r: HashOutcome, k: number) => {
        const f = todo[k]!;
        if ('error' in r) {
          const shown = f.relpath === '' ? dataRel : `${dataRel}/${f.relpath}`;
          // Out of space or a read-only disk while copying into the cache is the cache's disk, not the file.
          const writingCache = opts.store && (r.code === 'ENOSPC' || r.code === 'EDQUOT' || r.code === 'EROFS');
          const disk = diskError(Object.assign(new Error(r.error), { code: r.code }), writingCache ? `${repo.cache.root} (copying ${shown} into the cache)` : shown);
          if (disk) throw disk;
          throw new RegError('scan.read', 'failed', `cannot read ${shown}: ${r.error}`);
        }
        if (r.stored) storedObjects++;
        // The stat recorded is the one taken before hashing: a file changed meanwhile gets a new
        // mtime and is simply hashed again next time.
        f.md5 = r.md5;
        statCache.record(f, r.md5, checkedAt);
      };
      await hashEach(todo, onResult, {
        onProgress: (done, bytes) => ctx.progress({ type: 'advance', phase, done, bytes }),
        jobs: ctx.cores,
        signal: ctx.signal,
        shared: { legacy: opts.legacy, cacheRoot: opts.store ? repo.cache.root : undefined, root: dataAbs },
      });
    } finally {
      ctx.progress({ type: 'end', phase });
    }
  }
  // An elided walk's files are the rows (the same files, in the same order): made only if asked for.
  let files: Array<WalkedFile & { md5: string }> | undefined = elided ? undefined : (walked as Array<WalkedFile & { md5: string }>);
  const filesNow = () => (files ??= statCache.rowsAsFiles());
  const changedSince = isDir ? statCache.contentChangesSinceTree(count) : undefined;
  if (!elided) statCache.retainOnly(filesNow().map((f) => f.relpath));

  let size = 0;
  if (elided) size = statCache.totalSize();
  else for (const f of filesNow()) size += f.size;
  let oid: string | undefined;
  if (isDir) {
    // Valid also after re-hashing touched files whose bytes turned out unchanged (StatCache.record).
    const remembered = statCache.treeOid(count);
    const editedSincePointer =
      opts.oidOnlyIfUnedited === true && !opts.store && opts.pointerOid !== undefined && changedSince?.oid === opts.pointerOid && changedSince.modified.length > 0 && statCache.baseOid() === opts.pointerOid;
    if (remembered === undefined && editedSincePointer) oid = undefined;
    else {
      // WalkedFile has relpath and md5, so it serves as a manifest entry without a copy. Storing,
      // the manifest is hashed as it is written into the cache: serialised once.
      oid = remembered ?? (opts.store ? repo.cache.storeManifestOf(filesNow()) : manifestOidOf(filesNow()));
      statCache.rememberTree(oid, count);
    }
  } else {
    oid = filesNow()[0]!.md5;
  }
  const base = statCache.baseOid();
  if (oid !== undefined && (opts.store || oid === opts.pointerOid)) {
    statCache.setBase(oid);
    if (isDir) statCache.anchorChangesAt(oid, count);
  }
  saveStatCache(statCache, ctx, opts.store);
  return {
    exists: true,
    isDir,
    get files() {
      return filesNow();
    },
    ...(oid !== undefined ? { oid } : {}),
    size,
    nfiles: count,
    hashedFiles: todo.length,
    hashedBytes: totalBytes,
    filesCheckedByGit: trusted?.used ?? 0,
    walkElided: elided !== undefined,
    storedObjects,
    isexec: !isDir && (rootStat.mode & 0o111) !== 0,
    ...(base !== undefined ? { base } : {}),
    ...(changedSince !== undefined ? { changedSince } : {}),
    symlinkedDirs,
    filesLinkedOutside,
    staleTemps,
  };
}

interface Trusted {
  stats: (relpath: string) => ListedStats | undefined;
  mirrored: number;
  /** Relpaths (below the output) git reported. */
  reported: Set<string>;
  /** Files the walk took from `stats`. */
  used: number;
}

function countedTrust(t: Trusted): (relpath: string) => ListedStats | undefined {
  return (relpath) => {
    const st = t.stats(relpath);
    if (st !== undefined) t.used++;
    return st;
  };
}

/** Starts `git diff-files` on the output's mirror index, if it has one (and git is worth asking), or takes the run `early` started. */
function askGitWhatChanged(repo: Repo, dataRel: string, legacy: boolean, early: EarlyGitChecks | undefined): { gen: string; reported: Promise<string[] | undefined>; startedAt?: number } | undefined {
  const mirror = StatCache.mirrorIndexOf(repo.statDir, dataRel, legacy);
  if (mirror === undefined) return undefined;
  const started = early?.byMirror.get(mirror.file);
  if (started === undefined) return { gen: mirror.gen, reported: changedInIndexFile(repo.root, mirror.file) };
  early!.byMirror.delete(mirror.file);
  return { gen: mirror.gen, reported: started, startedAt: early!.startedAt };
}

/** A walk the stat cache's rows stand for: the rows git could not vouch for, each with its fresh lstat (a regular file). */
type ElidedWalk = Array<{ i: number; file: WalkedFile }>;

/**
 * The stored rows as the walk (StatCache.rowsAsWalk), if they stand for it and every file git
 * could not vouch for is still a regular file; else undefined, and nothing in the stat cache moved
 * but its walked listings, which the walk sets again.
 */
function elideWalk(statCache: StatCache, gen: string, reported: ReadonlySet<string>, dataAbs: string, rootStat: Stats): ElidedWalk | undefined {
  const dirStats = (prefix: string): DirStats | undefined => {
    if (prefix === '') return rootStat;
    const st = lstatSync(walkedPath(dataAbs, prefix.slice(0, -1)), { throwIfNoEntry: false });
    return st?.isDirectory() ? st : undefined;
  };
  try {
    const rows = statCache.rowsAsWalk(gen, reported, dirStats);
    if (rows === undefined) return undefined;
    const toCheck: ElidedWalk = [];
    for (const i of rows) {
      const relpath = statCache.pathAt(i);
      const st = lstatSync(walkedPath(dataAbs, relpath), { throwIfNoEntry: false });
      if (st === undefined || !st.isFile()) return undefined;
      toCheck.push({ i, file: fileFromStats(relpath, st) });
    }
    return toCheck;
  } catch {
    // A directory or file that cannot be lstat'ed: the walk reports it.
    return undefined;
  }
}

function trustedFrom(statCache: StatCache, gen: string, reportedPaths: readonly string[], dataRel: string): Trusted | undefined {
  const prefix = `${dataRel}/`;
  const reported = new Set<string>();
  for (const p of reportedPaths) if (p.startsWith(prefix)) reported.add(p.slice(prefix.length));
  const t = statCache.trustedStats(gen, reported);
  return t && { ...t, reported, used: 0 };
}

function noteNsecGit(repo: Repo, ctx: Context): void {
  ctx.progress({ type: 'log', level: 'debug', message: 'git reported most unchanged files of the mirror index as changed (it compares nanoseconds): it is not asked again' });
  try {
    regState(repo).writeFile(`tmp/stat/${NSEC_GIT_MARKER}`, 'git reported most unchanged files as changed (built with USE_NSEC?): reg status no longer asks it; delete this file to try again\n');
  } catch {
    // only a slower status next time
  }
}

function emptyState(exists: boolean): WorkspaceState {
  return { exists, isDir: false, files: [], size: 0, nfiles: 0, hashedFiles: 0, hashedBytes: 0, filesCheckedByGit: 0, walkElided: false, storedObjects: 0, isexec: false, symlinkedDirs: [], filesLinkedOutside: [], staleTemps: [] };
}

/**
 * The set of oids present in a cache root's `files/md5` (or legacy) layout, read with 256
 * readdirs instead of one stat per object.
 */
export function listCacheOids(cacheRoot: string, legacy = false): Set<string> {
  const base = legacy ? cacheRoot : join(cacheRoot, 'files', 'md5');
  const oids = new Set<string>();
  let prefixes: string[];
  try {
    prefixes = readdirSync(base);
  } catch {
    return oids;
  }
  for (const p of prefixes) {
    if (p.length !== 2) continue;
    let names: string[];
    try {
      names = readdirSync(join(base, p));
    } catch {
      continue;
    }
    // Temp files (`.regtmp-…`) and other dot files are not objects.
    for (const n of names) if (n.charCodeAt(0) !== 46 /* . */) oids.add(p + n);
  }
  return oids;
}

/**
 * For one scan: where the symlink `abs` finally leads, when that is outside the work tree at
 * `root`; undefined inside (or when either cannot be resolved). The root is realpath'ed at the
 * first link and kept for the rest, not once a link.
 */
/**
 * Files under /proc and /sys look regular, report a size of 0 or 4096, and read without end or
 * differently each time (`/proc/self/pagemap` yields hundreds of GiB): a link to one, force-added
 * by a commit, made `reg add` copy gigabytes into a cache temp file until the disk filled, and
 * `status` hash forever. They are never data. `target`: the link's resolved target.
 */
function refuseKernelFile(abs: string, target: string): void {
  if (!KERNEL_FILESYSTEMS.some((root) => target.startsWith(root))) return;
  throw usageError('add.kernel-file', `${abs} is a symlink to ${target}, a file the kernel makes up as it is read, not data`, {
    hint: 'remove the link (git rm --cached it if a commit brought it), then run the command again',
  });
}
const KERNEL_FILESYSTEMS = ['/proc/', '/sys/'];

function linkTargetOutsideOf(root: string): (abs: string) => string | undefined {
  let realRoot: string | undefined;
  return (abs) => {
    let target: string;
    try {
      target = realpathSync(abs);
      realRoot ??= realpathSync(root);
    } catch {
      return undefined;
    }
    return isAtOrBelow(target, realRoot) ? undefined : target;
  };
}
