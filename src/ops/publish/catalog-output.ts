import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { RegError, usageError } from '../../errors.js';
import { writeFileAtomicSync } from '../../fsutil.js';
import { SITE_INDEX_FILE, SITE_INDEX_FORMAT } from '../../catalog/site.js';

/**
 * Where `reg catalog build` writes: the output directory is checked once (never inside a `.git`
 * directory or the repository's `.reg/`; an existing directory must be empty or hold a catalog
 * reg built), and every file is written through `SiteWriter`, the catalog's one write path.
 *
 * SiteWriter mirrors the confinement layer's API (writeFile / remove / removeEmptyDirs on
 * '/'-separated paths below a root, refusing `..`, absolute paths and symlinks on the way) so it
 * is replaced by src/workspace/safe-fs.ts in one line once that lands on main.
 */
export class SiteWriter {
  private readonly dirs = new Set<string>(['']);

  constructor(readonly root: string) {}

  private check(rel: string): void {
    const parts = rel.split('/');
    if (rel === '' || parts.some((p) => p === '' || p === '.' || p === '..' || p.toLowerCase() === '.git' || p.includes('\\') || p.includes('\0'))) {
      throw new RegError('path.unsafe', 'config', `refusing to write ${JSON.stringify(rel)} under ${this.root}: not a plain relative path`);
    }
  }

  /** Makes (with `create`) or checks directory `rel`: false when it does not exist; throws on a symlink or a file. */
  private ensureDir(rel: string, create = true): boolean {
    if (this.dirs.has(rel)) return true;
    const cut = rel.lastIndexOf('/');
    if (!this.ensureDir(cut === -1 ? '' : rel.slice(0, cut), create)) return false;
    const abs = join(this.root, ...rel.split('/'));
    let st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) {
      if (!create) return false;
      mkdirSync(abs);
      st = lstatSync(abs);
    }
    if (!st.isDirectory()) {
      throw new RegError(st.isSymbolicLink() ? 'path.symlink' : 'path.not-a-directory', 'conflict', `${abs} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; the catalog is never written through it`, { hint: `remove ${abs} and build again` });
    }
    this.dirs.add(rel);
    return true;
  }

  private parentExists(rel: string): boolean {
    const cut = rel.lastIndexOf('/');
    return this.ensureDir(cut === -1 ? '' : rel.slice(0, cut), false);
  }

  writeFile(rel: string, data: string | Buffer): void {
    this.check(rel);
    const cut = rel.lastIndexOf('/');
    this.ensureDir(cut === -1 ? '' : rel.slice(0, cut));
    writeFileAtomicSync(join(this.root, ...rel.split('/')), data, 0o644);
  }

  /** The current bytes of `rel`, or undefined (a symlink or a directory counts as absent). */
  read(rel: string): Buffer | undefined {
    this.check(rel);
    if (!this.parentExists(rel)) return undefined;
    const abs = join(this.root, ...rel.split('/'));
    const st = lstatSync(abs, { throwIfNoEntry: false });
    return st?.isFile() ? readFileSync(abs) : undefined;
  }

  remove(rel: string): void {
    this.check(rel);
    if (!this.parentExists(rel)) return;
    try {
      unlinkSync(join(this.root, ...rel.split('/')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  removeEmptyDirs(dirs: Iterable<string>): void {
    for (const d of [...new Set(dirs)].sort((a, b) => b.length - a.length)) {
      if (d === '') continue;
      this.check(d);
      if (!this.parentExists(d)) continue;
      const abs = join(this.root, ...d.split('/'));
      try {
        if (lstatSync(abs).isDirectory() && readdirSync(abs).length === 0) rmdirSync(abs);
      } catch {
        // gone already, or not empty
      }
    }
  }
}

/** The nearest existing ancestor of `abs`, resolved through symlinks, with the rest appended. */
function realish(abs: string): string {
  let dir = abs;
  const rest: string[] = [];
  while (!existsSync(dir)) {
    const parent = dirname(dir);
    if (parent === dir) break;
    rest.unshift(dir.slice(parent.length).replace(/^[\\/]+/, ''));
    dir = parent;
  }
  return join(realpathSync(dir), ...rest);
}

/**
 * Checks the output directory and returns the files a previous build left there (from its
 * `.reg-catalog.json`), so files no longer produced can be removed.
 */
export function checkOutputDir(repoRoot: string, regDir: string, outAbs: string): { previous: string[] } {
  const real = realish(resolve(outAbs));
  if (real.split(sep).some((p) => p.toLowerCase() === '.git')) {
    throw usageError('catalog.output-in-git', `the output directory ${outAbs} is inside a .git directory`, { hint: 'build the site somewhere else, e.g. -o site/' });
  }
  const realReg = realish(regDir);
  const relToReg = relative(realReg, real);
  if (relToReg === '' || (!relToReg.startsWith('..') && !relToReg.startsWith(sep) && !/^[A-Za-z]:/.test(relToReg))) {
    throw usageError('catalog.output-in-reg', `the output directory ${outAbs} is inside ${regDir}, which belongs to reg`, { hint: 'build the site somewhere else, e.g. -o site/' });
  }
  const relToRepo = relative(real, realish(repoRoot));
  if (relToRepo === '' || (!relToRepo.startsWith('..') && !relToRepo.startsWith(sep))) {
    throw usageError('catalog.output-is-repo', `the output directory ${outAbs} is the repository or contains it`, { hint: 'build the site into its own directory, e.g. -o site/' });
  }
  const st = lstatSync(real, { throwIfNoEntry: false });
  if (st === undefined) return { previous: [] };
  if (!st.isDirectory()) throw usageError('catalog.output-not-dir', `${outAbs} exists and is not a directory`, { hint: 'name a new or empty directory with -o' });
  const names = readdirSync(real);
  if (names.length === 0) return { previous: [] };
  if (!names.includes(SITE_INDEX_FILE)) {
    throw usageError('catalog.output-not-empty', `${outAbs} is not empty and holds no catalog built by reg (no ${SITE_INDEX_FILE})`, { hint: 'name a new or empty directory with -o; reg only replaces a catalog it built' });
  }
  try {
    const marker = JSON.parse(readFileSync(join(real, SITE_INDEX_FILE), 'utf8')) as { format?: unknown; files?: unknown };
    if (marker.format !== SITE_INDEX_FORMAT || marker.files === null || typeof marker.files !== 'object') return { previous: [] };
    return { previous: Object.keys(marker.files as Record<string, unknown>) };
  } catch {
    return { previous: [] };
  }
}
