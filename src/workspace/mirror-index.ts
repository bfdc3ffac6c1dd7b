import { gitIndexV2Parts } from '../data/git-index.js';
import { writeFileAtomicSync } from '../fsutil.js';

/**
 * The stat cache's rows as a Git index file (the "mirror"), so `git diff-files` can tell in C, on
 * several threads, which files changed since reg looked at them: a no-change status then lstats
 * only directories and the files git names (see docs/architecture.md, "Status with git's help").
 *
 * Soundness rests on whole seconds: a git built without USE_NSEC (Debian's, among others)
 * compares ctime and mtime to the second (plus ino, uid, gid, size and mode). A row goes in only
 * when both its times lie in a second strictly before the second of the scan that checked it
 * (less CLOCK_MARGIN_MS: the kernel stamps files from a coarse clock that may lag Date.now() by a
 * tick). Any write after that scan sets the file's ctime to that second or later, and ctime cannot
 * be set back, so git reports the file. A git built with USE_NSEC also compares the nanoseconds,
 * which the stat cache does not keep exactly: it reports every entry, and reg lstats them itself.
 */
const CLOCK_MARGIN_MS = 50;
/** Below this many rows, spawning git costs more than the lstats it saves. */
export const MIRROR_MIN_ENTRIES = 1000;
/**
 * Mode written for every entry: git (core.fileMode=true) reports an executable file, which reg
 * then lstats. A file git does not report is regular and not executable (and only its kind is
 * used of a file's mode inside a directory output: DVC keeps no exec bit there).
 */
export const MIRROR_MODE = 0o100644;

/** A row may be mirrored (see the module comment); empty files never are (git reports them all: it cannot match their oid). */
export function mirrorable(size: number, mtimeMs: number, ctimeMs: number, checkedAtMs: number): boolean {
  const checkedSecond = Math.floor((checkedAtMs - CLOCK_MARGIN_MS) / 1000);
  return size > 0 && Math.floor(mtimeMs / 1000) < checkedSecond && Math.floor(ctimeMs / 1000) < checkedSecond;
}

/** A stat-cache row goes into the mirror: a file of a directory output (the root's own row, relpath '', never does) that is mirrorable. */
function mirrorableRow(relpath: string, size: number, mtimeMs: number, ctimeMs: number, checkedAtMs: number): boolean {
  return relpath !== '' && mirrorable(size, mtimeMs, ctimeMs, checkedAtMs);
}

export interface MirrorRows {
  count: number;
  relpath(k: number): string;
  ino(k: number): number;
  size(k: number): number;
  mtimeMs(k: number): number;
  ctimeMs(k: number): number;
  checkedAtMs(k: number): number;
}

/**
 * Writes the mirror of `rows` (relpaths below `prefix`, the output's repo-relative path) to
 * `target` and says how many rows are mirrorable; nothing is written when that is too few to be
 * worth it (under MIRROR_MIN_ENTRIES), nor, with undefined, when there is no user id to write.
 * Not durable: a torn file makes git fail, and reg then lstats every file.
 */
export function writeMirrorIndex(target: string, prefix: string, rows: MirrorRows): number | undefined {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || gid === undefined) return undefined;
  // The positions of the rows mirrored.
  const kept: number[] = [];
  for (let k = 0; k < rows.count; k++) {
    if (mirrorableRow(rows.relpath(k), rows.size(k), rows.mtimeMs(k), rows.ctimeMs(k), rows.checkedAtMs(k))) kept.push(k);
  }
  if (kept.length < MIRROR_MIN_ENTRIES) return kept.length;
  const parts = gitIndexV2Parts({
    count: kept.length,
    prefix: `${prefix}/`,
    path: (k) => rows.relpath(kept[k]!),
    ctimeMs: (k) => rows.ctimeMs(kept[k]!),
    mtimeMs: (k) => rows.mtimeMs(kept[k]!),
    ino: (k) => rows.ino(kept[k]!),
    size: (k) => rows.size(kept[k]!),
    mode: () => MIRROR_MODE,
    uid: () => uid,
    gid: () => gid,
  });
  writeFileAtomicSync(target, parts, 0o666, false);
  return kept.length;
}
