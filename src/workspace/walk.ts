import { lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { RegError, errnoCode, usageError } from '../errors.js';
import { isTempName } from '../fsutil.js';
import { DirLister, FAILED, FIELDS, MISSING, type DirListing } from './dir-lister.js';

/**
 * A regular file found under an output directory, with the stat fields the stat cache keys on.
 * Its absolute path is not kept (`walkedPath(root, relpath)` makes it when needed): held for a
 * million files, it was a third of each record's memory.
 */
export interface WalkedFile {
  /** '/'-separated path below the walked directory; '' for a single-file output. */
  relpath: string;
  ino: number;
  size: number;
  /** Milliseconds with sub-ms fraction (number stats are ~2x cheaper to get than bigint ones). */
  mtimeMs: number;
  ctimeMs: number;
  /** Filled in once known (present from the start: a property added later costs each record a property store). */
  md5?: string | undefined;
  mode: number;
}

/** Directories DVC never descends into (plus reg's own). */
const SKIPPED_DIRS = new Set(['.git', '.hg', '.dvc', '.reg']);

export interface WalkOptions {
  /** Returns true for paths (relative to the walked dir, '/'-separated, dirs with trailing '/') to skip. */
  ignored?: (relpath: string) => boolean;
  /** Told about each symlink to a directory found (not descended into). */
  onSymlinkedDir?: (relpath: string) => void;
  /** Told about each symlink to a file found (listed with its target's stats and content). */
  onSymlinkedFile?: (relpath: string, abs: string) => void;
  /** Told about each reg temp file found (never listed as data), with its mtime. */
  onTemp?: (relpath: string, mtimeMs: number) => void;
  /** Lists directories ahead on a second thread (worth it from tens of thousands of files); the caller closes it. */
  lister?: DirLister;
  /** Directory listings remembered from an earlier walk: an unchanged directory is not read again. */
  listings?: DirListings;
  /** The walked directory's own stats, taken before the walk (without them its listing is not remembered). */
  rootStats?: DirStats;
  /** Stats of files known unchanged without an lstat (git checked them: StatCache.trustedStats); undefined: lstat it. */
  trusted?: (relpath: string) => EntryStats | undefined;
}

/** What tells whether a directory changed since it was listed (an entry added, removed or renamed moves its mtime and ctime). */
export type DirStats = Pick<Stats, 'ino' | 'mtimeMs' | 'ctimeMs'>;

/**
 * Directory listings kept between walks (as git's untracked cache keeps them), keyed by the
 * directory's relpath prefix ('' for the walked directory, 'a/b/' below it).
 */
export interface DirListings {
  /** The names `prefix` held when it was listed, '\n'-joined, if its stats (taken before this call) say it is unchanged since; else undefined. */
  known(prefix: string, st: DirStats): string | undefined;
  /** `prefix` (stats taken before it was listed) holds `names`; `joined` is what known() gave when they came from it. */
  listed(prefix: string, st: DirStats, names: readonly string[], joined: string | undefined): void;
}

/** The stat fields the walk uses: a Stats, or an entry listed by the DirLister's thread. */
export type EntryStats = Pick<Stats, 'ino' | 'size' | 'mtimeMs' | 'ctimeMs' | 'mode' | 'isDirectory' | 'isFile' | 'isSymbolicLink'>;

const S_IFMT = 0o170000;

/** An entry of a DirListing, or a file's stats as git confirmed them (no Dates built: the walk never reads them). */
export class ListedStats implements EntryStats {
  constructor(
    readonly mode: number,
    readonly ino: number,
    readonly size: number,
    readonly mtimeMs: number,
    readonly ctimeMs: number,
  ) {}
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === 0o040000;
  }
  isFile(): boolean {
    return (this.mode & S_IFMT) === 0o100000;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === 0o120000;
  }
}

export function fileFromStats(relpath: string, st: EntryStats): WalkedFile {
  return {
    relpath,
    ino: smallIntOrNumber(st.ino),
    size: smallIntOrNumber(st.size),
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    md5: undefined,
    mode: st.mode | 0,
  };
}

/**
 * `n` itself, made a small integer when it is one. Stat values come out of a Float64Array as
 * doubles: stored as such, each field of each record was a boxed number of its own (~16 bytes,
 * five a file, the largest part of a million-file walk's memory). Integers that fit 32 bits are
 * stored in the record; a larger inode or size still works, boxed.
 */
function smallIntOrNumber(n: number): number {
  return (n | 0) === n ? n | 0 : n;
}

/** The absolute path of a file walked below `root` (`root` itself for the '' of a single-file output). */
export function walkedPath(root: string, relpath: string): string {
  // Plain concatenation: path.join normalises, which costs more than the lstat at 100k files.
  return relpath === '' ? root : root + '/' + relpath;
}

/**
 * Lists every regular file below `dir` (symlinks to files are followed, symlinked directories are
 * not descended into, as in DVC; reg's temp files are never listed). Synchronous on purpose: for 100k files the per-call promise
 * overhead of fs/promises costs more than the syscalls.
 */
export function walkTree(dir: string, options: WalkOptions = {}): WalkedFile[] {
  const out: WalkedFile[] = [];
  const { lister, listings } = options;
  const visit = (absDir: string, prefix: string, dirStats: DirStats | undefined) => {
    const remembered = dirStats && listings ? listings.known(prefix, dirStats) : undefined;
    const listing = lister?.take(absDir);
    let names: string[];
    if (listing) names = listing.names;
    else if (remembered !== undefined) names = namesOf(remembered);
    else {
      try {
        names = readdirSync(absDir);
      } catch (err) {
        throw new RegError('walk.readdir', 'failed', `cannot read directory ${absDir}: ${(err as Error).message}`);
      }
    }
    if (dirStats && listings) listings.listed(prefix, dirStats, names, remembered);
    // With a helper thread, every entry is looked at first, so the subdirectories can be handed to it before descending.
    const known = lister ? statEntries(absDir, prefix, names, listing, lister, listings) : undefined;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const relpath = prefix + name;
      // Plain concatenation: path.join normalises, which costs more than the lstat at 100k files.
      const abs = absDir + '/' + name;
      if (name.includes('\uFFFD')) assertUtf8Name(absDir, name, abs);
      let st: EntryStats;
      try {
        const prefetched = known?.[k];
        if (prefetched instanceof Error) throw prefetched;
        st = prefetched ?? options.trusted?.(relpath) ?? lstatSync(abs);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue; // deleted while we walk
        throw err;
      }
      if (isTempName(name) && !st.isDirectory()) {
        options.onTemp?.(relpath, st.mtimeMs);
        continue;
      }
      if (st.isDirectory()) {
        if (SKIPPED_DIRS.has(name)) continue;
        if (options.ignored?.(relpath + '/')) continue;
        visit(abs, relpath + '/', st);
      } else if (st.isFile()) {
        if (name === '.git') continue;
        if (name === '.dvcignore') {
          throw usageError('add.dvcignore-inside', `${abs}: a .dvcignore file inside a tracked directory is not allowed (DVC refuses it too)`, {
            hint: 'move the patterns to the .dvcignore at the repository root',
          });
        }
        if (options.ignored?.(relpath)) continue;
        out.push(fileFromStats(relpath, st));
      } else if (st.isSymbolicLink()) {
        let target: Stats;
        try {
          target = statSync(abs);
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') {
            throw usageError('add.dangling-symlink', `${abs} is a symlink to a missing file`, { hint: 'remove the link or restore its target' });
          }
          if (errnoCode(err) === 'ELOOP') {
            throw usageError('add.symlink-loop', `${abs} is a symlink that leads back to itself (a loop of links)`, { hint: 'remove the link (git rm --cached it if a commit brought it), then run the command again' });
          }
          throw err;
        }
        // symlinks to files count with their target's content; symlinked directories are skipped, as in DVC
        if (target.isFile() && !options.ignored?.(relpath)) {
          out.push(fileFromStats(relpath, target));
          options.onSymlinkedFile?.(relpath, abs);
        }
        else if (target.isDirectory() && !options.ignored?.(relpath + '/')) options.onSymlinkedDir?.(relpath);
      }
      // FIFOs, sockets and devices are not data
    }
  };
  visit(dir, '', options.rootStats);
  return out;
}

/** The names of a remembered listing ('' is an empty directory). */
export function namesOf(joined: string): string[] {
  return joined === '' ? [] : joined.split('\n');
}

/**
 * The stats of a directory's entries (from the helper's listing, else lstat here; an lstat error
 * is kept for its entry, so errors surface in the same order as without a helper), and its
 * subdirectories posted to the helper.
 */
function statEntries(
  absDir: string,
  prefix: string,
  names: readonly string[],
  listing: DirListing | undefined,
  lister: DirLister,
  listings: DirListings | undefined,
): Array<EntryStats | Error> {
  const stats: Array<EntryStats | Error> = new Array(names.length);
  const subdirs: string[] = [];
  const subdirNames: Array<string | undefined> = [];
  for (let k = 0, o = 0; k < names.length; k++, o += FIELDS) {
    const abs = absDir + '/' + names[k]!;
    let st: EntryStats | Error;
    if (listing && listing.stats[o] !== FAILED) {
      const s = listing.stats;
      if (s[o] === MISSING) {
        st = Object.assign(new Error(`ENOENT: ${abs}`), { code: 'ENOENT' });
      } else st = new ListedStats(s[o]!, s[o + 1]!, s[o + 2]!, s[o + 3]!, s[o + 4]!);
    } else {
      try {
        st = lstatSync(abs);
      } catch (err) {
        st = err as Error;
      }
    }
    stats[k] = st;
    if (!(st instanceof Error) && st.isDirectory() && !SKIPPED_DIRS.has(names[k]!)) {
      subdirs.push(abs);
      subdirNames.push(listings?.known(prefix + names[k]! + '/', st));
    }
  }
  lister.post(subdirs, subdirNames);
  return stats;
}

function assertUtf8Name(absDir: string, name: string, abs: string): void {
  const raw = readdirSync(absDir, { encoding: 'buffer' });
  const bad = raw.find((b) => b.toString('utf8') === name && !Buffer.from(name, 'utf8').equals(b));
  if (bad) {
    throw usageError('add.non-utf8-name', `${abs.replace(/\uFFFD/g, '?')}: file name is not valid UTF-8 (bytes: ${bad.toString('hex')})`, {
      hint: 'rename the file to a UTF-8 name; pointer and manifest formats cannot represent other bytes',
    });
  }
}
