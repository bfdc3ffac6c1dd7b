import { lstatSync, mkdirSync, readdirSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { isGitName, isPlainSegment } from '../data/path-rules.js';
import { RegError, diskError, errnoCode } from '../errors.js';
import { removeStaleTemps, writeFileInPlaceSync } from '../fsutil.js';
import { makeDirsSync } from '../make-dirs.js';

export { isTempName, removeStaleTemps, tempPathFor } from '../fsutil.js';

/**
 * The one gateway for writes under the work tree (and under any output directory): a `SafeFs` is
 * rooted at a directory and takes '/'-separated paths relative to it. Before anything is written
 * or removed, every path component below the root is checked to be a real directory (lstat, never
 * followed), missing directories are created one at a time and checked again, and paths into
 * `.git` (at any depth) or into the forbidden subtrees (`.reg`, `.dvc`, the cache) are refused.
 *
 * Verified directories are remembered for the life of the object (one command), so the cost is
 * one lstat per directory, not per file. Files are written by temp + rename in their directory:
 * a symlink at the final component is replaced, never followed.
 *
 * Errors: `path.unsafe` / `path.forbidden` (exit 3: the path came from hostile or malformed
 * input), `path.symlink` / `path.not-a-directory` (exit 7: writing would go through a link or
 * destroy a file in the way).
 */
export class SafeFs {
  /** Root-relative directories known to be real directories ('' is the root). */
  private readonly dirs = new Set<string>(['']);
  private readonly forbidden: ReadonlySet<string>;

  /**
   * `forbidden`: root-relative paths nothing may be written at or below (compared case-insensitively).
   * `own`: the root is reg's own directory (`.reg/`), where nobody but reg puts anything: a symlink
   * or a file in the way was planted (by a commit) and is refused as hostile input (exit 3).
   */
  constructor(readonly root: string, forbidden: readonly string[] = [], private readonly own = false) {
    this.forbidden = new Set(forbidden.map((f) => f.toLowerCase()));
  }

  abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /** Why `rel` may not be written (syntax, `.git`, forbidden subtree), or undefined. Touches no disk. */
  problem(rel: string): PathProblem | undefined {
    return pathProblem(rel, this.forbidden);
  }

  private checkOne(rel: string, segment: string): void {
    if (isPlainSegment(segment) && !isGitName(segment) && rel.charCodeAt(0) !== 47 /* / */ && !(this.forbidden.size > 0 && this.forbidden.has(rel.toLowerCase()))) return;
    const p = this.problem(rel) ?? { code: 'path.unsafe', reason: 'it is not a plain relative path' };
    throw new RegError(p.code, 'config', `refusing to write ${JSON.stringify(rel)} under ${this.root}: ${p.reason}`, {
      hint: 'the path came from a pointer, manifest or listing that tries to leave its place; fix or remove that input',
      details: { path: rel, root: this.root },
    });
  }

  /**
   * Checks (and with `create`, makes) directory `rel`: true when it exists as a real directory,
   * false when it (or a parent) is missing and `create` is false. Throws on a symlink or a file.
   */
  private verifyDir(rel: string, create: boolean): boolean {
    if (this.dirs.has(rel)) return true;
    const cut = rel.lastIndexOf('/');
    this.checkOne(rel, rel.slice(cut + 1));
    if (!this.verifyDir(cut === -1 ? '' : rel.slice(0, cut), create)) return false;
    const abs = this.abs(rel);
    let st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) {
      if (!create) return false;
      try {
        mkdirSync(abs);
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw ioError(err, abs, 'create directory');
      }
      st = lstatSync(abs, { throwIfNoEntry: false }); // re-check what is there now
    }
    if (st?.isDirectory()) {
      this.dirs.add(rel);
      return true;
    }
    throw this.own ? plantedInReg(abs, st?.isSymbolicLink() ?? false) : inTheWay(rel, abs, st?.isSymbolicLink() ?? false);
  }

  /** True when directory `rel` exists as a real directory, false when it (or a parent) is missing; throws on a symlink or a file. */
  isDir(rel: string): boolean {
    return this.verifyDir(rel, false);
  }

  /** Makes directory `rel` (and its parents) exist as real directories; returns its absolute path. */
  ensureDir(rel: string): string {
    this.verifyDir(rel, true);
    return this.abs(rel);
  }

  /** The absolute path to write `rel` at (by temp + rename): its parent directories verified or created. */
  prepareWrite(rel: string): string {
    const cut = rel.lastIndexOf('/');
    this.checkOne(rel, rel.slice(cut + 1));
    this.verifyDir(cut === -1 ? '' : rel.slice(0, cut), true);
    return this.abs(rel);
  }

  /**
   * The absolute path of an existing `rel` to read or remove, its parents verified as real
   * directories; undefined when a parent is missing (so `rel` cannot exist).
   */
  existing(rel: string): string | undefined {
    const cut = rel.lastIndexOf('/');
    this.checkOne(rel, rel.slice(cut + 1));
    return this.verifyDir(cut === -1 ? '' : rel.slice(0, cut), false) ? this.abs(rel) : undefined;
  }

  /** The first directory above `rel` (root-relative) that is a symlink or not a directory; creates nothing. */
  obstacleAbove(rel: string): { path: string; symlink: boolean } | undefined {
    const cut = rel.lastIndexOf('/');
    if (cut === -1) return undefined;
    try {
      this.verifyDir(rel.slice(0, cut), false);
      return undefined;
    } catch (err) {
      if (err instanceof RegError && (err.code === 'path.symlink' || err.code === 'path.not-a-directory')) {
        return { path: (err.details as { path: string }).path, symlink: err.code === 'path.symlink' };
      }
      throw err;
    }
  }

  /** Atomic write of a whole file (temp + fsync + rename; `durable: false` skips the fsync, see writeFileInPlaceSync). */
  writeFile(rel: string, data: string | Buffer, mode = 0o666, durable = true): void {
    writeFileInPlaceSync(this.prepareWrite(rel), data, mode, durable);
  }

  /** Removes a file or symlink (never what a symlink points to); a missing one is fine. */
  remove(rel: string): void {
    const abs = this.existing(rel);
    if (abs === undefined) return;
    try {
      unlinkSync(abs);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw ioError(err, abs, 'remove');
    }
  }

  /** Removes `rel` whatever it is, recursively for directories, without following symlinks. */
  removeTree(rel: string): void {
    const abs = this.existing(rel);
    if (abs === undefined) return;
    rmSync(abs, { recursive: true, force: true });
    this.forget(rel);
  }

  /** Removes the directories in `dirs` (root-relative) that are empty, deepest first. */
  removeEmptyDirs(dirs: Iterable<string>): void {
    for (const d of [...new Set(dirs)].sort((a, b) => b.length - a.length)) {
      if (d === '') continue;
      const abs = this.existing(d);
      if (abs === undefined) continue;
      try {
        if (readdirSync(abs).length === 0) {
          rmdirSync(abs);
          this.forget(d);
        }
      } catch {
        // not a directory, not empty, or gone already
      }
    }
  }

  /** Removes stale temp files (older than an hour) directly in directory `rel`. */
  removeStaleTemps(rel: string): number {
    const abs = rel === '' ? this.root : this.existing(rel);
    return abs === undefined ? 0 : removeStaleTemps(abs);
  }

  /** Drops what is remembered about `rel` and below (after removing or replacing it). */
  forget(rel: string): void {
    if (rel === '') return;
    const prefix = rel + '/';
    for (const d of this.dirs) if (d === rel || d.startsWith(prefix)) this.dirs.delete(d);
  }
}

function inTheWay(rel: string, abs: string, symlink: boolean): RegError {
  if (symlink) {
    return new RegError('path.symlink', 'conflict', `${abs} is a symbolic link; reg never writes through symlinks`, {
      hint: `replace ${rel} by a real directory (or remove the link) and retry`,
      details: { path: rel, abs },
    });
  }
  return new RegError('path.not-a-directory', 'conflict', `${abs} is in the way: a directory is needed there`, {
    hint: `move ${rel} aside and retry`,
    details: { path: rel, abs },
  });
}

function plantedInReg(abs: string, symlink: boolean): RegError {
  return new RegError('repo.reg-entry-not-a-directory', 'config', `${abs} is ${symlink ? 'a symbolic link' : 'not a directory'}: reg keeps its own state in real directories under .reg/ and never writes through a link`, {
    hint: `remove it (git rm -r --cached ${abs.slice(abs.lastIndexOf('/.reg/') + 1)} if it was committed); reg re-creates what it needs`,
    details: { abs },
  });
}

/** A failure to `action` `abs`: a disk error when it is one (exit 1 with its fix), else fs.io naming the path. */
export function ioError(err: unknown, abs: string, action: string): RegError {
  return diskError(err, abs) ?? new RegError('fs.io', 'failed', `cannot ${action} ${abs}: ${(err as Error).message}`, { cause: err });
}

export interface PathProblem {
  code: 'path.unsafe' | 'path.forbidden';
  reason: string;
}

/**
 * Why root-relative `rel` may not be written, or undefined: not a plain '/'-separated relative
 * path, a `.git` segment at any depth, or at/below one of `forbidden` (lowercased root-relative
 * paths). Pure: used by SafeFs and wherever a path must be judged without a disk (history).
 */
export function pathProblem(rel: string, forbidden: ReadonlySet<string>): PathProblem | undefined {
  if (rel === '') return { code: 'path.unsafe', reason: 'it is the root directory itself' };
  if (rel.startsWith('/')) return { code: 'path.unsafe', reason: 'it is an absolute path' };
  const parts = rel.split('/');
  for (let i = 0; i < parts.length; i++) {
    const seg = parts[i]!;
    if (!isPlainSegment(seg)) return { code: 'path.unsafe', reason: `it has ${seg === '' ? 'an empty' : `a "${seg}"`} path segment` };
    if (isGitName(seg)) return { code: 'path.forbidden', reason: "it is inside Git's own directory" };
    if (forbidden.size > 0 && forbidden.has(parts.slice(0, i + 1).join('/').toLowerCase())) {
      return { code: 'path.forbidden', reason: `it is inside ${parts.slice(0, i + 1).join('/')}/, which belongs to reg or Git` };
    }
  }
  return undefined;
}

/** reg's and DVC's own directories at the top of a repository. */
export const RESERVED_IN_REPO: ReadonlySet<string> = new Set(['.reg', '.dvc']);

/** Root-relative paths under a repository that no data write may touch: reg's and DVC's directories and the cache. */
export function forbiddenInRepo(root: string, cacheRoot: string): string[] {
  const forbidden = [...RESERVED_IN_REPO];
  const cacheRel = relative(root, cacheRoot);
  if (cacheRel !== '' && isInside(cacheRel)) forbidden.push(cacheRel.split(sep).join('/'));
  return forbidden;
}

/** A `path.relative()` result that stays below its base. */
function isInside(rel: string): boolean {
  return rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel);
}

const perRepoState = new WeakMap<object, SafeFs>();

/**
 * The gateway for reg's own state under `.reg/` (stash records, `tmp/` caches and sync state):
 * every directory below `.reg/` is checked to be a real directory before a write, so a symlink
 * committed at `.reg/tmp` or `.reg/stash` (git add -f) cannot send the write elsewhere. `.reg`
 * itself is checked when the repository is opened.
 */
export function regState(repo: { regDir: string }): SafeFs {
  let fs = perRepoState.get(repo);
  if (!fs) {
    fs = new SafeFs(repo.regDir, [], true);
    perRepoState.set(repo, fs);
  }
  return fs;
}

/** The directories under `.reg/` that reg writes into on ordinary commands (checked when a repo is opened). */
export const REG_STATE_DIRS = ['tmp', 'tmp/stat', 'stash'] as const;

const perRepo = new WeakMap<object, SafeFs>();

/** The work-tree gateway of a repository, one per opened repo (that is, per command). */
export function workTree(repo: { root: string; cache: { root: string } }): SafeFs {
  let fs = perRepo.get(repo);
  if (!fs) {
    fs = new SafeFs(repo.root, forbiddenInRepo(repo.root, repo.cache.root));
    perRepo.set(repo, fs);
  }
  return fs;
}

/**
 * The gateway for a user-named output directory (`stash apply --to`, `-o` of get/export): inside
 * the work tree it is the work tree's gateway with the directory as a path prefix (so `.git`,
 * `.reg` and symlinks stay refused); elsewhere the directory itself (created if missing) is the
 * root, and nothing is written above it or through a symlink below it.
 */
export function outputTree(repo: { root: string; cache: { root: string } }, abs: string): { fs: SafeFs; prefix: string } {
  const rel = relative(repo.root, abs);
  if (rel === '') return { fs: workTree(repo), prefix: '' };
  if (isInside(rel)) {
    const inRepo = rel.split(sep).join('/');
    workTree(repo).ensureDir(inRepo);
    return { fs: workTree(repo), prefix: inRepo + '/' };
  }
  try {
    makeDirsSync(abs);
  } catch (err) {
    throw ioError(err, abs, 'create directory');
  }
  return { fs: new SafeFs(abs), prefix: '' };
}
