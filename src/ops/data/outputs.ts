import { lstatSync, type Stats } from 'node:fs';
import { basename, join, posix, resolve } from 'node:path';
import { isLegacy, MAX_POINTER_BYTES, parsePointer, pointerTooLarge, type PointerOutput } from '../../data/pointer.js';
import type { Context } from '../../context.js';
import { configError, diskError, errnoCode, isMissingPath, isRegError, usageError, type RegError } from '../../errors.js';
import { areaOf, registryPolicy, type Area } from '../../policy/areas.js';
import { readFdUpTo, withFileNoFollowSync } from '../../fsutil.js';
import type { WorkTreeListing } from '../../git/read.js';
import { isDirectory, repoRelative, type Repo } from '../../repo.js';
import { workTree } from '../../workspace/safe-fs.js';

/** A data output as described by one entry of a `.dvc` pointer file's `outs`. */
export interface TrackedOutput {
  /** Repo-relative path of the `.dvc` file. */
  pointerRel: string;
  pointerAbs: string;
  /** Position in the pointer's `outs` (DVC 3 allows several outputs per file). */
  index: number;
  /** Repo-relative path of the data. */
  dataRel: string;
  dataAbs: string;
  out: PointerOutput;
  legacy: boolean;
  isDir: boolean;
  text: string;
}

export const POINTER_SUFFIX = '.dvc';

/**
 * Where a pointer's `path:` leads, checked without touching the disk: inside the repository, not
 * the repository root, not the directory holding the pointer itself, not a `.dvc` file, not into `.git` (at any
 * depth), `.reg`, `.dvc` or the cache. Returns the repo-relative data path, or throws exit 3
 * (`pointer.path-unsafe`, `pointer.path-internal`) naming the pointer file and line.
 */
export function pointerDataRel(pointerRel: string, path: string, at: string, isForbidden: (rel: string) => string | undefined): string {
  const hint = `fix the path in ${pointerRel} (it is relative to the pointer's directory), or remove the file: git rm ${pointerRel}`;
  const refuse = (code: string, why: string): RegError => configError(code, `${at}: path ${JSON.stringify(path)} ${why}`, { hint, details: { pointer: pointerRel, path } });
  if (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.includes('\0')) throw refuse('pointer.path-unsafe', 'is not a relative path');
  const dataRel = posix.normalize(posix.join(posix.dirname(pointerRel), path)).replace(/\/+$/, '');
  if (dataRel === '..' || dataRel.startsWith('../')) throw refuse('pointer.path-unsafe', 'leads outside the repository');
  if (dataRel === '.' || dataRel === '') throw refuse('pointer.path-unsafe', 'names the repository root');
  if (pointerRel.startsWith(dataRel + '/')) throw refuse('pointer.path-unsafe', `names ${dataRel}, a directory holding the pointer itself`);
  if (dataRel.endsWith(POINTER_SUFFIX)) throw refuse('pointer.path-unsafe', `names ${dataRel}, a pointer file`);
  const internal = isForbidden(dataRel);
  if (internal !== undefined) throw refuse('pointer.path-internal', `leads to ${dataRel}: ${internal}`);
  return dataRel;
}

/** Every output of one `.dvc` file, each `path:` validated (also against symlinks in the work tree). */
export function loadPointer(repo: Repo, pointerAbs: string): TrackedOutput[] {
  const pointerRel = repoRelative(repo, pointerAbs);
  return pointerTextOutputs(repo, pointerRel, pointerAbs, readPointerFile(pointerAbs, pointerRel));
}

/**
 * The text of a pointer file, read without following a symlink (a committed `x.dvc -> ~/.aws/credentials`
 * must not be read) and only from a regular file. ENOENT/ENOTDIR are thrown as they are (the
 * caller decides what a missing pointer means); anything else is a named error.
 */
export function readPointerFile(pointerAbs: string, pointerRel: string): string {
  return withPointerFile(pointerAbs, pointerRel, (fd, st) => readPointerFd(fd, pointerRel, st.size).toString('utf8'));
}

/** readPointerFile's bytes, or undefined when there is no file at `pointerAbs` (ENOENT/ENOTDIR). */
export function readPointerBytesIfAny(pointerAbs: string, pointerRel: string): Buffer | undefined {
  try {
    return withPointerFile(pointerAbs, pointerRel, (fd, st) => readPointerFd(fd, pointerRel, st.size));
  } catch (err) {
    if (isMissingPath(err)) return undefined;
    throw err;
  }
}

/** Throws readPointerFile's error when `pointerAbs` is a symlink, directory or device; nothing there, or a regular file, passes. */
export function assertPointerFile(pointerAbs: string, pointerRel: string): void {
  try {
    withPointerFile(pointerAbs, pointerRel, () => undefined);
  } catch (err) {
    if (!isMissingPath(err)) throw err;
  }
}

/** A pointer's bytes; one over 1 MiB is refused unread (pointer.too-large, exit 3). */
function readPointerFd(fd: number, pointerRel: string, size: number): Buffer {
  return readFdUpTo(fd, { maxBytes: MAX_POINTER_BYTES, tooBig: () => pointerTooLarge(pointerRel, pointerRel) }, size);
}

/** Opens a pointer file without following a symlink (or blocking on a FIFO), checks it is a regular file, then `use`s it. */
function withPointerFile<T>(pointerAbs: string, pointerRel: string, use: (fd: number, st: Stats) => T): T {
  const refuse = (what: string, code = 'pointer.unreadable') =>
    configError(code, `${pointerRel} ${what}`, {
      hint: `a pointer must be a regular file (YAML): remove ${pointerRel}, or restore it with git checkout -- ${pointerRel}`,
      details: { pointer: pointerRel },
    });
  try {
    return withFileNoFollowSync(pointerAbs, (fd, st) => {
      if (!st.isFile()) throw refuse('is not a regular file');
      return use(fd, st);
    });
  } catch (err) {
    if (isRegError(err) || isMissingPath(err)) throw err;
    if (errnoCode(err) === 'ELOOP') throw refuse('is a symbolic link: reg never reads pointers through symlinks', 'pointer.symlink');
    throw diskError(err, pointerAbs) ?? refuse(`cannot be read: ${(err as Error).message}`);
  }
}

/**
 * The outputs of pointer text meant for `pointerRel` (read from the work tree, or from a revision
 * that is about to be restored), each `path:` validated against the work tree as it is now.
 * `shownAs` names the text in errors.
 */
export function pointerTextOutputs(repo: Repo, pointerRel: string, pointerAbs: string, text: string, shownAs = pointerRel): TrackedOutput[] {
  const pointer = parsePointer(text, shownAs);
  const fs = workTree(repo);
  const forbidden = (rel: string) => fs.problem(rel)?.reason;
  return pointer.outs.map((out, index) => {
    const at = pointer.pathLocations?.[index] ?? shownAs;
    const dataRel = pointerDataRel(pointerRel, out.path, at, forbidden);
    const obstacle = fs.obstacleAbove(dataRel);
    if (obstacle?.symlink) {
      throw configError('pointer.path-symlink', `${at}: path ${JSON.stringify(out.path)} goes through ${obstacle.path}, a symbolic link`, {
        hint: `reg never reads or writes data through symlinks: replace ${obstacle.path} by a real directory, or remove ${pointerRel}`,
        details: { pointer: pointerRel, path: out.path, symlink: obstacle.path },
      });
    }
    const dataAbs = join(repo.root, ...dataRel.split('/'));
    return {
      pointerRel,
      pointerAbs,
      index,
      dataRel,
      dataAbs,
      out,
      legacy: isLegacy(out),
      isDir: out.md5 !== undefined ? out.md5.endsWith('.dir') : isDirectory(dataAbs),
      text,
    };
  });
}

/** A pointer file that could not be loaded (malformed or hostile), with the error that says why. */
export interface InvalidPointer {
  pointerRel: string;
  error: RegError;
}

/**
 * Every output of every `.dvc` pointer in the work tree (tracked or not, but not git-ignored; one
 * committed but deleted from the work tree has none).
 * A pointer file that fails to load is returned in `invalid` instead of failing the others.
 */
export async function scanOutputs(repo: Repo, listing?: Promise<WorkTreeListing | undefined>): Promise<{ outputs: TrackedOutput[]; invalid: InvalidPointer[] }> {
  const files = pointersListed(await listing) ?? (await repo.git.listFiles(`*${POINTER_SUFFIX}`));
  const outputs: TrackedOutput[] = [];
  const invalid: InvalidPointer[] = [];
  for (const f of files.filter((f) => f.endsWith(POINTER_SUFFIX) && !f.startsWith('.reg/') && !f.startsWith('.dvc/')).sort()) {
    try {
      outputs.push(...loadPointer(repo, join(repo.root, f)));
    } catch (err) {
      // Listed by git (committed) but deleted from the work tree: it has no outputs here, as git status shows it deleted.
      if (isMissingPath(err)) continue;
      if (!isRegError(err)) throw err;
      invalid.push({ pointerRel: f, error: err });
    }
  }
  return { outputs, invalid };
}

/**
 * The `.dvc` files of a listing of the index and the untracked files: what `git ls-files --cached
 * --others --exclude-standard -- '*.dvc'` prints (that pathspec's `*` matches `/` too), each once.
 * Undefined when an untracked directory may hold some (git is then asked for them the usual way).
 */
function pointersListed(listing: WorkTreeListing | undefined): string[] | undefined {
  if (listing === undefined || listing.untracked.some((path) => path.endsWith('/'))) return undefined;
  const files = new Set<string>();
  for (const e of listing.entries) if (e.path.endsWith(POINTER_SUFFIX)) files.add(e.path);
  for (const path of listing.untracked) if (path.endsWith(POINTER_SUFFIX)) files.add(path);
  return [...files];
}

/** Every output in the work tree; the first invalid pointer file is an error (exit 3, with its file and line). */
export async function allOutputs(repo: Repo, listing?: Promise<WorkTreeListing | undefined>): Promise<TrackedOutput[]> {
  const { outputs, invalid } = await scanOutputs(repo, listing);
  if (invalid.length > 0) throw invalid[0]!.error;
  return outputs;
}

/** What the command resolving targets will do with them: decides the hint for a target in a synced area. */
export type TargetPurpose = 'upload' | 'download' | 'inspect';

/**
 * Resolves command-line targets: a data path, its `.dvc` file, or a directory holding pointers
 * (every output below it). No targets means every output in the repository. An invalid pointer
 * file fails the command only when a target selects it; otherwise it is reported as a warning.
 */
export async function resolveOutputs(
  repo: Repo,
  ctx: Context,
  targets: readonly string[],
  purpose: TargetPurpose = 'inspect',
  listing?: Promise<WorkTreeListing | undefined>,
): Promise<TrackedOutput[]> {
  if (targets.length === 0) return allOutputs(repo, listing);
  const seen = new Map<string, TrackedOutput>();
  const add = (o: TrackedOutput) => seen.set(`${o.pointerRel}\0${o.index}`, o);
  let scanned: { outputs: TrackedOutput[]; invalid: InvalidPointer[] } | undefined;
  for (const target of targets) {
    const abs = resolve(ctx.cwd, target.replace(/\/+$/, '') || '/');
    const rel = repoRelative(repo, abs, target);
    const pointerAbs = abs.endsWith(POINTER_SUFFIX) ? abs : abs + POINTER_SUFFIX;
    const pointerStat = lstatSync(pointerAbs, { throwIfNoEntry: false });
    // Whatever is at x.dvc goes to loadPointer, which refuses anything but a regular file (a symlink is never
    // followed); only a target that names a directory itself (`foo.dvc/`) is taken as a directory of pointers.
    if (pointerStat !== undefined && (!pointerStat.isDirectory() || pointerAbs !== abs)) {
      for (const o of loadPointer(repo, pointerAbs)) add(o);
      continue;
    }
    const prefix = rel === '' ? '' : rel + '/';
    scanned ??= await scanOutputs(repo);
    const bad = scanned.invalid.find((b) => b.pointerRel.startsWith(prefix));
    if (bad) throw bad.error;
    const all = scanned.outputs;
    const under = all.filter((o) => o.dataRel.startsWith(prefix) || o.dataRel === rel);
    const containing = all.find((o) => rel.startsWith(o.dataRel + '/'));
    if (under.length === 0) {
      const unversioned = areaOf(registryPolicy(repo.config.data).areas, rel);
      if (unversioned && unversioned.area.mode !== 'versioned') throw unversionedTarget(target, rel, unversioned.area, purpose);
      const hint = containing
        ? `it is inside ${containing.dataRel}; name ${containing.dataRel} (or ${containing.pointerRel}) instead`
        : `track it first with \`reg add ${target}\``;
      throw usageError('target.not-tracked', `${target} is not tracked by reg (no ${basename(pointerAbs)} found)`, { hint });
    }
    for (const o of under) add(o);
  }
  for (const bad of scanned?.invalid ?? []) {
    ctx.progress({ type: 'log', level: 'warn', message: `skipped ${bad.pointerRel} (not selected): ${bad.error.message}` });
  }
  return [...seen.values()];
}

function unversionedTarget(target: string, rel: string, area: Area, purpose: TargetPurpose): RegError {
  if (area.mode === 'local') {
    return usageError('target.unversioned-area', `${target} is in the local area ${area.name}/, whose data never leaves this machine`, {
      hint: 'move the entry to a versioned area (reg add) or a synced area (reg sync push) to share it',
    });
  }
  const push = `reg sync push ${rel}`;
  const pull = `reg sync pull ${rel}`;
  const hint = purpose === 'upload' ? `upload it with: ${push}` : purpose === 'download' ? `download it with: ${pull}` : `see it in the overview (reg status), or compare with ${push} --dry-run / ${pull} --dry-run`;
  return usageError('target.unversioned-area', `${target} is in the synced area ${area.name}/: its data is mirrored with reg sync, not versioned by pointers`, { hint });
}
