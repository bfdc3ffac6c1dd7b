/**
 * Pure rules for names and '/'-separated relative paths read from outside (pointers, manifests,
 * remote listings) or chosen for new outputs. The filesystem side lives in
 * `src/workspace/safe-fs.ts`.
 */

/** C0 controls, DEL and C1 controls (newline, tab, ESC, NEL...). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlChar(s: string): boolean {
  return CONTROL.test(s);
}

/** `.git` in any letter case: Git's own directory (or a gitfile) in any repository, nested ones too. */
export function isGitName(segment: string): boolean {
  return segment.length === 4 && segment.toLowerCase() === '.git';
}

/** One path segment that names an entry in its directory: not empty, `.` or `..`, no `/` or NUL. */
export function isPlainSegment(segment: string): boolean {
  return segment !== '' && segment !== '.' && segment !== '..' && !segment.includes('/') && !segment.includes('\0');
}

/**
 * A relpath that stays inside its directory and out of Git's: no absolute path, no `..`, `.` or
 * empty segment, no NUL, no `.git` segment (any letter case).
 */
export function isSafeRelpath(p: string): boolean {
  // One regex instead of a split per path: manifests of 100k files are checked on every read.
  return !UNSAFE_RELPATH.test(p);
}

/** An empty, `.`, `..` or `.git` segment anywhere (which also covers '', a leading or trailing '/', '//'), or a NUL. */
const UNSAFE_RELPATH = /(?:^|\/)(?:\.{0,2}|\.[gG][iI][tT])(?:\/|$)|\0/;

/**
 * The first relpath among `relpaths` that is also a directory above another one (`a` with `a/b`):
 * such a list cannot be written out. Returns `[file, the path below it]`, or undefined.
 */
export function fileAndDirConflict(relpaths: ReadonlySet<string>): [string, string] | undefined {
  for (const relpath of relpaths) {
    for (let cut = relpath.indexOf('/'); cut !== -1; cut = relpath.indexOf('/', cut + 1)) {
      const dir = relpath.slice(0, cut);
      if (relpaths.has(dir)) return [dir, relpath];
    }
  }
  return undefined;
}
